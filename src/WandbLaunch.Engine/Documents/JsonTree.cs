using System.Collections;
using System.Collections.Specialized;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Documents;

/// <summary>Conversions between <see cref="JsonNode"/> trees, plain .NET values and text.</summary>
public static class JsonTree
{
    private static readonly JsonSerializerOptions Compact = new() { WriteIndented = false };
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>
    /// Converts dictionaries, lists and primitives into a JSON tree. Strings stay strings (they are never parsed).
    /// A value that contains itself, nests deeper than <see cref="DocumentLimits.MaxDepth"/> or holds more than
    /// <see cref="DocumentLimits.MaxNodes"/> values (shared parts counted each time they occur) is refused, as is
    /// a number that is not finite. <paramref name="unwrap"/> lets a caller turn its own wrappers (PowerShell's
    /// PSObject) into dictionaries, lists or primitives, one level at a time.
    /// </summary>
    public static JsonNode? FromObject(object? value, string errorId = "InvalidValue", string path = "", Func<object, object?>? unwrap = null) =>
        new ObjectConverter(errorId, unwrap).Convert(value, path, 0);

    private sealed class ObjectConverter(string errorId, Func<object, object?>? unwrap)
    {
        /// <summary>The containers on the path from the root to the value being converted, by reference.</summary>
        private readonly HashSet<object> _open = new(ReferenceEqualityComparer.Instance);
        private long _nodes;
        private long _chars;

        public JsonNode? Convert(object? given, string path, int depth)
        {
            if (++_nodes > DocumentLimits.MaxNodes || _chars > DocumentLimits.MaxCharacters)
            {
                throw new LaunchException("ValueTooLarge", LaunchErrorCategory.InvalidArgument,
                    $"The value holds more than {DocumentLimits.Format(DocumentLimits.MaxNodes)} entries or {DocumentLimits.Format(DocumentLimits.MaxCharacters)} characters of text (counting a part each time it occurs), reached at '{DocumentPath.Display(path)}'; that is the limit.",
                    DocumentPath.Display(path));
            }
            var value = given is not null && unwrap is not null ? unwrap(given) : given;
            switch (value)
            {
                case null:
                    return null;
                case JsonNode node:
                    return node.DeepClone();
                case string s:
                    _chars += s.Length;
                    return JsonValue.Create(s);
                case char c:
                    return JsonValue.Create(c.ToString());
                case bool b:
                    return JsonValue.Create(b);
                case byte or sbyte or short or ushort or int or uint or long:
                    return JsonValue.Create(System.Convert.ToInt64(value, CultureInfo.InvariantCulture));
                case ulong ul:
                    return JsonValue.Create(ul);
                case float or double:
                    var d = System.Convert.ToDouble(value, CultureInfo.InvariantCulture);
                    if (!double.IsFinite(d))
                    {
                        throw new LaunchException("NumberNotFinite", LaunchErrorCategory.InvalidArgument,
                            $"The value at '{DocumentPath.Display(path)}' is {d.ToString(CultureInfo.InvariantCulture)}; numbers must be finite (not NaN or an infinity).",
                            DocumentPath.Display(path));
                    }
                    return JsonValue.Create(d);
                case decimal m:
                    return JsonValue.Create(m);
                case Enum e:
                    return JsonValue.Create(e.ToString());
                case DateTime dt:
                    return JsonValue.Create(dt.ToUniversalTime().ToString("o", CultureInfo.InvariantCulture));
                case DateTimeOffset dto:
                    return JsonValue.Create(dto.ToUniversalTime().ToString("o", CultureInfo.InvariantCulture));
                case Guid g:
                    return JsonValue.Create(g.ToString());
                case IDictionary or IEnumerable:
                    return Container(given!, value, path, depth + 1);
                default:
                    throw LaunchException.Invalid(errorId,
                        $"The value at '{DocumentPath.Display(path)}' has type {value.GetType().FullName}, which cannot be stored. Use strings, numbers, booleans, hashtables and arrays.",
                        value);
            }
        }

        private JsonNode Container(object given, object value, string path, int depth)
        {
            if (_open.Contains(given) || _open.Contains(value))
            {
                throw new LaunchException("ValueReferencesItself", LaunchErrorCategory.InvalidArgument,
                    $"The value at '{DocumentPath.Display(path)}' is the hashtable or list that contains it, so it has no end; give a value without cycles.",
                    DocumentPath.Display(path));
            }
            if (depth > DocumentLimits.MaxDepth)
            {
                throw new LaunchException("ValueTooDeep", LaunchErrorCategory.InvalidArgument,
                    $"The value nests hashtables and lists more than {DocumentLimits.MaxDepth} levels deep (at '{DocumentPath.Display(path)}'); at most {DocumentLimits.MaxDepth} levels are allowed.",
                    DocumentPath.Display(path));
            }
            _open.Add(given);
            _open.Add(value);
            try
            {
                if (value is IDictionary dict)
                {
                    var obj = new JsonObject();
                    foreach (DictionaryEntry entry in dict)
                    {
                        var key = System.Convert.ToString(entry.Key, CultureInfo.InvariantCulture) ?? "";
                        _chars += key.Length;
                        obj[key] = Convert(entry.Value, DocumentPath.Key(path, key), depth);
                    }
                    return obj;
                }
                var arr = new JsonArray();
                var i = 0;
                foreach (var item in (IEnumerable)value)
                {
                    arr.Add(Convert(item, DocumentPath.Index(path, i++), depth));
                }
                return arr;
            }
            finally
            {
                _open.Remove(given);
                _open.Remove(value);
            }
        }
    }

    /// <summary>Converts a JSON tree into ordered dictionaries, object arrays and primitives (what PowerShell shows well).</summary>
    public static object? ToPlain(JsonNode? node)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonObject obj:
                var dict = new OrderedDictionary(StringComparer.OrdinalIgnoreCase);
                foreach (var (key, value) in obj) dict[key] = ToPlain(value);
                return dict;
            case JsonArray arr:
                return arr.Select(ToPlain).ToArray();
            case JsonValue value:
                return PlainValue(value);
            default:
                return node.ToJsonString();
        }
    }

    private static object? PlainValue(JsonValue value)
    {
        if (value.TryGetValue<JsonElement>(out var element))
        {
            return element.ValueKind switch
            {
                JsonValueKind.String => element.GetString(),
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                JsonValueKind.Number when element.TryGetInt64(out var l) => l,
                JsonValueKind.Number => element.GetDouble(),
                _ => null,
            };
        }
        if (value.TryGetValue<string>(out var s)) return s;
        if (value.TryGetValue<bool>(out var b)) return b;
        if (value.TryGetValue<long>(out var n)) return n;
        if (value.TryGetValue<int>(out var i)) return (long)i;
        if (value.TryGetValue<double>(out var d)) return d;
        if (value.TryGetValue<decimal>(out var m)) return m;
        return value.ToJsonString();
    }

    public static string ToJson(JsonNode? node, bool indented = false) =>
        node is null ? "null" : node.ToJsonString(indented ? Indented : Compact);

    public static JsonNode? ParseJson(string? json) => string.IsNullOrEmpty(json) ? null : JsonNode.Parse(json);

    /// <summary>The kind of a value as users read it in errors: string, integer, number, boolean, list, mapping, null.</summary>
    public static string KindOf(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject => "mapping",
        JsonArray => "list",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => "string",
            JsonValueKind.True or JsonValueKind.False => "boolean",
            JsonValueKind.Number => IsInteger(v) ? "integer" : "number",
            _ => "null",
        },
        _ => "value",
    };

    public static bool IsInteger(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && double.TryParse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d == Math.Floor(d) && !v.ToJsonString().Contains('.') && !v.ToJsonString().Contains('e', StringComparison.OrdinalIgnoreCase);

    public static bool TryGetNumber(JsonNode? node, out double number)
    {
        number = 0;
        return node is JsonValue v && v.GetValueKind() == JsonValueKind.Number &&
               double.TryParse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out number);
    }

    public static bool TryGetString(JsonNode? node, out string text)
    {
        text = "";
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.String)
        {
            text = v.GetValue<string>();
            return true;
        }
        return false;
    }

    /// <summary>A short rendering of a value for error messages.</summary>
    public static string Show(JsonNode? node)
    {
        var text = node is null ? "null" : node.ToJsonString(Compact);
        return text.Length <= 60 ? text : text[..57] + "...";
    }

    /// <summary>The mapping at <paramref name="key"/> of <paramref name="parent"/>, put there (replacing anything else) when there is none.</summary>
    public static JsonObject ObjectAt(JsonObject parent, string key)
    {
        if (parent[key] is JsonObject existing) return existing;
        var created = new JsonObject();
        parent[key] = created;
        return created;
    }

    /// <summary>The list at <paramref name="key"/> of <paramref name="parent"/>, put there (replacing anything else) when there is none.</summary>
    public static JsonArray ArrayAt(JsonObject parent, string key)
    {
        if (parent[key] is JsonArray existing) return existing;
        var created = new JsonArray();
        parent[key] = created;
        return created;
    }
}
