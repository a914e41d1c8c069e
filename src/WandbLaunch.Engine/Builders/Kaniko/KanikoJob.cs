using System.Text.Json.Nodes;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Runners.Kubernetes;
using WandbLaunch.Engine.Identifiers;

namespace WandbLaunch.Engine.Builders.Kaniko;

/// <summary>
/// The batch/v1 Job that runs the kaniko executor for one build, as W&amp;B's agent makes it: Job
/// <c>&lt;build-job-name&gt;-&lt;run_id&gt;</c>, label <c>wandb=launch</c>, one container <c>wandb-container-build</c>
/// running <c>builder.kaniko-image</c> with the context, Dockerfile, destination and cache arguments,
/// <c>restartPolicy Never</c>, <c>activeDeadlineSeconds 1800</c>, <c>backoffLimit 0</c>, and the service account from
/// <c>WANDB_LAUNCH_SERVICE_ACCOUNT_NAME</c> (else <c>default</c>). Registry and cloud credentials are mounted as
/// <see cref="KanikoAuth"/> says.
/// <c>builder.kaniko-config</c> is then deep-merged in: mappings key by key (its values win), lists of named items
/// (env, volumes, tolerations…) item by item by name (volumeMounts by mountPath), other lists replaced; the
/// container's <c>args</c> flag by flag, except <c>--context</c>, <c>--dockerfile</c> and <c>--destination</c>, which
/// are the builder's. The Job's name and the <c>wandb=launch</c> labels are the builder's too.
/// </summary>
public static class KanikoJob
{
    public const string ContainerName = "wandb-container-build";
    public const int ActiveDeadlineSeconds = 1800;
    public const string ServiceAccountVariable = "WANDB_LAUNCH_SERVICE_ACCOUNT_NAME";
    public const string DockerConfigVolume = "docker-config";
    public const string DockerConfigPath = "/kaniko/.docker";
    public const string LaunchLabel = "wandb";

    /// <summary>Arguments only the builder sets: they say what is built and where it goes.</summary>
    public static readonly IReadOnlyList<string> BuilderFlags = ["--context", "--dockerfile", "--destination"];

    public static string Name(BuilderSettings settings, string runId) => $"{settings.BuildJobName ?? BuilderSettings.DefaultBuildJobName}-{RunNames.Of(runId)}";

    /// <summary>The kaniko arguments for a build, in W&amp;B's order.</summary>
    public static List<string> Args(string contextUri, string image, string cacheRepository) =>
    [
        $"--context={contextUri}",
        $"--dockerfile={BuildPlan.DockerfileName}",
        $"--destination={image}",
        "--cache=true",
        $"--cache-repo={cacheRepository}",
        "--snapshot-mode=redo",
        "--compressed-caching=false",
    ];

    /// <param name="settings">The builder block (image, secret, kaniko-config).</param>
    /// <param name="runId">The run the image is built for.</param>
    /// <param name="namespace">Where the Job goes unless kaniko-config's metadata.namespace says otherwise.</param>
    /// <param name="contextUri">The uploaded context.</param>
    /// <param name="image">The image to push.</param>
    /// <param name="serviceAccount">The pod's service account unless kaniko-config names one.</param>
    /// <param name="auth">The credentials' volumes, variables and labels.</param>
    /// <param name="note">Told about kaniko-config settings that are ignored.</param>
    public static JsonObject Render(BuilderSettings settings, string runId, string @namespace, string contextUri, string image, string serviceAccount, KanikoAuth auth, Action<string> note)
    {
        var name = Name(settings, runId);
        var destination = settings.Destination ?? image[..image.LastIndexOf(':')];
        var container = new JsonObject
        {
            ["name"] = ContainerName,
            ["image"] = settings.KanikoImage ?? BuilderSettings.DefaultKanikoImage,
            ["args"] = new JsonArray(Args(contextUri, image, destination).Select(a => (JsonNode?)a).ToArray()),
        };
        var podSpec = new JsonObject
        {
            ["restartPolicy"] = "Never",
            ["activeDeadlineSeconds"] = ActiveDeadlineSeconds,
            ["serviceAccountName"] = serviceAccount,
            ["containers"] = new JsonArray(container),
        };
        var podLabels = new JsonObject { [LaunchLabel] = "launch" };
        auth.Apply(podSpec, container, podLabels, name);
        var job = new JsonObject
        {
            ["apiVersion"] = "batch/v1",
            ["kind"] = "Job",
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["namespace"] = @namespace,
                ["labels"] = new JsonObject { [LaunchLabel] = "launch", [JobManifest.RunIdLabel] = RunNames.Of(runId) },
            },
            ["spec"] = new JsonObject
            {
                ["backoffLimit"] = 0,
                ["template"] = new JsonObject
                {
                    ["metadata"] = new JsonObject { ["labels"] = podLabels },
                    ["spec"] = podSpec,
                },
            },
        };
        if (settings.KanikoConfig is { Count: > 0 } config && JsonTree.FromObject(config, "InvalidKanikoConfig", "builder.kaniko-config") is JsonObject overlay)
        {
            MergeConfig(job, (JsonObject)overlay.DeepClone(), note);
        }
        // What identifies the build stays the builder's, whatever kaniko-config says.
        var metadata = (JsonObject)job["metadata"]!;
        job["apiVersion"] = "batch/v1";
        job["kind"] = "Job";
        if (JsonTree.TryGetString(metadata["name"], out var givenName) && givenName != name)
        {
            note($"builder.kaniko-config sets metadata.name '{givenName}'; the build Job is named {name} (set builder.build-job-name to change the prefix).");
        }
        metadata["name"] = name;
        if (!JsonTree.TryGetString(metadata["namespace"], out var ns) || ns.Length == 0) metadata["namespace"] = @namespace;
        JsonTree.ObjectAt(metadata, "labels")[LaunchLabel] = "launch";
        JsonTree.ObjectAt(metadata, "labels")[JobManifest.RunIdLabel] = RunNames.Of(runId);
        JsonTree.ObjectAt(JsonTree.ObjectAt(JsonTree.ObjectAt(JsonTree.ObjectAt(job, "spec"), "template"), "metadata"), "labels")[LaunchLabel] = "launch";
        return job;
    }

    private static void MergeConfig(JsonObject job, JsonObject overlay, Action<string> note)
    {
        var userPod = overlay["spec"]?["template"]?["spec"] as JsonObject;
        if (userPod?["containers"] is JsonNode userContainers)
        {
            if (userContainers is not JsonArray list || list.Count > 1 || (list.Count == 1 && list[0] is not JsonObject))
            {
                throw new JobFailedException(FailureStage.Build,
                    $"builder.kaniko-config sets spec.template.spec.containers to {(userContainers is JsonArray l ? $"{l.Count} items" : JsonTree.KindOf(userContainers))}; " +
                    $"the kaniko Job runs one container ({ContainerName}): give a list with one mapping, which is merged into it.");
            }
            userPod.Remove("containers");
            if (list.Count == 1)
            {
                var ours = (JsonObject)job["spec"]!["template"]!["spec"]!["containers"]![0]!;
                var theirs = (JsonObject)list[0]!;
                if (theirs["args"] is JsonNode args)
                {
                    theirs.Remove("args");
                    MergeArgs((JsonArray)ours["args"]!, args, note);
                }
                Merge(ours, theirs);
            }
        }
        Merge(job, overlay);
    }

    private static void MergeArgs(JsonArray ours, JsonNode given, Action<string> note)
    {
        if (given is not JsonArray list || list.Any(a => !JsonTree.TryGetString(a, out _)))
        {
            throw new JobFailedException(FailureStage.Build, "builder.kaniko-config sets the container's args to something other than a list of strings (\"--flag=value\").");
        }
        foreach (var arg in list.Select(a => a!.GetValue<string>()))
        {
            var flag = arg.Split('=', 2)[0];
            if (BuilderFlags.Contains(flag))
            {
                note($"builder.kaniko-config sets {flag}, which only the builder sets; it is ignored.");
                continue;
            }
            var index = ours.Select(a => a!.GetValue<string>().Split('=', 2)[0]).ToList().IndexOf(flag);
            if (index >= 0) ours[index] = arg;
            else ours.Add(arg);
        }
    }

    /// <summary>Deep-merges <paramref name="overlay"/> into <paramref name="target"/> (the overlay's values win); the overlay is emptied.</summary>
    internal static void Merge(JsonObject target, JsonObject overlay)
    {
        foreach (var (k, value) in overlay.ToList())
        {
            overlay.Remove(k);
            if (value is JsonObject obj && target[k] is JsonObject existing)
            {
                Merge(existing, obj);
            }
            else if (value is JsonArray arr && target[k] is JsonArray existingList)
            {
                var merged = MergeList(existingList, arr, k);
                if (!ReferenceEquals(merged, existingList)) target[k] = merged;
            }
            else
            {
                target[k] = value;
            }
        }
    }

    private static JsonArray MergeList(JsonArray ours, JsonArray theirs, string key)
    {
        var identity = key == "volumeMounts" ? "mountPath" : "name";
        string? Id(JsonNode? item) => item is JsonObject o && JsonTree.TryGetString(o[identity], out var id) ? id : null;
        if (ours.Any(i => Id(i) is null) || theirs.Any(i => Id(i) is null))
        {
            var replaced = new JsonArray();
            foreach (var item in theirs.ToList())
            {
                theirs.Remove(item);
                replaced.Add(item);
            }
            return replaced;
        }
        foreach (var item in theirs.ToList())
        {
            theirs.Remove(item);
            var match = ours.FirstOrDefault(o => Id(o) == Id(item));
            if (match is JsonObject existing && item is JsonObject given) Merge(existing, given);
            else ours.Add(item);
        }
        return ours;
    }
}
