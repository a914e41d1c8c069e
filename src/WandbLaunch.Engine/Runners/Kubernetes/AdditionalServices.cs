using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Identifiers;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Runners.Kubernetes;

/// <summary>
/// W&amp;B's <c>additional_services</c> (<c>runner/kubernetes_runner.py</c>, <c>_prepare_resource</c>): objects created in the
/// job's namespace before its workload (a database Deployment and its Service, a ConfigMap), labelled with the run
/// (<c>wandb.ai/run-id</c>, <c>wandb.ai/created-by: launch-agent</c>, <c>wandb.ai/auxiliary-resource</c>), given the
/// run's <c>WANDB_CONFIG</c> and API key, held to the manifest policy, and limited to namespaced kinds a job plausibly
/// needs (<see cref="AdditionalServiceShape.Kinds"/>). This class checks and renders them; <see cref="AuxiliaryObjects"/> creates, awaits and
/// deletes them.
/// </summary>
public static class AdditionalServices
{
    /// <summary>W&amp;B's <c>WANDB_K8S_LABEL_AUXILIARY_RESOURCE</c> (<c>runner/kubernetes_monitor.py</c>).</summary>
    public const string AuxiliaryLabel = "wandb.ai/auxiliary-resource";

    /// <summary>Set to <c>launch-agent</c> on each service, as W&amp;B sets it.</summary>
    public const string CreatedByLabel = "wandb.ai/created-by";

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

    /// <summary>W&amp;B's checks for Deployments, Services and Pods; ours also awaits a StatefulSet's replicas.</summary>
    public static Readiness ReadinessOf(AdditionalServiceShape.ServiceKind kind) => kind.Kind switch
    {
        "Deployment" or "StatefulSet" => Readiness.Replicas,
        "Service" => Readiness.Endpoints,
        "Pod" => Readiness.Pod,
        _ => Readiness.Pause,
    };

    /// <summary>The objects to create for <paramref name="context"/>'s services, in the job's namespace; empty when it has none.</summary>
    /// <param name="context">The job (its spec's services after macros, run id, environment).</param>
    /// <param name="namespace">The job's namespace.</param>
    /// <param name="secureMode">The agent's secure_mode: applies to the services' pod specs as to the job's.</param>
    /// <param name="apiKeySecret">The run's API-key Secret, referenced by every container; null when the job has no key.</param>
    public static IReadOnlyList<JsonObject> Render(JobContext context, string @namespace, bool secureMode, string? apiKeySecret)
    {
        var checkedServices = AdditionalServiceShape.Check(context.Spec.AdditionalServices, @namespace);
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
            labels[JobManifest.RunIdLabel] = RunNames.Of(runId);
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
                    podLabels[JobManifest.RunIdLabel] = RunNames.Of(runId);
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
        JsonTree.ObjectAt(selector, "matchLabels")[JobManifest.RunIdLabel] = RunNames.Of(runId);
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
                    if (key == "name" && !inEnv && JsonTree.TryGetString(value, out var name)) obj[key] = AdditionalServiceShape.MakeLabelSafe(name, path);
                    else if (key == "labels" || key == "annotations" || key == "matchLabels" || key == "selector" && value is JsonObject sel && !sel.ContainsKey("matchLabels") && !sel.ContainsKey("matchExpressions")) continue;
                    else SanitizeNames(value, path, key is "env");
                }
                break;
            case JsonArray arr:
                for (var i = 0; i < arr.Count; i++) SanitizeNames(arr[i], DocumentPath.Index(at, i), inEnv);
                break;
        }
    }

    /// <summary>The auxiliary label's value: <c>make_k8s_label_safe("aux-&lt;entity&gt;-&lt;project&gt;-&lt;run id&gt;")</c>, as W&amp;B's run() makes it.</summary>
    public static string LabelValue(string? entity, string? project, string runId) => AdditionalServiceShape.MakeLabelSafe($"aux-{entity}-{project}-{runId}", AuxiliaryLabel);

    /// <summary>
    /// The selector of a run's services. W&amp;B's cleanup selects by the auxiliary label alone, which its 63-character cut
    /// can make the same for two runs of a long-named project; the run id keeps one run's cleanup off another's services.
    /// </summary>
    public static string Selector(string labelValue, string runId) => $"{AuxiliaryLabel}={labelValue},{JobManifest.RunIdLabel}={RunNames.Of(runId)}";

    /// <summary>The kind a rendered service is (one of <see cref="AdditionalServiceShape.Kinds"/>).</summary>
    public static AdditionalServiceShape.ServiceKind KindOf(JsonObject rendered) =>
        AdditionalServiceShape.Kinds.First(k => k.Kind == rendered["kind"]!.GetValue<string>() && k.ApiVersion == rendered["apiVersion"]!.GetValue<string>());

    /// <summary>How a rendered service is named in logs and errors: <c>Deployment ns/name</c>.</summary>
    public static string Describe(JsonObject rendered) =>
        $"{rendered["kind"]} {rendered["metadata"]!["namespace"]}/{rendered["metadata"]!["name"]}";
}
