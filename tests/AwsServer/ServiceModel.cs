using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace WandbLaunch.Tests.Aws;

/// <summary>
/// A botocore service model (models/&lt;service&gt;.json) and the checks AWS makes of a JSON request against it:
/// required members, member types, string length and pattern, enums, list and map sizes, number ranges, and no
/// members the shape does not have. Errors are worded as AWS's validation layer words them
/// ("Value null at 'roleArn' failed to satisfy constraint: Member must not be null").
/// </summary>
public sealed class ServiceModel
{
    private readonly JsonObject _shapes;
    private readonly JsonObject _operations;
    private readonly Dictionary<string, Regex?> _patterns = new(StringComparer.Ordinal);

    private ServiceModel(JsonObject model)
    {
        _shapes = (JsonObject)model["shapes"]!;
        _operations = (JsonObject)model["operations"]!;
        Metadata = (JsonObject)model["metadata"]!;
    }

    public JsonObject Metadata { get; }

    public static ServiceModel Load(string service)
    {
        using var stream = typeof(ServiceModel).Assembly.GetManifestResourceStream($"models.{service}.json")
                           ?? throw new InvalidOperationException($"no model for {service}");
        return new ServiceModel((JsonObject)JsonNode.Parse(stream)!);
    }

    public bool HasOperation(string operation) => _operations.ContainsKey(operation);

    /// <summary>A request member's type is wrong: AWS answers SerializationException rather than a validation error.</summary>
    public class SerializationError(string message) : Exception(message);

    /// <summary>A member the shape does not have.</summary>
    public sealed class UnknownMemberError(string message) : SerializationError(message);

    /// <summary>The validation errors of <paramref name="input"/> for <paramref name="operation"/>; empty when it is valid.</summary>
    public IReadOnlyList<string> Validate(string operation, JsonObject input)
    {
        var errors = new List<string>();
        var inputShape = _operations[operation]!["input"]?["shape"]?.GetValue<string>();
        if (inputShape is not null) Check(inputShape, input, "", errors);
        return errors;
    }

    /// <summary>Members of the input shape that it does not have (botocore: "Unknown parameter in input").</summary>
    public IReadOnlyList<string> InputMembers(string operation) =>
        ((JsonObject)_shapes[_operations[operation]!["input"]!["shape"]!.GetValue<string>()]!["members"]!).Select(p => p.Key).ToList();

    private static string Path(string parent, string member) =>
        (parent.Length == 0 ? "" : parent + ".") + char.ToLowerInvariant(member[0]) + member[1..];

    private static string Show(JsonNode? value) => value switch
    {
        null => "null",
        JsonValue v when v.TryGetValue<string>(out var s) => $"'{s}'",
        JsonValue v => $"'{v.ToJsonString()}'",
        _ => $"'{value.ToJsonString()}'",
    };

    private void Check(string shapeName, JsonNode? value, string path, List<string> errors)
    {
        var shape = (JsonObject)_shapes[shapeName]!;
        var type = shape["type"]!.GetValue<string>();
        if (value is null) return;
        switch (type)
        {
            case "structure":
                if (value is not JsonObject obj) throw new SerializationError($"Expected a structure at '{path}'.");
                var members = (JsonObject)shape["members"]!;
                foreach (var (name, _) in obj)
                {
                    if (!members.ContainsKey(name))
                    {
                        throw new UnknownMemberError(
                            $"Unknown parameter in input{(path.Length == 0 ? "" : " at " + path)}: \"{name}\", must be one of: {string.Join(", ", members.Select(m => m.Key))}");
                    }
                }
                foreach (var required in (shape["required"] as JsonArray ?? []).Select(r => r!.GetValue<string>()))
                {
                    if (obj[required] is null) errors.Add($"Value null at '{Path(path, required)}' failed to satisfy constraint: Member must not be null");
                }
                foreach (var (name, member) in members)
                {
                    if (obj[name] is { } memberValue) Check(member!["shape"]!.GetValue<string>(), memberValue, Path(path, name), errors);
                }
                break;
            case "list":
                if (value is not JsonArray list) throw new SerializationError($"Expected a list at '{path}'.");
                Size(shape, list.Count, value, path, errors);
                for (var i = 0; i < list.Count; i++) Check(shape["member"]!["shape"]!.GetValue<string>(), list[i], $"{path}.{i + 1}.member", errors);
                break;
            case "map":
                if (value is not JsonObject map) throw new SerializationError($"Expected a map at '{path}'.");
                Size(shape, map.Count, value, path, errors);
                foreach (var (key, item) in map)
                {
                    Check(shape["key"]!["shape"]!.GetValue<string>(), JsonValue.Create(key), $"{path}.{key}.key", errors);
                    Check(shape["value"]!["shape"]!.GetValue<string>(), item, $"{path}.{key}.value", errors);
                }
                break;
            case "string":
                if (value is not JsonValue sv || !sv.TryGetValue<string>(out var text)) throw new SerializationError($"Expected a string at '{path}'.");
                if (shape["enum"] is JsonArray values && !values.Any(e => e!.GetValue<string>() == text))
                {
                    errors.Add($"Value {Show(value)} at '{path}' failed to satisfy constraint: Member must satisfy enum value set: [{string.Join(", ", values.Select(e => e!.GetValue<string>()))}]");
                    break;
                }
                Size(shape, text.Length, value, path, errors, "length");
                if (shape["pattern"]?.GetValue<string>() is { } pattern && PatternOf(pattern) is { } regex && !regex.IsMatch(text))
                {
                    errors.Add($"Value {Show(value)} at '{path}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}");
                }
                break;
            case "integer" or "long" or "float" or "double":
                if (value is not JsonValue nv || !nv.TryGetValue<double>(out var number)) throw new SerializationError($"Expected a number at '{path}'.");
                if (type is "integer" or "long" && number != Math.Floor(number)) throw new SerializationError($"Expected an integer at '{path}'.");
                if (shape["min"] is { } min && number < min.GetValue<double>())
                {
                    errors.Add($"Value {Show(value)} at '{path}' failed to satisfy constraint: Member must have value greater than or equal to {min.ToJsonString()}");
                }
                if (shape["max"] is { } max && number > max.GetValue<double>())
                {
                    errors.Add($"Value {Show(value)} at '{path}' failed to satisfy constraint: Member must have value less than or equal to {max.ToJsonString()}");
                }
                break;
            case "boolean":
                if (value is not JsonValue bv || !bv.TryGetValue<bool>(out _)) throw new SerializationError($"Expected a boolean at '{path}'.");
                break;
            case "timestamp":
                if (value is not JsonValue tv || !(tv.TryGetValue<double>(out _) || tv.TryGetValue<string>(out var ts) && DateTimeOffset.TryParse(ts, CultureInfo.InvariantCulture, out _)))
                {
                    throw new SerializationError($"Expected a timestamp at '{path}'.");
                }
                break;
        }
    }

    private static void Size(JsonObject shape, int size, JsonNode value, string path, List<string> errors, string what = "length")
    {
        if (shape["min"] is { } min && size < min.GetValue<int>())
        {
            errors.Add($"Value {Show(value)} at '{path}' failed to satisfy constraint: Member must have {what} greater than or equal to {min.GetValue<int>()}");
        }
        if (shape["max"] is { } max && size > max.GetValue<int>())
        {
            errors.Add($"Value {Show(value)} at '{path}' failed to satisfy constraint: Member must have {what} less than or equal to {max.GetValue<int>()}");
        }
    }

    /// <summary>The model's pattern as AWS applies it (Java's <c>matches</c>: the whole value); null where .NET cannot read it.</summary>
    private Regex? PatternOf(string pattern)
    {
        lock (_patterns)
        {
            if (_patterns.TryGetValue(pattern, out var regex)) return regex;
            try
            {
                regex = new Regex($"^(?:{pattern.Replace(@"\p{Alnum}", "[A-Za-z0-9]", StringComparison.Ordinal)})$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException)
            {
                regex = null;
            }
            _patterns[pattern] = regex;
            return regex;
        }
    }

    /// <summary>AWS's summary of validation errors: "N validation error(s) detected: a; b".</summary>
    public static string Summary(IReadOnlyList<string> errors) =>
        $"{errors.Count} validation error{(errors.Count == 1 ? "" : "s")} detected: {string.Join("; ", errors)}";
}
