using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace WandbLaunch.Tests.KubeApi;

/// <summary>A resource type the server serves: group (empty for core), version, plural and kind.</summary>
public sealed record ApiResource(string Group, string Version, string Plural, string Kind)
{
    public static readonly ApiResource Pods = new("", "v1", "pods", "Pod");
    public static readonly ApiResource Secrets = new("", "v1", "secrets", "Secret");
    public static readonly ApiResource ConfigMaps = new("", "v1", "configmaps", "ConfigMap");
    public static readonly ApiResource Jobs = new("batch", "v1", "jobs", "Job");
    public static readonly ApiResource Services = new("", "v1", "services", "Service");
    public static readonly ApiResource Endpoints = new("", "v1", "endpoints", "Endpoints");
    public static readonly ApiResource PersistentVolumeClaims = new("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim");
    public static readonly ApiResource Deployments = new("apps", "v1", "deployments", "Deployment");
    public static readonly ApiResource StatefulSets = new("apps", "v1", "statefulsets", "StatefulSet");
    public static readonly ApiResource NetworkPolicies = new("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy");

    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    /// <summary>As RBAC and error messages name it: jobs.batch, pods.</summary>
    public string QualifiedName => Group.Length == 0 ? Plural : $"{Plural}.{Group}";

    public string ListKind => Kind + "List";
}

/// <summary>An API error, answered with a Status object as a real API server does.</summary>
public sealed class ApiError(int code, string reason, string message, JsonObject? details = null) : Exception(message)
{
    public int Code { get; } = code;

    public string Reason { get; } = reason;

    public JsonObject ToStatus()
    {
        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = Message,
            ["reason"] = Reason,
        };
        if (details is not null) status["details"] = details.DeepClone();
        status["code"] = Code;
        return status;
    }

    public static ApiError NotFound(ApiResource resource, string name) =>
        new(404, "NotFound", $"{resource.QualifiedName} \"{name}\" not found", Details(resource, name));

    public static ApiError AlreadyExists(ApiResource resource, string name) =>
        new(409, "AlreadyExists", $"{resource.QualifiedName} \"{name}\" already exists", Details(resource, name));

    public static ApiError BadRequest(string message) => new(400, "BadRequest", message);

    public static ApiError Invalid(ApiResource resource, string name, IReadOnlyList<(string Field, string Reason, string Message)> causes) =>
        new(422, "Invalid",
            $"{resource.Kind}{(resource.Group.Length == 0 ? "" : "." + resource.Group)} \"{name}\" is invalid: " +
            string.Join(", ", causes.Select(c => $"{c.Field}: {c.Message}")),
            new JsonObject
            {
                ["name"] = name,
                ["group"] = resource.Group,
                ["kind"] = resource.Kind,
                ["causes"] = new JsonArray(causes.Select(c => (JsonNode?)new JsonObject
                {
                    ["reason"] = c.Reason,
                    ["message"] = c.Message,
                    ["field"] = c.Field,
                }).ToArray()),
            });

    private static JsonObject Details(ApiResource resource, string name) =>
        new() { ["name"] = name, ["group"] = resource.Group, ["kind"] = resource.Plural };
}

/// <summary>Label selectors (equality and existence: a=b, a==b, a!=b, a, !a, comma-separated) and field selectors (metadata.name, metadata.namespace).</summary>
public static partial class Selectors
{
    [GeneratedRegex(@"^(?<not>!)?(?<key>[A-Za-z0-9._/-]+)\s*(?:(?<op>==|=|!=)\s*(?<value>[A-Za-z0-9._-]*))?$")]
    private static partial Regex Requirement();

    public static Func<JsonObject, bool> Labels(string? selector)
    {
        if (string.IsNullOrWhiteSpace(selector)) return _ => true;
        var tests = new List<Func<IReadOnlyDictionary<string, string>, bool>>();
        foreach (var part in selector.Split(',', StringSplitOptions.TrimEntries))
        {
            var match = Requirement().Match(part);
            if (!match.Success) throw ApiError.BadRequest($"unable to parse requirement: {part}");
            var key = match.Groups["key"].Value;
            var value = match.Groups["value"].Value;
            if (match.Groups["not"].Success)
            {
                if (match.Groups["op"].Success) throw ApiError.BadRequest($"unable to parse requirement: {part}");
                tests.Add(labels => !labels.ContainsKey(key));
            }
            else if (!match.Groups["op"].Success) tests.Add(labels => labels.ContainsKey(key));
            else if (match.Groups["op"].Value == "!=") tests.Add(labels => !labels.TryGetValue(key, out var v) || v != value);
            else tests.Add(labels => labels.TryGetValue(key, out var v) && v == value);
        }
        return obj =>
        {
            var labels = LabelsOf(obj);
            return tests.All(t => t(labels));
        };
    }

    public static Func<JsonObject, bool> Fields(string? selector)
    {
        if (string.IsNullOrWhiteSpace(selector)) return _ => true;
        var tests = new List<Func<JsonObject, bool>>();
        foreach (var part in selector.Split(',', StringSplitOptions.TrimEntries))
        {
            var negate = part.Contains("!=", StringComparison.Ordinal);
            var pieces = part.Split(negate ? "!=" : part.Contains("==", StringComparison.Ordinal) ? "==" : "=", 2);
            if (pieces.Length != 2) throw ApiError.BadRequest($"invalid selector: '{selector}'; can't understand '{part}'");
            var (field, value) = (pieces[0].Trim(), pieces[1].Trim());
            Func<JsonObject, string?> read = field switch
            {
                "metadata.name" => o => o["metadata"]?["name"]?.GetValue<string>(),
                "metadata.namespace" => o => o["metadata"]?["namespace"]?.GetValue<string>(),
                _ => throw ApiError.BadRequest($"field label not supported: {field}"),
            };
            tests.Add(o => (read(o) == value) != negate);
        }
        return o => tests.All(t => t(o));
    }

    public static IReadOnlyDictionary<string, string> LabelsOf(JsonObject obj) =>
        (obj["metadata"]?["labels"] as JsonObject)?.ToDictionary(p => p.Key, p => p.Value?.GetValue<string>() ?? "") ?? new Dictionary<string, string>();
}

/// <summary>A request the server received, for tests to assert on.</summary>
public sealed record RecordedRequest(string Method, string Path, string Query, int Status);

/// <summary>A delete the server carried out, with the propagation policy it was asked for.</summary>
public sealed record RecordedDeletion(string Resource, string Namespace, string Name, string? PropagationPolicy);
