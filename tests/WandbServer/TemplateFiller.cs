using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace WandbLaunch.Tests.WandbServer;

/// <summary>
/// What W&B's server does with a queue's template variables at push: each value is checked against its schema
/// (type, enum, minimum, maximum), a missing one takes the schema's default, and "{{name}}" in the queue's
/// resource config is replaced (a string that is only "{{name}}" takes the value's own JSON type).
/// </summary>
internal static partial class TemplateFiller
{
    [GeneratedRegex(@"\{\{\s*([A-Za-z0-9_\-]+)\s*\}\}")]
    private static partial Regex Placeholder();

    public static Dictionary<string, JsonNode?> Values(JsonObject schemas, JsonObject? given)
    {
        var values = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        foreach (var (name, _) in given ?? [])
        {
            if (!schemas.ContainsKey(name)) throw StandInError.Invalid($"template variable {name} is not defined by the queue");
        }
        foreach (var (name, definition) in schemas)
        {
            var schema = definition?["schema"] as JsonObject ?? [];
            JsonNode? value;
            if (given is not null && given.TryGetPropertyValue(name, out var v)) value = v?.DeepClone();
            else if (schema["default"] is { } d) value = d.DeepClone();
            else throw StandInError.Invalid($"missing value for template variable {name}");
            Check(name, schema, value);
            values[name] = value;
        }
        return values;
    }

    private static void Check(string name, JsonObject schema, JsonNode? value)
    {
        var type = schema["type"]?.GetValue<string>();
        var ok = type switch
        {
            "string" => value is JsonValue s && s.TryGetValue<string>(out _),
            "integer" => value is JsonValue i && i.TryGetValue<double>(out var n) && n == Math.Floor(n),
            "number" => value is JsonValue f && f.TryGetValue<double>(out _),
            _ => true,
        };
        if (!ok) throw StandInError.Invalid($"template variable {name} must be of type {type}");
        if (schema["enum"] is JsonArray options && !options.Any(o => JsonNode.DeepEquals(o, value)))
            throw StandInError.Invalid($"template variable {name} must be one of {options.ToJsonString()}");
        if (value is JsonValue number && number.TryGetValue<double>(out var x))
        {
            if (schema["minimum"] is JsonValue min && x < min.GetValue<double>())
                throw StandInError.Invalid($"template variable {name} must be at least {min.ToJsonString()}");
            if (schema["maximum"] is JsonValue max && x > max.GetValue<double>())
                throw StandInError.Invalid($"template variable {name} must be at most {max.ToJsonString()}");
        }
    }

    public static JsonNode? Fill(JsonNode? node, IReadOnlyDictionary<string, JsonNode?> values) => node switch
    {
        JsonObject o => new JsonObject(o.Select(p => KeyValuePair.Create(p.Key, Fill(p.Value, values)))),
        JsonArray a => new JsonArray(a.Select(e => Fill(e, values)).ToArray()),
        JsonValue s when s.TryGetValue<string>(out var text) => FillText(text, values),
        _ => node?.DeepClone(),
    };

    private static JsonNode? FillText(string text, IReadOnlyDictionary<string, JsonNode?> values)
    {
        var whole = Placeholder().Match(text);
        if (whole.Success && whole.Length == text.Length && values.TryGetValue(whole.Groups[1].Value, out var typed))
            return typed?.DeepClone();
        return JsonValue.Create(Placeholder().Replace(text, m =>
            values.TryGetValue(m.Groups[1].Value, out var v) ? AsText(v) : m.Value));
    }

    private static string AsText(JsonNode? value) => value switch
    {
        JsonValue s when s.TryGetValue<string>(out var text) => text,
        JsonValue n when n.TryGetValue<double>(out var d) => d.ToString(CultureInfo.InvariantCulture),
        null => "",
        _ => value.ToJsonString(),
    };

    /// <summary>Deep merge: objects merge key by key, anything else in <paramref name="over"/> wins.</summary>
    public static JsonNode? Merge(JsonNode? under, JsonNode? over)
    {
        if (under is JsonObject u && over is JsonObject o)
        {
            var merged = (JsonObject)u.DeepClone();
            foreach (var (key, value) in o) merged[key] = Merge(merged[key], value);
            return merged;
        }
        return (over ?? under)?.DeepClone();
    }
}
