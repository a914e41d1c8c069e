using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Runners.Kubernetes;

/// <summary>
/// W&amp;B's <c>additional_services</c> (<c>runner/kubernetes_runner.py</c>, <c>_prepare_resource</c>): objects created in the
/// job's namespace before its workload (a database Deployment and its Service, a ConfigMap), labelled with the run
/// (<c>wandb.ai/run-id</c>, <c>wandb.ai/created-by: launch-agent</c>, <c>wandb.ai/auxiliary-resource</c>), given the
/// run's <c>WANDB_CONFIG</c> and API key, held to the manifest policy, and limited to namespaced kinds a job plausibly
/// needs (<see cref="Kinds"/>). This class checks and renders them; <see cref="AuxiliaryObjects"/> creates, awaits and
/// deletes them.
/// </summary>
public static partial class AdditionalServices
{
    /// <summary>W&amp;B's <c>WANDB_K8S_LABEL_AUXILIARY_RESOURCE</c> (<c>runner/kubernetes_monitor.py</c>).</summary>
    public const string AuxiliaryLabel = "wandb.ai/auxiliary-resource";

    /// <summary>Set to <c>launch-agent</c> on each service, as W&amp;B sets it.</summary>
    public const string CreatedByLabel = "wandb.ai/created-by";

    /// <summary>Where a spec keeps them.</summary>
    public const string SpecKey = "additional_services";

    /// <summary>A kind a service may be: its apiVersion, kind, plural, and how its readiness is awaited.</summary>
    public sealed record ServiceKind(string ApiVersion, string Kind, string Plural, Readiness Readiness)
    {
        public override string ToString() => $"{ApiVersion} {Kind}";
    }

    /// <summary>How a created service is awaited (<c>_wait_for_resource_ready</c>).</summary>
    public enum Readiness
    {
        /// <summary>status.readyReplicas reaches status.replicas.</summary>
        Replicas,

        /// <summary>The Service's Endpoints have an address.</summary>
        Endpoints,

        /// <summary>Running, every container ready.</summary>
        Pod,

        /// <summary>No check: W&amp;B's five seconds.</summary>
        Pause,
    }

    /// <summary>
    /// The kinds a service may be: namespaced objects a training job's helpers need. Everything else (RBAC,
    /// cluster-scoped kinds, Secrets, whose content would be the spec's, DaemonSets that reach every node, custom
    /// resources) is refused.
    /// </summary>
    public static readonly IReadOnlyList<ServiceKind> Kinds =
    [
        new("apps/v1", "Deployment", "deployments", Readiness.Replicas),
        new("apps/v1", "StatefulSet", "statefulsets", Readiness.Replicas),
        new("v1", "Service", "services", Readiness.Endpoints),
        new("v1", "Pod", "pods", Readiness.Pod),
        new("v1", "ConfigMap", "configmaps", Readiness.Pause),
        new("v1", "PersistentVolumeClaim", "persistentvolumeclaims", Readiness.Pause),
        new("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", Readiness.Pause),
        new("batch/v1", "Job", "jobs", Readiness.Pause),
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
                throw Invalid("InvalidAdditionalService", DocumentPath.Key(configPath, "metadata.name"), "is required: the service is created, awaited and deleted by its name");
            }
            if (metadata!["namespace"] is { } ns)
            {
                if (!JsonTree.TryGetString(ns, out var given) || (given.Length > 0 && jobNamespace is not null && given != jobNamespace))
                {
                    throw new LaunchException("AdditionalServiceNamespace", LaunchErrorCategory.PermissionDenied,
                        $"The spec's {DocumentPath.Key(configPath, "metadata.namespace")} is {JsonTree.Show(ns)}, but additional services are created only in the job's namespace" +
                        $"{(jobNamespace is null ? "" : $" ({jobNamespace})")}; remove metadata.namespace or set it to the job's namespace.",
                        DocumentPath.Key(configPath, "metadata.namespace"));
                }
            }
            var key = $"{kind.Kind}/{MakeLabelSafe(name, DocumentPath.Key(configPath, "metadata.name"))}";
            if (!names.Add(key))
            {
                throw Invalid("InvalidAdditionalService", DocumentPath.Key(configPath, "metadata.name"), $"names a second {kind.Kind} '{name}'; each service needs a name of its own");
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

    /// <summary>The objects to create for <paramref name="context"/>'s services, in the job's namespace; empty when it has none.</summary>
    /// <param name="context">The job (its spec's services after macros, run id, environment).</param>
    /// <param name="namespace">The job's namespace.</param>
    /// <param name="secureMode">The agent's secure_mode: applies to the services' pod specs as to the job's.</param>
    /// <param name="apiKeySecret">The run's API-key Secret, referenced by every container; null when the job has no key.</param>
    public static IReadOnlyList<JsonObject> Render(JobContext context, string @namespace, bool secureMode, string? apiKeySecret)
    {
        var checkedServices = Check(context.Spec.AdditionalServices, @namespace);
        if (checkedServices.Count == 0) return [];
        var runId = context.Job.RunId;
        var auxiliary = LabelValue(context.Spec.Entity ?? context.Job.Entity, context.Spec.TargetProject ?? context.Job.Project, runId);
        // W&B gives services WANDB_CONFIG only ("{}" when it was split for length); ours passes the split parts too.
        var environment = context.Environment.Where(p => IsConfigVariable(p.Key)).ToDictionary(p => p.Key, p => p.Value);
        if (environment.Count == 0) environment[JobEnvironment.ConfigVariable] = "{}";
        var rendered = new List<JsonObject>();
        foreach (var (given, path, _) in checkedServices)
        {
            var config = (JsonObject)given.DeepClone();
            ManifestPolicy.Check(config, secureMode, entryPointOverride: false, root: path);
            var metadata = JsonTree.ObjectAt(config, "metadata");
            metadata["namespace"] = @namespace;
            var labels = JsonTree.ObjectAt(metadata, "labels");
            labels[JobManifest.RunIdLabel] = runId;
            labels[CreatedByLabel] = "launch-agent";
            labels[AuxiliaryLabel] = auxiliary;
            foreach (var pod in ManifestPolicy.PodSpecs(config))
            {
                // W&B labels every pod template with the auxiliary label (add_label_to_pods); ours also with the run id, so
                // that a NetworkPolicy of the run can be held to the run's pods. The job's own pod watch excludes them.
                if (pod.Template is { } template)
                {
                    var podLabels = JsonTree.ObjectAt(JsonTree.ObjectAt(template, "metadata"), "labels");
                    podLabels[AuxiliaryLabel] = auxiliary;
                    podLabels[JobManifest.RunIdLabel] = runId;
                }
                foreach (var container in (pod.Spec["containers"] as JsonArray ?? []).OfType<JsonObject>())
                {
                    JobManifest.InjectEnvironment(container, environment, apiKeySecret ?? "", apiKeySecret is not null, withRunId: false);
                }
                foreach (var list in new[] { "initContainers", "containers" })
                {
                    foreach (var container in (pod.Spec[list] as JsonArray ?? []).OfType<JsonObject>()) JobManifest.ForceSecurityContext(container);
                }
            }
            if (config["kind"]?.GetValue<string>() == "NetworkPolicy") HoldToRun(config, runId);
            SanitizeNames(config, path);
            rendered.Add(config);
        }
        return rendered;
    }

    private static bool IsConfigVariable(string name) =>
        name == JobEnvironment.ConfigVariable ||
        (name.StartsWith(JobEnvironment.ConfigVariable + "_", StringComparison.Ordinal) && name.Length > JobEnvironment.ConfigVariable.Length + 1 &&
         name[(JobEnvironment.ConfigVariable.Length + 1)..].All(char.IsAsciiDigit));

    /// <summary>A NetworkPolicy applies to the pods its podSelector selects: held to the run's pods, it cannot change another job's traffic.</summary>
    private static void HoldToRun(JsonObject policy, string runId)
    {
        var selector = JsonTree.ObjectAt(JsonTree.ObjectAt(policy, "spec"), "podSelector");
        JsonTree.ObjectAt(selector, "matchLabels")[JobManifest.RunIdLabel] = runId;
    }

    /// <summary>
    /// W&amp;B's sanitize_identifiers_for_k8s (utils.py): the object's name, its containers' names and every other
    /// <c>name</c> string made label-safe, so that references (a Service's port name, a volume's ConfigMap) stay
    /// consistent — except environment variable names, which W&amp;B's rewrites too (WANDB_API_KEY → wandb-api-key).
    /// </summary>
    private static void SanitizeNames(JsonNode? node, string at, bool inEnv = false)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, value) in obj.ToList())
                {
                    var path = DocumentPath.Key(at, key);
                    if (key == "name" && !inEnv && JsonTree.TryGetString(value, out var name)) obj[key] = MakeLabelSafe(name, path);
                    else if (key == "labels" || key == "annotations" || key == "matchLabels" || key == "selector" && value is JsonObject sel && !sel.ContainsKey("matchLabels") && !sel.ContainsKey("matchExpressions")) continue;
                    else SanitizeNames(value, path, key is "env");
                }
                break;
            case JsonArray arr:
                for (var i = 0; i < arr.Count; i++) SanitizeNames(arr[i], DocumentPath.Index(at, i), inEnv);
                break;
        }
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

    /// <summary>The auxiliary label's value: <c>make_k8s_label_safe("aux-&lt;entity&gt;-&lt;project&gt;-&lt;run id&gt;")</c>, as W&amp;B's run() makes it.</summary>
    public static string LabelValue(string? entity, string? project, string runId) => MakeLabelSafe($"aux-{entity}-{project}-{runId}", AuxiliaryLabel);

    /// <summary>
    /// The selector of a run's services. W&amp;B's cleanup selects by the auxiliary label alone, which its 63-character cut
    /// can make the same for two runs of a long-named project; the run id keeps one run's cleanup off another's services.
    /// </summary>
    public static string Selector(string labelValue, string runId) => $"{AuxiliaryLabel}={labelValue},{JobManifest.RunIdLabel}={runId}";

    /// <summary>The kind a rendered service is (one of <see cref="Kinds"/>).</summary>
    public static ServiceKind KindOf(JsonObject rendered) =>
        Kinds.First(k => k.Kind == rendered["kind"]!.GetValue<string>() && k.ApiVersion == rendered["apiVersion"]!.GetValue<string>());

    /// <summary>How a rendered service is named in logs and errors: <c>Deployment ns/name</c>.</summary>
    public static string Describe(JsonObject rendered) =>
        $"{rendered["kind"]} {rendered["metadata"]!["namespace"]}/{rendered["metadata"]!["name"]}";

    private static LaunchException Invalid(string id, string path, string why) =>
        LaunchException.Invalid(id, $"The spec's {path} {why}.", path);
}
