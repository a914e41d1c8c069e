using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace WandbLaunch.Tests.Google;

/// <summary>
/// Checks a CustomJob create body against the vendored schema (vertex-customjob.schema.json) the way the service
/// does, answering its INVALID_ARGUMENT messages: unknown names, values of the wrong type, enum values it does not
/// know, required fields not set, both members of a oneof, too many environment variables, unsupported machine types.
/// </summary>
public static partial class VertexSchema
{
    private static readonly JsonObject Schema = Load();

    private static JsonObject Load()
    {
        using var stream = typeof(VertexSchema).Assembly.GetManifestResourceStream("vertex-customjob.schema.json")
                           ?? throw new InvalidOperationException("vertex-customjob.schema.json is not embedded");
        return (JsonObject)JsonNode.Parse(stream)!;
    }

    private static JsonObject Message(string name) => (JsonObject)Schema["messages"]![name]!;

    public static IReadOnlyList<string> Enum(string name) => ((JsonArray)Schema["enums"]![name]!).Select(v => (string)v!).ToList();

    /// <summary>Null when the body is acceptable; else the service's message.</summary>
    public static string? Problem(JsonObject body)
    {
        var errors = new List<string>();
        var unknown = Check(body, "CustomJob", "custom_job", errors);
        if (unknown is not null) return unknown;
        if (errors.Count > 0) return "List of found errors:\t" + string.Concat(errors.Select((e, i) => $"{i + 1}.{e}\t"));
        return null;
    }

    private static string Snake(string name) => string.Concat(name.Select(c => char.IsUpper(c) ? "_" + char.ToLowerInvariant(c) : c.ToString()));

    [GeneratedRegex("^[a-z][a-z0-9]*-[a-z0-9]+(-[a-z0-9]+)*$")]
    private static partial Regex MachineType();

    /// <summary>Returns a payload error (unknown name, bad value), which the service reports alone; adds field errors to <paramref name="errors"/>.</summary>
    private static string? Check(JsonObject node, string message, string path, List<string> errors)
    {
        var fields = Message(message);
        foreach (var (key, value) in node)
        {
            if (fields[key] is not JsonObject field) return $"Invalid JSON payload received. Unknown name \"{key}\" at '{path}': Cannot find field.";
            if (value is null || field["outputOnly"]?.GetValue<bool>() == true) continue;
            var fieldPath = $"{path}.{Snake(key)}";
            if (field["repeated"]?.GetValue<bool>() == true)
            {
                if (value is not JsonArray items) return $"Invalid value at '{fieldPath}' (repeated), {value.ToJsonString()}";
                if (field["maxItems"] is { } max && items.Count > max.GetValue<int>()) errors.Add($"Field: {fieldPath}; Message: at most {max} items are allowed.");
                for (var i = 0; i < items.Count; i++)
                {
                    if (ValueProblem(items[i], field, $"{fieldPath}[{i}]", errors) is { } problem) return problem;
                }
            }
            else if (ValueProblem(value, field, fieldPath, errors) is { } problem)
            {
                return problem;
            }
        }
        foreach (var (name, field) in fields)
        {
            if (field!["required"]?.GetValue<bool>() != true) continue;
            var value = node[name];
            var missing = value is null || (value is JsonValue v && v.TryGetValue<string>(out var s) && s.Length == 0) || value is JsonArray { Count: 0 };
            if (missing) errors.Add($"Field: {path}.{Snake(name)}; Message: Required field is not set.");
        }
        var oneofs = fields.Where(f => f.Value!["oneof"] is not null && node[f.Key] is not null).GroupBy(f => (string)f.Value!["oneof"]!);
        foreach (var group in oneofs.Where(g => g.Count() > 1))
        {
            errors.Add($"Field: {path}.{group.Key}; Message: only one of {string.Join(", ", group.Select(f => Snake(f.Key)))} may be set.");
        }
        if (message == "WorkerPoolSpec" && node["containerSpec"] is null && node["pythonPackageSpec"] is null && node.Count > 0)
        {
            errors.Add($"Field: {path}.task; Message: Required field is not set.");
        }
        if (message == "MachineSpec" && node["machineType"] is JsonValue type && type.TryGetValue<string>(out var machine) && !MachineType().IsMatch(machine))
        {
            errors.Add($"Field: {path}.machine_type; Message: Machine type \"{machine}\" is not supported.");
        }
        if (message == "CustomJob" && node["displayName"] is JsonValue display && display.TryGetValue<string>(out var text) && text.Length > 128)
        {
            errors.Add($"Field: {path}.display_name; Message: The display name may be up to 128 characters long.");
        }
        return null;
    }

    private static string? ValueProblem(JsonNode? value, JsonObject field, string path, List<string> errors)
    {
        if (value is null) return null;
        if (field["message"] is { } message)
        {
            if (value is not JsonObject obj) return $"Invalid value at '{path}' (type.googleapis.com/google.cloud.aiplatform.v1.{message}), {value.ToJsonString()}";
            return Check(obj, (string)message!, path, errors);
        }
        if (field["enum"] is { } enumName)
        {
            return value is JsonValue v && v.TryGetValue<string>(out var name) && Enum((string)enumName!).Contains(name)
                ? null
                : $"Invalid value at '{path}' (type.googleapis.com/google.cloud.aiplatform.v1.{enumName}), {value.ToJsonString()}";
        }
        var type = (string)field["type"]!;
        var ok = type switch
        {
            "string" => value is JsonValue s && s.TryGetValue<string>(out _),
            "bool" => value is JsonValue b && b.TryGetValue<bool>(out _),
            "int32" => value is JsonValue i && (i.TryGetValue<int>(out _) || (i.TryGetValue<string>(out var t) && int.TryParse(t, out _))),
            "int64" => value is JsonValue l && (l.TryGetValue<long>(out _) || (l.TryGetValue<string>(out var t) && long.TryParse(t, out _))),
            "duration" => value is JsonValue d && d.TryGetValue<string>(out var dur) && DurationPattern().IsMatch(dur),
            "map" => value is JsonObject m && m.All(p => p.Value is JsonValue pv && pv.TryGetValue<string>(out _)),
            "object" => value is JsonObject,
            _ => false,
        };
        return ok ? null : $"Invalid value at '{path}' (TYPE_{type.ToUpperInvariant()}), {value.ToJsonString()}";
    }

    [GeneratedRegex(@"^-?\d+(\.\d{1,9})?s$")]
    private static partial Regex DurationPattern();
}
