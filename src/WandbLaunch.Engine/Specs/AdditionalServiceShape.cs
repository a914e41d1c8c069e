using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Specs;

/// <summary>
/// The shape of a spec's <c>additional_services</c> (W&amp;B's <c>runner/kubernetes_runner.py</c>): a list of
/// <c>{config: &lt;a Kubernetes manifest&gt;}</c>, each of a namespaced kind a job plausibly needs (<see cref="Kinds"/>),
/// named, in no namespace but the job's. Checked when a job is pushed; the Kubernetes runner renders them.
/// </summary>
public static partial class AdditionalServiceShape
{
    /// <summary>Where a spec keeps them.</summary>
    public const string SpecKey = "additional_services";

    /// <summary>A kind a service may be: its apiVersion, kind and plural.</summary>
    public sealed record ServiceKind(string ApiVersion, string Kind, string Plural)
    {
        public override string ToString() => $"{ApiVersion} {Kind}";
    }

    /// <summary>
    /// The kinds a service may be: namespaced objects a training job's helpers need. Everything else (RBAC,
    /// cluster-scoped kinds, Secrets, whose content would be the spec's, DaemonSets that reach every node, custom
    /// resources) is refused.
    /// </summary>
    public static readonly IReadOnlyList<ServiceKind> Kinds =
    [
        new("apps/v1", "Deployment", "deployments"),
        new("apps/v1", "StatefulSet", "statefulsets"),
        new("v1", "Service", "services"),
        new("v1", "Pod", "pods"),
        new("v1", "ConfigMap", "configmaps"),
        new("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
        new("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
        new("batch/v1", "Job", "jobs"),
    ];

    private static string AllowedList => string.Join(", ", Kinds.Select(k => k.ToString()));

    /// <summary>
    /// Checks what can be checked without the job (Submit, pushes): a list of mappings, each <c>config</c> a mapping
    /// of an allowed kind with a name and no namespace other than <paramref name="jobNamespace"/> (when known).
    /// Items without a <c>config</c> (or with an empty one) are skipped, as W&amp;B skips them.
    /// </summary>
    /// <returns>The configs to create, with their paths.</returns>
    public static IReadOnlyList<(JsonObject Config, string Path, ServiceKind Kind)> Check(JsonNode? services, string? jobNamespace)
    {
        var found = new List<(JsonObject, string, ServiceKind)>();
        if (services is null) return found;
        if (services is not JsonArray list)
        {
            throw Invalid("InvalidAdditionalService", SpecKey, $"must be a list of {{config: <a Kubernetes manifest>}}; it is {JsonTree.KindOf(services)} {JsonTree.Show(services)}");
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < list.Count; i++)
        {
            var at = DocumentPath.Index(SpecKey, i);
            if (list[i] is not JsonObject item) throw Invalid("InvalidAdditionalService", at, $"must be a mapping with a config; it is {JsonTree.KindOf(list[i])} {JsonTree.Show(list[i])}");
            var configPath = DocumentPath.Key(at, "config");
            if (item["config"] is null || item["config"] is JsonObject { Count: 0 }) continue;
            if (item["config"] is not JsonObject config) throw Invalid("InvalidAdditionalService", configPath, $"must be a Kubernetes manifest (a mapping); it is {JsonTree.KindOf(item["config"])} {JsonTree.Show(item["config"])}");
            var kind = KindOf(config, configPath);
            var metadata = config["metadata"] as JsonObject;
            if (config["metadata"] is not (null or JsonObject)) throw Invalid("InvalidAdditionalService", DocumentPath.Key(configPath, "metadata"), "must be a mapping");
            if (!JsonTree.TryGetString(metadata?["name"], out var name) || name.Trim().Length == 0)
            {
                // W&B's readiness wait needs a name (it skips the wait without one); generateName would leave nothing to wait for or delete by name.
                throw Invalid("InvalidAdditionalService", DocumentPath.Key(DocumentPath.Key(configPath, "metadata"), "name"), "is required: the service is created, awaited and deleted by its name");
            }
            if (metadata!["namespace"] is { } ns)
            {
                if (!JsonTree.TryGetString(ns, out var given) || (given.Length > 0 && jobNamespace is not null && given != jobNamespace))
                {
                    throw new LaunchException("AdditionalServiceNamespace", LaunchErrorCategory.PermissionDenied,
                        $"The spec's {DocumentPath.Key(DocumentPath.Key(configPath, "metadata"), "namespace")} is {JsonTree.Show(ns)}, but additional services are created only in the job's namespace" +
                        $"{(jobNamespace is null ? "" : $" ({jobNamespace})")}; remove metadata.namespace or set it to the job's namespace.",
                        DocumentPath.Key(DocumentPath.Key(configPath, "metadata"), "namespace"));
                }
            }
            var key = $"{kind.Kind}/{MakeLabelSafe(name, DocumentPath.Key(DocumentPath.Key(configPath, "metadata"), "name"))}";
            if (!names.Add(key))
            {
                throw Invalid("InvalidAdditionalService", DocumentPath.Key(DocumentPath.Key(configPath, "metadata"), "name"), $"names a second {kind.Kind} '{name}'; each service needs a name of its own");
            }
            found.Add((config, configPath, kind));
        }
        return found;
    }

    private static ServiceKind KindOf(JsonObject config, string at)
    {
        var hasKind = JsonTree.TryGetString(config["kind"], out var kind) && kind.Length > 0;
        var hasVersion = JsonTree.TryGetString(config["apiVersion"], out var apiVersion) && apiVersion.Length > 0;
        if (!hasKind || !hasVersion)
        {
            throw Invalid("InvalidAdditionalService", DocumentPath.Key(at, hasKind ? "apiVersion" : "kind"), $"is required; allowed kinds: {AllowedList}");
        }
        return Kinds.FirstOrDefault(k => k.Kind == kind && k.ApiVersion == apiVersion)
               ?? throw new LaunchException("AdditionalServiceKindNotAllowed", LaunchErrorCategory.PermissionDenied,
                   $"The spec's {at} is a {apiVersion} {kind}, which an additional service may not be " +
                   $"(RBAC, cluster-scoped kinds, Secrets and custom resources are refused); allowed: {AllowedList}.",
                   $"{at}.kind");
    }

    [GeneratedRegex("[^a-z0-9-]")]
    private static partial Regex NotLabelCharacter();

    [GeneratedRegex("-+")]
    private static partial Regex Dashes();

    /// <summary>W&amp;B's make_k8s_label_safe (utils.py): lower case, <c>_</c> to <c>-</c>, only <c>a-z 0-9 -</c>, dashes collapsed, at most 63 characters without leading or trailing dashes.</summary>
    public static string MakeLabelSafe(string value, string path)
    {
        var safe = Dashes().Replace(NotLabelCharacter().Replace(value.Replace('_', '-').ToLowerInvariant(), ""), "-");
        safe = (safe.Length > 63 ? safe[..63] : safe).Trim('-');
        if (safe.Length == 0) throw Invalid("InvalidAdditionalService", path, $"is {JsonTree.Show(JsonValue.Create(value))}, which has no letter or digit to make a Kubernetes name of");
        return safe;
    }

    private static LaunchException Invalid(string id, string path, string why) =>
        LaunchException.Invalid(id, $"The spec's {path} {why}.", path);
}
