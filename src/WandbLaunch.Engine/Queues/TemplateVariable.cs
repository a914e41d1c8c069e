using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Queues;

/// <summary>
/// One queue config template variable and its JSON schema: <c>integer</c> or <c>number</c> with optional
/// <c>minimum</c>/<c>maximum</c>, or <c>string</c> with <c>enum</c>; optional <c>default</c> and <c>description</c>.
/// </summary>
public sealed partial class TemplateVariable
{
    private static readonly string[] Types = ["integer", "number", "string"];
    private static readonly string[] SchemaKeys = ["type", "minimum", "maximum", "enum", "default", "description"];

    private TemplateVariable(string name, string type)
    {
        Name = name;
        Type = type;
    }

    public string Name { get; }

    public string Type { get; }

    public double? Minimum { get; private init; }

    public double? Maximum { get; private init; }

    public IReadOnlyList<string>? Enum { get; private init; }

    public string? Description { get; private init; }

    /// <summary>The default value (typed), or null when the variable must be given with every push.</summary>
    public object? Default => JsonTree.ToPlain(DefaultNode);

    internal JsonNode? DefaultNode { get; private init; }

    public bool HasDefault => DefaultNode is not null;

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_\-]*$")]
    internal static partial Regex NamePattern();

    /// <summary>Reads and checks a variable's schema.</summary>
    public static TemplateVariable FromSchema(string name, JsonNode? schema)
    {
        if (!NamePattern().IsMatch(name))
        {
            throw Bad(name, $"'{name}' is not a valid template variable name: use letters, digits, '_' and '-', starting with a letter or '_'.");
        }
        if (schema is JsonValue && JsonTree.TryGetString(schema, out var shorthand))
        {
            schema = new JsonObject { ["type"] = shorthand };
        }
        if (schema is not JsonObject obj)
        {
            throw Bad(name, $"The schema of template variable '{name}' must be a mapping such as @{{ type = 'integer'; minimum = 1; maximum = 8 }}; it was {JsonTree.KindOf(schema)}.");
        }
        var unknown = obj.Select(p => p.Key).Where(k => !SchemaKeys.Contains(k)).ToList();
        if (unknown.Count > 0)
        {
            throw Bad(name, $"Template variable '{name}' has unknown schema key(s) {string.Join(", ", unknown.Select(k => $"'{k}'"))}. Allowed keys: {string.Join(", ", SchemaKeys)}.");
        }
        if (!JsonTree.TryGetString(obj["type"], out var type) || !Types.Contains(type))
        {
            throw Bad(name, $"Template variable '{name}' has type {JsonTree.Show(obj["type"])}; allowed types: {string.Join(", ", Types)}.");
        }
        double? min = null, max = null;
        IReadOnlyList<string>? values = null;
        if (type == "string")
        {
            if (obj.ContainsKey("minimum") || obj.ContainsKey("maximum"))
            {
                throw Bad(name, $"Template variable '{name}' is a string: 'minimum' and 'maximum' apply only to integer and number variables; use 'enum'.");
            }
            if (obj["enum"] is not JsonArray list || list.Count == 0 || !list.All(v => JsonTree.TryGetString(v, out _)))
            {
                throw Bad(name, $"String template variable '{name}' needs an 'enum': a non-empty list of the allowed strings.");
            }
            values = list.Select(v => v!.GetValue<string>()).ToList();
            if (values.Distinct(StringComparer.Ordinal).Count() != values.Count)
            {
                throw Bad(name, $"The 'enum' of template variable '{name}' lists a value twice.");
            }
        }
        else
        {
            if (obj.ContainsKey("enum"))
            {
                throw Bad(name, $"Template variable '{name}' is {type}: 'enum' applies only to string variables; use 'minimum' and 'maximum'.");
            }
            min = Bound(name, obj, "minimum", type);
            max = Bound(name, obj, "maximum", type);
            if (min > max)
            {
                throw Bad(name, $"Template variable '{name}' has minimum {min} greater than maximum {max}.");
            }
        }
        string? description = null;
        if (obj["description"] is { } d && !JsonTree.TryGetString(d, out description!))
        {
            throw Bad(name, $"The description of template variable '{name}' must be a string.");
        }
        var variable = new TemplateVariable(name, type) { Minimum = min, Maximum = max, Enum = values, Description = description };
        if (obj["default"] is { } def)
        {
            try
            {
                variable = new TemplateVariable(name, type)
                {
                    Minimum = min, Maximum = max, Enum = values, Description = description,
                    DefaultNode = variable.Coerce(def),
                };
            }
            catch (LaunchException e)
            {
                throw Bad(name, $"The default of template variable '{name}' is not allowed by its own schema: {e.Message}");
            }
        }
        return variable;
    }

    private static double? Bound(string name, JsonObject obj, string key, string type)
    {
        if (!obj.ContainsKey(key)) return null;
        if (!JsonTree.TryGetNumber(obj[key], out var value) || !double.IsFinite(value) || (type == "integer" && !JsonTree.IsInteger(obj[key])))
        {
            throw Bad(name, $"The '{key}' of {type} template variable '{name}' must be {(type == "integer" ? "an integer" : "a number")}; it was {JsonTree.Show(obj[key])}.");
        }
        return value;
    }

    private static LaunchException Bad(string name, string message) => LaunchException.Invalid("InvalidTemplateVariable", message, name);

    /// <summary>Checks a pushed value against the schema and returns it with the schema's type.</summary>
    public JsonNode Coerce(JsonNode? value)
    {
        switch (Type)
        {
            case "string":
                if (!JsonTree.TryGetString(value, out var s))
                {
                    if (value is JsonValue && JsonTree.TryGetNumber(value, out _)) s = value.ToJsonString();
                    else throw Rejected(value, $"must be one of: {string.Join(", ", Enum!)}");
                }
                if (!Enum!.Contains(s, StringComparer.Ordinal))
                {
                    throw Rejected(value, $"must be one of: {string.Join(", ", Enum!)}");
                }
                return JsonValue.Create(s);
            default:
                var number = ToNumber(value);
                var range = Minimum is null && Maximum is null ? "" :
                    $" from {Minimum?.ToString(CultureInfo.InvariantCulture) ?? "-∞"} to {Maximum?.ToString(CultureInfo.InvariantCulture) ?? "∞"}";
                // NaN and infinities ("NaN", "1e400") cannot be stored as JSON; integers beyond a long would be clamped.
                if (number is null || !double.IsFinite(number.Value) ||
                    (Type == "integer" && (number != Math.Floor(number.Value) || number < long.MinValue || number >= -(double)long.MinValue)))
                {
                    throw Rejected(value, $"must be {(Type == "integer" ? "an integer" : "a number")}{range}");
                }
                if (number < Minimum || number > Maximum)
                {
                    throw Rejected(value, $"must be {(Type == "integer" ? "an integer" : "a number")}{range}");
                }
                return Type == "integer" ? JsonValue.Create((long)number.Value) : JsonValue.Create(number.Value);
        }
    }

    private static double? ToNumber(JsonNode? value)
    {
        if (JsonTree.TryGetNumber(value, out var n)) return n;
        if (JsonTree.TryGetString(value, out var s) &&
            double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out n)) return n;
        return null;
    }

    private LaunchException Rejected(JsonNode? value, string rule) =>
        LaunchException.Invalid("InvalidTemplateValue", $"Template variable '{Name}' was given {JsonTree.Show(value)}; it {rule}.", Name);

    public JsonObject ToSchema()
    {
        var obj = new JsonObject { ["type"] = Type };
        if (Minimum is { } min) obj["minimum"] = Type == "integer" ? JsonValue.Create((long)min) : JsonValue.Create(min);
        if (Maximum is { } max) obj["maximum"] = Type == "integer" ? JsonValue.Create((long)max) : JsonValue.Create(max);
        if (Enum is { } values) obj["enum"] = new JsonArray(values.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
        if (DefaultNode is { } def) obj["default"] = def.DeepClone();
        if (Description is { } desc) obj["description"] = desc;
        return obj;
    }

    public override string ToString() => Type switch
    {
        "string" => $"{Name}: string [{string.Join("|", Enum!)}]{(HasDefault ? $" = {Default}" : "")}",
        _ => $"{Name}: {Type}{(Minimum is null && Maximum is null ? "" : $" [{Minimum?.ToString(CultureInfo.InvariantCulture)}..{Maximum?.ToString(CultureInfo.InvariantCulture)}]")}{(HasDefault ? $" = {Default}" : "")}",
    };
}
