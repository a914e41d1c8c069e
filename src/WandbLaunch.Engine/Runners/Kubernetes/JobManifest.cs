using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Identifiers;

namespace WandbLaunch.Engine.Runners.Kubernetes;

/// <summary>
/// Turns a queue's Kubernetes config (after templates and macros) into the objects the agent creates: a batch/v1
/// Job (or a custom resource) with W&amp;B's defaults, labels, image, args and environment, the forced security
/// context, and a Secret holding the API key. Renders without contacting anything.
/// </summary>
public static class JobManifest
{
    public const string RunIdLabel = "wandb.ai/run-id";
    public const string MonitorLabel = "wandb.ai/monitor";
    public const string AgentLabel = "wandb.ai/agent";
    public const string ItemLabel = "wandb.ai/item-id";

    /// <summary>Keys of <c>resource_args.kubernetes</c> that steer the runner and are not part of the manifest.</summary>
    public static readonly IReadOnlyList<string> RunnerKeys = ["namespace", "context", "plural", "builder", WaitForReadyKey, WaitTimeoutKey];

    /// <summary>W&amp;B's <c>resource_args.kubernetes.wait_for_ready</c>: await the additional services before the job (default true).</summary>
    public const string WaitForReadyKey = "wait_for_ready";

    /// <summary>W&amp;B's <c>resource_args.kubernetes.wait_timeout</c>: how long, in seconds (default 300).</summary>
    public const string WaitTimeoutKey = "wait_timeout";

    /// <summary>The rendered objects, in creation order.</summary>
    public sealed record Rendered(string Namespace, JsonObject Workload, JsonObject? ApiKeySecret, string Plural)
    {
        /// <summary>The spec's additional services, rendered (<see cref="AdditionalServices"/>), in creation order.</summary>
        public IReadOnlyList<JsonObject> Services { get; init; } = [];

        /// <summary>Whether and how long the services are awaited before the workload is created.</summary>
        public AuxiliaryObjects.Wait ServiceWait { get; init; } = AuxiliaryObjects.Wait.Default;

        /// <summary>The image pull Secret of a deprecated ecr/gcr registry block, as a preview shows it (its login is made at start).</summary>
        public JsonObject? PullSecret { get; init; }

        /// <summary>The workload's name; empty when the server makes it from <see cref="GenerateName"/>.</summary>
        public string Name => Workload["metadata"]?["name"]?.GetValue<string>() ?? "";

        public string? GenerateName => Workload["metadata"]?["generateName"]?.GetValue<string>();

        /// <summary>The name, or the generated name's prefix followed by an ellipsis.</summary>
        public string DisplayName => Name.Length > 0 ? Name : GenerateName + "…";

        public string ApiVersion => JsonTree.TryGetString(Workload["apiVersion"], out var v) ? v : "";

        public string Kind => JsonTree.TryGetString(Workload["kind"], out var k) ? k : "";
    }

    /// <summary>
    /// The namespace a job runs in: the manifest's <c>metadata.namespace</c>, else the <c>namespace</c> key, else
    /// the kube context's namespace, else <c>default</c>.
    /// </summary>
    public static string Namespace(JsonObject resourceArgs, string? contextNamespace) =>
        JsonTree.TryGetString((resourceArgs["metadata"] as JsonObject)?["namespace"], out var manifestNs) && manifestNs.Length > 0 ? manifestNs
        : JsonTree.TryGetString(resourceArgs["namespace"], out var ns) && ns.Length > 0 ? ns
        : contextNamespace ?? "default";

    /// <summary>The kube context named by the <c>context</c> key, if any.</summary>
    public static string? Context(JsonObject resourceArgs) =>
        JsonTree.TryGetString(resourceArgs["context"], out var context) && context.Length > 0 ? context : null;

    /// <summary>
    /// The objects for <paramref name="context"/>; <paramref name="codeClaim"/>, for a job with mounted code, is the
    /// claim its code is copied to, or null for W&amp;B's emptyDir and init container (<see cref="PodCode"/>).
    /// </summary>
    public static Rendered Render(JobContext context, string agentId, string? contextNamespace, bool secureMode, CodeClaim? codeClaim = null)
    {
        if (context.Code is { } mounted) PodCode.CheckFetchable(mounted, codeClaim);
        var args = (JsonObject)context.ResourceArgs.DeepClone();
        var overrides = context.Spec.Overrides;
        var entryPoint = overrides.EntryPoint ?? [];
        var @namespace = Namespace(args, contextNamespace);
        var plural = JsonTree.TryGetString(args["plural"], out var givenPlural) && givenPlural.Length > 0 ? givenPlural : null;
        var serviceWait = AuxiliaryObjects.Wait.From(args);
        foreach (var key in RunnerKeys) args.Remove(key);
        ManifestPolicy.Check(args, secureMode, entryPoint.Count > 0);

        var manifest = args;
        manifest["apiVersion"] ??= "batch/v1";
        manifest["kind"] ??= "Job";
        var metadata = JsonTree.ObjectAt(manifest, "metadata");
        // Without a name ours is launch-<run id>, fixed so that a second create is a conflict, not a second Job; a
        // generateName the manifest gives is honoured instead, made DNS-safe as W&B makes its own
        // (docs/differences-from-wandb.md): `generateName: launch-${entity_name}-${project_name}-` names jobs as W&B does.
        string name;
        if (JsonTree.TryGetString(metadata["name"], out var given) && given.Length > 0) name = given;
        else if (JsonTree.TryGetString(metadata["generateName"], out var prefix) && WandbDnsSafe(prefix) is { Length: > 0 } safePrefix)
        {
            name = "";
            metadata.Remove("name");
            metadata["generateName"] = safePrefix;
        }
        else name = $"launch-{RunNames.Of(context.Job.RunId)}";
        if (name.Length > 0)
        {
            metadata["name"] = name;
            metadata.Remove("generateName");
        }
        metadata["namespace"] = @namespace;
        Labels(metadata, context, agentId);

        var batch = JsonTree.TryGetString(manifest["apiVersion"], out var apiVersion) && apiVersion == "batch/v1" && manifest["kind"]?.GetValue<string>() == "Job";
        if (batch)
        {
            var spec = JsonTree.ObjectAt(manifest, "spec");
            spec["backoffLimit"] ??= 0;
            spec["ttlSecondsAfterFinished"] ??= 60;
            var template = JsonTree.ObjectAt(spec, "template");
            JsonTree.ObjectAt(template, "metadata");
            var podSpec = JsonTree.ObjectAt(template, "spec");
            podSpec["restartPolicy"] ??= "Never";
            if (podSpec["containers"] is not JsonArray { Count: > 0 }) podSpec["containers"] = new JsonArray(new JsonObject { ["name"] = "launch" });
        }

        var secretName = ApiKeySecretName(context.Job.RunId);
        var hasKey = context.Environment.ContainsKey(JobEnvironment.ApiKeyVariable);
        // A Job has one pod template; a custom resource may have several (a PyTorchJob's Master and Worker), and
        // each runs the job's program: every one gets the labels, the image, the entry point and args, the
        // environment and the forced security context.
        // A spec's own image (-DockerImage, docker.docker_image, image_uri) replaces the queue's first image, as W&B's
        // kubernetes_runner.py does for image sources; a built or base image fills it only when it has none.
        // W&B sets no image in a custom resource (its ${image_uri} macro does), so there ours only fills a missing one.
        var imageSource = batch && context.Spec.PrebuiltImage is { Length: > 0 } && context.Code is null ? context.ImageUri : null;
        // kubernetes_runner.py (add_wandb_env): in a custom resource only the first container gets WANDB_RUN_ID, so
        // that a PyTorchJob's workers do not all write to the master's run; a Job's containers all get it.
        var runIdGiven = false;
        foreach (var pod in ManifestPolicy.PodSpecs(manifest))
        {
            if (pod.Template is { } template) Labels(JsonTree.ObjectAt(template, "metadata"), context, agentId);
            var containers = (JsonArray)pod.Spec["containers"]!;
            for (var i = 0; i < containers.Count; i++)
            {
                if (containers[i] is not JsonObject container) continue;
                container["name"] ??= i == 0 ? "launch" : $"launch-{i}";
                if (i == 0)
                {
                    if (imageSource is not null) container["image"] = imageSource;
                    else if (!container.ContainsKey("image"))
                    {
                        container["image"] = context.ImageUri ?? throw LaunchException.Invalid("MissingImage",
                            $"The Kubernetes job has no image: {pod.Path}.containers[0] sets none and the job has no image to run.", name);
                    }
                    if (entryPoint.Count > 0) container["command"] = new JsonArray(entryPoint.Select(e => (JsonNode?)e).ToArray());
                    if (overrides.Args is { Count: > 0 } jobArgs) container["args"] = new JsonArray(jobArgs.Select(a => (JsonNode?)a).ToArray());
                }
                InjectEnvironment(container, context.Environment, secretName, hasKey, withRunId: batch || !runIdGiven);
                runIdGiven = true;
                ForceSecurityContext(container);
            }
            // After the command, args and env: W&B wraps the command and copies the API key's env entry to its init container.
            if (context.Code is { } code) PodCode.Apply(pod.Spec, code, codeClaim, context.Environment.GetValueOrDefault(JobEnvironment.BaseUrlVariable, JobEnvironment.DefaultBaseUrl));
            if (pod.Spec["initContainers"] is JsonArray inits)
            {
                foreach (var init in inits.OfType<JsonObject>()) ForceSecurityContext(init);
            }
        }

        JsonObject? pullSecretPreview = null;
        if (ImagePullSecret.NameFor(context.AgentConfig.Registry, context.Job.RunId) is { } pullSecret)
        {
            ImagePullSecret.Reference(manifest, pullSecret);
            pullSecretPreview = ImagePullSecret.Body(pullSecret, @namespace, context.Job.RunId, context.AgentConfig.Registry.Uri!.Trim(),
                new Registries.RegistryCredential("***", "***"));
            pullSecretPreview["stringData"] = new JsonObject { [".dockerconfigjson"] = $"<the agent's login to {ImagePullSecret.Host(context.AgentConfig.Registry)}, made when the job starts unless the Secret exists>" };
        }

        JsonObject? secret = null;
        if (hasKey)
        {
            secret = new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "Secret",
                ["metadata"] = new JsonObject
                {
                    ["name"] = secretName,
                    ["namespace"] = @namespace,
                    ["labels"] = new JsonObject { [RunIdLabel] = RunNames.Of(context.Job.RunId), [AgentLabel] = agentId },
                },
                ["type"] = "Opaque",
                ["stringData"] = new JsonObject { ["password"] = context.Environment[JobEnvironment.ApiKeyVariable] },
            };
        }
        var kind = manifest["kind"]?.GetValue<string>() ?? "Job";
        Tidy(manifest);
        var services = AdditionalServices.Render(context, @namespace, secureMode, hasKey ? secretName : null);
        foreach (var service in services) Tidy(service);
        return new Rendered(@namespace, manifest, secret, plural ?? kind.ToLowerInvariant() + "s") { PullSecret = pullSecretPreview, Services = services, ServiceWait = serviceWait };
    }

    /// <summary>Puts keys in the order people write manifests in (apiVersion, kind, metadata, spec; name and image first), keeping the rest as given.</summary>
    private static void Tidy(JsonObject manifest)
    {
        Order(manifest, "apiVersion", "kind", "metadata", "spec");
        if (manifest["metadata"] is JsonObject metadata) Order(metadata, "name", "generateName", "namespace", "labels", "annotations");
        foreach (var pod in ManifestPolicy.PodSpecs(manifest))
        {
            if (pod.Template is { } template && template != manifest) Order(template, "metadata", "spec");
            foreach (var list in new[] { "initContainers", "containers" })
            {
                foreach (var container in (pod.Spec[list] as JsonArray ?? []).OfType<JsonObject>()) Order(container, "name", "image", "command", "args");
            }
        }
    }

    private static void Order(JsonObject obj, params string[] first)
    {
        var entries = obj.ToList();
        obj.Clear();
        foreach (var key in first)
        {
            foreach (var (k, v) in entries)
            {
                if (k == key) obj[k] = v;
            }
        }
        foreach (var (k, v) in entries)
        {
            if (!first.Contains(k)) obj[k] = v;
        }
    }

    /// <summary>W&amp;B's make_name_dns_safe (kubernetes_runner.py): lower case, <c>_</c> to <c>-</c>, only <c>a-z . -</c> kept, at most 200 characters.</summary>
    public static string WandbDnsSafe(string name)
    {
        var kept = new string(name.Replace('_', '-').ToLowerInvariant().Where(c => c is (>= 'a' and <= 'z') or '.' or '-').ToArray());
        return kept.Length > 200 ? kept[..200] : kept;
    }

    /// <summary>The Secret holding a run's API key.</summary>
    public static string ApiKeySecretName(string runId) => $"wandb-api-key-{RunNames.Of(runId)}";

    private static void Labels(JsonObject metadata, JobContext context, string agentId)
    {
        var labels = JsonTree.ObjectAt(metadata, "labels");
        labels[RunIdLabel] = RunNames.Of(context.Job.RunId);
        labels[MonitorLabel] = "true";
        labels[AgentLabel] = agentId;
        labels[ItemLabel] = context.Job.Id;
    }

    internal static void InjectEnvironment(JsonObject container, IReadOnlyDictionary<string, string> environment, string secretName, bool hasKey, bool withRunId)
    {
        var env = container["env"] as JsonArray ?? [];
        var existing = env.OfType<JsonObject>().Select(e => e["name"]?.GetValue<string>()).Where(n => n is not null).ToHashSet();
        foreach (var (name, value) in environment.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (name == JobEnvironment.ApiKeyVariable || existing.Contains(name) || (!withRunId && name == JobEnvironment.RunIdVariable)) continue;
            env.Add(new JsonObject { ["name"] = name, ["value"] = value });
        }
        if (hasKey && !existing.Contains(JobEnvironment.ApiKeyVariable))
        {
            env.Add(new JsonObject
            {
                ["name"] = JobEnvironment.ApiKeyVariable,
                ["valueFrom"] = new JsonObject { ["secretKeyRef"] = new JsonObject { ["name"] = secretName, ["key"] = "password" } },
            });
        }
        container["env"] = env;
    }

    internal static void ForceSecurityContext(JsonObject container)
    {
        var security = JsonTree.ObjectAt(container, "securityContext");
        security["allowPrivilegeEscalation"] = false;
        var capabilities = JsonTree.ObjectAt(security, "capabilities");
        capabilities["drop"] = new JsonArray("ALL");
        var seccomp = JsonTree.ObjectAt(security, "seccompProfile");
        seccomp["type"] ??= "RuntimeDefault";
    }



    /// <summary>The objects as YAML documents, with the API key shown as ***.</summary>
    public static string ToYaml(Rendered rendered)
    {
        var documents = new List<string>();
        if (rendered.PullSecret is { } pull) documents.Add(YamlWriter.Write(pull));
        if (rendered.ApiKeySecret is { } secret)
        {
            var shown = (JsonObject)secret.DeepClone();
            shown["stringData"] = new JsonObject { ["password"] = "***" };
            documents.Add(YamlWriter.Write(shown));
        }
        documents.AddRange(rendered.Services.Select(YamlWriter.Write));
        documents.Add(YamlWriter.Write(rendered.Workload));
        return string.Join("---\n", documents);
    }
}
