using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.KubeTests;

/// <summary>Job contexts and kubeconfigs made as the agent would make them, with fixed ids so renderings compare.</summary>
internal static class Contexts
{
    public const string ApiKey = "local-0123456789abcdef0123456789abcdef01234567";

    /// <summary>
    /// A job's context as the agent makes it (macros substituted, W&amp;B environment built), for a spec whose
    /// resource_args.kubernetes holds the queue's config, with fixed ids so renderings can be compared.
    /// </summary>
    public static JobContext For(JsonObject spec, JobLog log, string workDirectory, bool secureMode = false,
        IReadOnlyDictionary<string, string>? environment = null, string itemId = "item-0123456789ab", MountedCode? code = null,
        Config.RegistrySettings? registry = null, string? builtImage = null)
    {
        var env = new Dictionary<string, string>
        {
            [JobEnvironment.ApiKeyVariable] = ApiKey,
            ["WANDB_BASE_URL"] = "https://api.wandb.ai",
        };
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) env[k] = v;
        var job = new LaunchJob
        {
            Id = itemId,
            Queue = "k8s-queue",
            Entity = spec["entity"]?.GetValue<string>() ?? "ml-team",
            Project = "model-registry",
            Resource = "kubernetes",
            State = LaunchJobState.Starting,
            Attempts = 1,
            RunId = spec["run_id"]!.GetValue<string>(),
            AgentId = "agent-golden000001",
            LaunchSpec = LaunchSpec.Parse(spec),
        };
        var options = new AgentOptions
        {
            Config = new LaunchAgentConfig { SecureMode = secureMode, Registry = registry ?? new Config.RegistrySettings() },
            Name = "golden",
            Environment = name => env.TryGetValue(name, out var value) ? value : null,
            WorkDirectory = workDirectory,
        };
        return JobContextFactory.Create(job, options, log, imageUri: builtImage, code: code);
    }

    /// <summary>A kubeconfig whose current context names <paramref name="namespace"/>; the server is never contacted.</summary>
    public static string Kubeconfig(TempDirectory dir, string? @namespace, string name = "kubeconfig") => OfflineKubeconfig.Write(dir.File(name), @namespace);
}
