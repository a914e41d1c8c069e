using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Specs;

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

    /// <summary>The rendered objects, in creation order.</summary>
    public sealed record Rendered(string Namespace, JsonObject Workload, JsonObject? ApiKeySecret)
    {
        public bool IsBatchJob => JsonTree.TryGetString(Workload["apiVersion"], out var v) && v == "batch/v1" && JsonTree.TryGetString(Workload["kind"], out var k) && k == "Job";

        public string Name => Workload["metadata"]?["name"]?.GetValue<string>() ?? "";
    }

    public static Rendered Render(JobContext context, string agentId, string? contextNamespace, bool secureMode)
    {
        var args = (JsonObject)context.ResourceArgs.DeepClone();
        var overrides = context.Spec["overrides"] as JsonObject;
        var entryPoint = Strings(overrides?["entry_point"]);
        var configuredNamespace = JsonTree.TryGetString(args["namespace"], out var ns) ? ns : null;
        args.Remove("namespace");
        args.Remove("builder");
        ManifestPolicy.Check(args, secureMode, entryPoint.Count > 0);

        var manifest = args;
        manifest["apiVersion"] ??= "batch/v1";
        manifest["kind"] ??= "Job";
        var metadata = Object(manifest, "metadata");
        var name = JsonTree.TryGetString(metadata["name"], out var given) && given.Length > 0 ? given : $"launch-{context.Job.RunId}";
        metadata["name"] = name;
        var @namespace = JsonTree.TryGetString(metadata["namespace"], out var manifestNs) && manifestNs.Length > 0 ? manifestNs
            : configuredNamespace ?? contextNamespace ?? "default";
        metadata["namespace"] = @namespace;
        var labels = Labels(metadata, context, agentId);

        var batch = JsonTree.TryGetString(manifest["apiVersion"], out var apiVersion) && apiVersion == "batch/v1" && manifest["kind"]?.GetValue<string>() == "Job";
        JsonObject? podSpec;
        if (batch)
        {
            var spec = Object(manifest, "spec");
            spec["backoffLimit"] ??= 0;
            spec["ttlSecondsAfterFinished"] ??= 60;
            var template = Object(spec, "template");
            var templateLabels = Labels(Object(template, "metadata"), context, agentId);
            _ = templateLabels;
            podSpec = Object(template, "spec");
            podSpec["restartPolicy"] ??= "Never";
        }
        else
        {
            podSpec = ManifestPolicy.PodSpecPath(manifest, out _);
            _ = labels;
        }

        var secretName = $"wandb-api-key-{context.Job.RunId}";
        var hasKey = context.Environment.ContainsKey(JobEnvironment.ApiKeyVariable);
        if (podSpec is not null)
        {
            var containers = podSpec["containers"] as JsonArray;
            if (containers is null || containers.Count == 0)
            {
                containers = [new JsonObject { ["name"] = "launch" }];
                podSpec["containers"] = containers;
            }
            for (var i = 0; i < containers.Count; i++)
            {
                if (containers[i] is not JsonObject container) continue;
                container["name"] ??= i == 0 ? "launch" : $"launch-{i}";
                if (i == 0)
                {
                    if (!container.ContainsKey("image"))
                    {
                        container["image"] = context.ImageUri ?? throw LaunchException.Invalid("MissingImage",
                            "The Kubernetes job has no image: its first container sets none and the job has no image to run.", name);
                    }
                    if (entryPoint.Count > 0) container["command"] = new JsonArray(entryPoint.Select(e => (JsonNode?)e).ToArray());
                    if (Strings(overrides?["args"]) is { Count: > 0 } jobArgs) container["args"] = new JsonArray(jobArgs.Select(a => (JsonNode?)a).ToArray());
                }
                InjectEnvironment(container, context.Environment, secretName, hasKey);
                ForceSecurityContext(container);
            }
            if (podSpec["initContainers"] is JsonArray inits)
            {
                foreach (var init in inits.OfType<JsonObject>()) ForceSecurityContext(init);
            }
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
                    ["labels"] = new JsonObject { [RunIdLabel] = context.Job.RunId, [AgentLabel] = agentId },
                },
                ["type"] = "Opaque",
                ["stringData"] = new JsonObject { ["password"] = context.Environment[JobEnvironment.ApiKeyVariable] },
            };
        }
        return new Rendered(@namespace, manifest, secret);
    }

    private static JsonObject Labels(JsonObject metadata, JobContext context, string agentId)
    {
        var labels = Object(metadata, "labels");
        labels[RunIdLabel] = context.Job.RunId;
        labels[MonitorLabel] = "true";
        labels[AgentLabel] = agentId;
        labels[ItemLabel] = context.Job.Id;
        return labels;
    }

    private static void InjectEnvironment(JsonObject container, IReadOnlyDictionary<string, string> environment, string secretName, bool hasKey)
    {
        var env = container["env"] as JsonArray ?? [];
        var existing = env.OfType<JsonObject>().Select(e => e["name"]?.GetValue<string>()).Where(n => n is not null).ToHashSet();
        foreach (var (name, value) in environment.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (name == JobEnvironment.ApiKeyVariable || existing.Contains(name)) continue;
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

    private static void ForceSecurityContext(JsonObject container)
    {
        var security = Object(container, "securityContext");
        security["allowPrivilegeEscalation"] = false;
        var capabilities = Object(security, "capabilities");
        capabilities["drop"] = new JsonArray("ALL");
        var seccomp = Object(security, "seccompProfile");
        seccomp["type"] ??= "RuntimeDefault";
    }

    private static JsonObject Object(JsonObject parent, string key)
    {
        if (parent[key] is JsonObject existing) return existing;
        var created = new JsonObject();
        parent[key] = created;
        return created;
    }

    private static List<string> Strings(JsonNode? node) =>
        node is JsonArray arr ? arr.Select(a => JsonTree.TryGetString(a, out var s) ? s : "").ToList() : [];

    /// <summary>The objects as YAML documents, with the API key shown as ***.</summary>
    public static string ToYaml(Rendered rendered)
    {
        var documents = new List<string>();
        if (rendered.ApiKeySecret is { } secret)
        {
            var shown = (JsonObject)secret.DeepClone();
            shown["stringData"] = new JsonObject { ["password"] = "***" };
            documents.Add(YamlWriter.Write(shown));
        }
        documents.Add(YamlWriter.Write(rendered.Workload));
        return string.Join("---\n", documents);
    }
}
