using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace WandbLaunch.Tests.KubeApi;

/// <summary>The field checks the server makes on create, with Kubernetes' messages and field paths.</summary>
internal static partial class Validation
{
    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Subdomain();

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex DnsLabel();

    [GeneratedRegex(@"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")]
    private static partial Regex LabelValue();

    [GeneratedRegex(@"^[-._a-zA-Z][-._a-zA-Z0-9]*$")]
    private static partial Regex EnvName();

    public sealed class Causes : List<(string Field, string Reason, string Message)>
    {
        public void Required(string field, string? detail = null) => Add((field, "FieldValueRequired", "Required value" + (detail is null ? "" : ": " + detail)));

        public void Bad(string field, JsonNode? value, string detail) => Add((field, "FieldValueInvalid", $"Invalid value: {value?.ToJsonString() ?? "null"}: {detail}"));

        public void Unsupported(string field, JsonNode? value, string supported) => Add((field, "FieldValueNotSupported", $"Unsupported value: {value?.ToJsonString() ?? "null"}: supported values: {supported}"));
    }

    [GeneratedRegex(@"^[a-z]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Dns1035Label();

    public static void Name(string name, Causes causes, bool label, bool dns1035 = false)
    {
        if (dns1035)
        {
            if (name.Length > 63 || !Dns1035Label().IsMatch(name))
            {
                causes.Bad("metadata.name", name, "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character");
            }
            return;
        }
        if (label ? name.Length > 63 || !DnsLabel().IsMatch(name) : name.Length > 253 || !Subdomain().IsMatch(name))
        {
            causes.Bad("metadata.name", name, label
                ? "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
                : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character");
        }
    }

    public static void Labels(JsonObject? metadata, string path, Causes causes)
    {
        if (metadata?["labels"] is not JsonObject labels) return;
        foreach (var (key, value) in labels)
        {
            var name = key.Contains('/') ? key[(key.IndexOf('/') + 1)..] : key;
            var prefix = key.Contains('/') ? key[..key.IndexOf('/')] : null;
            if (name.Length is 0 or > 63 || !LabelValue().IsMatch(name) || (prefix is not null && !Subdomain().IsMatch(prefix)))
            {
                causes.Bad($"{path}.labels", key, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character");
            }
            if (value is not JsonValue v || v.GetValueKind() != System.Text.Json.JsonValueKind.String)
            {
                causes.Bad($"{path}.labels", value, "label values must be strings");
                continue;
            }
            var text = v.GetValue<string>();
            if (text.Length > 63 || !LabelValue().IsMatch(text))
            {
                causes.Bad($"{path}.labels", value, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character");
            }
        }
    }

    /// <summary>A pod spec: containers with names and images, env var names, restart policy.</summary>
    public static void PodSpec(JsonObject? spec, string path, Causes causes, string[]? restartPolicies)
    {
        if (spec is null)
        {
            causes.Required($"{path}.containers");
            return;
        }
        if (spec["containers"] is not JsonArray { Count: > 0 } containers)
        {
            causes.Required($"{path}.containers");
        }
        else
        {
            Containers(containers, $"{path}.containers", causes);
        }
        if (spec["initContainers"] is JsonArray inits)
        {
            Containers(inits, $"{path}.initContainers", causes);
            // Init and main containers share one name space.
            var mainNames = (spec["containers"] as JsonArray ?? []).Select(c => c?["name"]?.GetValue<string>()).ToHashSet();
            for (var i = 0; i < inits.Count; i++)
            {
                if (inits[i]?["name"] is JsonValue name && mainNames.Contains(name.GetValue<string>())) causes.Add(($"{path}.initContainers[{i}].name", "FieldValueDuplicate", $"Duplicate value: \"{name}\""));
            }
        }
        Volumes(spec, path, causes);
        if (restartPolicies is not null)
        {
            var policy = spec["restartPolicy"];
            if (policy is null) causes.Required($"{path}.restartPolicy", $"valid values: {string.Join(", ", restartPolicies.Select(p => $"\"{p}\""))}");
            else if (!restartPolicies.Contains(policy.GetValue<string>())) causes.Unsupported($"{path}.restartPolicy", policy, string.Join(", ", restartPolicies.Select(p => $"\"{p}\"")));
        }
    }

    /// <summary>A Deployment or StatefulSet: a selector that matches its template's labels, a pod template (restartPolicy Always, the default).</summary>
    public static void Workload(JsonObject body, Causes causes)
    {
        var spec = body["spec"] as JsonObject;
        var template = spec?["template"] as JsonObject;
        if (spec?["selector"] is not JsonObject selector)
        {
            causes.Required("spec.selector");
        }
        else
        {
            var labels = template?["metadata"]?["labels"] as JsonObject ?? new JsonObject();
            var matches = (selector["matchLabels"] as JsonObject ?? new JsonObject()).All(p => labels[p.Key]?.GetValue<string>() == p.Value?.GetValue<string>());
            if ((selector["matchLabels"] as JsonObject)?.Count is null or 0 && selector["matchExpressions"] is null)
            {
                causes.Bad("spec.selector", selector, "empty selector is invalid for deployment");
            }
            else if (!matches)
            {
                causes.Bad("spec.template.metadata.labels", labels, "`selector` does not match template `labels`");
            }
        }
        Labels(template?["metadata"] as JsonObject, "spec.template.metadata", causes);
        if (template?["spec"] is JsonObject podSpec) podSpec["restartPolicy"] ??= "Always";
        PodSpec(template?["spec"] as JsonObject, "spec.template.spec", causes, ["Always"]);
    }

    /// <summary>A Service: ports unless headless; each port a number between 1 and 65535.</summary>
    public static void Service(JsonObject body, Causes causes)
    {
        var spec = body["spec"] as JsonObject;
        var headless = spec?["clusterIP"]?.GetValue<string>() == "None";
        if (spec?["ports"] is not JsonArray { Count: > 0 } ports)
        {
            if (!headless) causes.Required("spec.ports");
            return;
        }
        for (var i = 0; i < ports.Count; i++)
        {
            var port = ports[i]?["port"];
            if (port is not JsonValue v || v.GetValueKind() != System.Text.Json.JsonValueKind.Number || v.GetValue<int>() is < 1 or > 65535)
            {
                causes.Bad($"spec.ports[{i}].port", port, "must be between 1 and 65535, inclusive");
            }
        }
    }

    /// <summary>A PersistentVolumeClaim: access modes and a storage request.</summary>
    public static void Claim(JsonObject body, Causes causes)
    {
        var spec = body["spec"] as JsonObject;
        if (spec?["accessModes"] is not JsonArray { Count: > 0 }) causes.Required("spec.accessModes", "at least 1 access mode is required");
        if (spec?["resources"]?["requests"]?["storage"] is null) causes.Required("spec.resources[storage]");
    }

    /// <summary>
    /// A ConfigMap's data and binaryData: keys of [-._a-zA-Z0-9]+ (at most 253 characters), in one of the two only,
    /// string values, 1 MiB in all.
    /// </summary>
    public static void ConfigMap(JsonObject body, Causes causes)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        long size = 0;
        foreach (var field in new[] { "data", "binaryData" })
        {
            if (body[field] is null) continue;
            if (body[field] is not JsonObject map)
            {
                causes.Bad(field, body[field], "must be a map of strings");
                continue;
            }
            foreach (var (key, value) in map)
            {
                if (key.Length == 0 || key.Length > 253 || !ConfigKey().IsMatch(key)) causes.Bad($"{field}[{key}]", JsonValue.Create(key), "a valid config key must consist of alphanumeric characters, '-', '_' or '.'");
                if (!keys.Add(key)) causes.Bad($"{field}[{key}]", JsonValue.Create(key), "duplicate of key present in data");
                if (value is not JsonValue v || v.GetValueKind() != System.Text.Json.JsonValueKind.String) causes.Bad($"{field}[{key}]", value, "must be a string");
                else size += v.GetValue<string>().Length;
            }
        }
        if (size > 1024 * 1024) causes.Add(("", "FieldValueTooLong", "Too long: must have at most 1048576 bytes"));
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[-._a-zA-Z0-9]+$")]
    private static partial System.Text.RegularExpressions.Regex ConfigKey();

    /// <summary>Volumes have unique names (a secret volume names its Secret); every volumeMount names a volume and a path.</summary>
    private static void Volumes(JsonObject spec, string path, Causes causes)
    {
        var volumes = new HashSet<string>(StringComparer.Ordinal);
        var list = spec["volumes"] as JsonArray ?? [];
        for (var i = 0; i < list.Count; i++)
        {
            var at = $"{path}.volumes[{i}]";
            var name = list[i]?["name"]?.GetValue<string>();
            if (string.IsNullOrEmpty(name)) causes.Required($"{at}.name");
            else if (!DnsLabel().IsMatch(name)) causes.Bad($"{at}.name", list[i]!["name"], "a lowercase RFC 1123 label");
            else if (!volumes.Add(name)) causes.Add(($"{at}.name", "FieldValueDuplicate", $"Duplicate value: \"{name}\""));
            if (list[i]?["secret"] is JsonObject secret && string.IsNullOrEmpty(secret["secretName"]?.GetValue<string>())) causes.Required($"{at}.secret.secretName");
            if (list[i]?["configMap"] is JsonObject configMap && string.IsNullOrEmpty(configMap["name"]?.GetValue<string>())) causes.Required($"{at}.configMap.name");
            if (list[i]?["persistentVolumeClaim"] is JsonObject claim && string.IsNullOrEmpty(claim["claimName"]?.GetValue<string>())) causes.Required($"{at}.persistentVolumeClaim.claimName");
            if (list[i] is JsonObject volume && volume.Count(p => p.Key != "name") > 1)
            {
                causes.Add(($"{at}", "FieldValueForbidden", $"Forbidden: may not specify more than 1 volume type ({string.Join(", ", volume.Where(p => p.Key != "name").Select(p => p.Key))})"));
            }
        }
        foreach (var kind in new[] { "initContainers", "containers" })
        {
            var containers = spec[kind] as JsonArray ?? [];
            for (var c = 0; c < containers.Count; c++)
            {
                var mounts = containers[c]?["volumeMounts"] as JsonArray ?? [];
                var paths = new HashSet<string>(StringComparer.Ordinal);
                for (var m = 0; m < mounts.Count; m++)
                {
                    var at = $"{path}.{kind}[{c}].volumeMounts[{m}]";
                    var name = mounts[m]?["name"]?.GetValue<string>();
                    if (string.IsNullOrEmpty(name)) causes.Required($"{at}.name");
                    else if (!volumes.Contains(name)) causes.Add(($"{at}.name", "FieldValueNotFound", $"Not found: \"{name}\""));
                    var mountPath = mounts[m]?["mountPath"]?.GetValue<string>();
                    if (string.IsNullOrEmpty(mountPath)) causes.Required($"{at}.mountPath");
                    else if (!paths.Add(mountPath)) causes.Bad($"{at}.mountPath", mounts[m]!["mountPath"], "must be unique");
                    // validateLocalDescendingPath: a subPath stays inside its volume.
                    if (mounts[m]?["subPath"]?.GetValue<string>() is { Length: > 0 } subPath)
                    {
                        if (subPath.StartsWith('/')) causes.Bad($"{at}.subPath", mounts[m]!["subPath"], "must be a relative path");
                        if (subPath.Split('/', '\\').Contains("..")) causes.Bad($"{at}.subPath", mounts[m]!["subPath"], "must not contain '..'");
                    }
                }
            }
        }
    }

    private static void Containers(JsonArray containers, string path, Causes causes)
    {
        var names = new HashSet<string>();
        for (var i = 0; i < containers.Count; i++)
        {
            var at = $"{path}[{i}]";
            if (containers[i] is not JsonObject container)
            {
                causes.Bad(at, containers[i], "must be an object");
                continue;
            }
            var name = container["name"]?.GetValue<string>();
            if (string.IsNullOrEmpty(name)) causes.Required($"{at}.name");
            else if (!DnsLabel().IsMatch(name)) causes.Bad($"{at}.name", container["name"], "a lowercase RFC 1123 label");
            else if (!names.Add(name)) causes.Add(($"{at}.name", "FieldValueDuplicate", $"Duplicate value: \"{name}\""));
            if (container["image"] is not JsonValue image || string.IsNullOrWhiteSpace(image.GetValue<string>())) causes.Required($"{at}.image");
            if (container["env"] is JsonArray env)
            {
                for (var e = 0; e < env.Count; e++)
                {
                    var variable = env[e] as JsonObject;
                    var envName = variable?["name"]?.GetValue<string>();
                    if (string.IsNullOrEmpty(envName)) causes.Required($"{at}.env[{e}].name");
                    else if (!EnvName().IsMatch(envName)) causes.Bad($"{at}.env[{e}].name", variable!["name"], "a valid environment variable name");
                    if (variable?["valueFrom"]?["secretKeyRef"] is JsonObject secretRef)
                    {
                        if (string.IsNullOrEmpty(secretRef["name"]?.GetValue<string>())) causes.Required($"{at}.env[{e}].valueFrom.secretKeyRef.name");
                        if (string.IsNullOrEmpty(secretRef["key"]?.GetValue<string>())) causes.Required($"{at}.env[{e}].valueFrom.secretKeyRef.key");
                    }
                }
            }
        }
    }
}
