using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Agents;

/// <summary>Builds an agent's options from the resolved config, its parameters and the environment.</summary>
internal static class AgentFactory
{
    private static int _count;

    public static AgentOptions Options(LaunchAgentConfig config, string? name, double? pollingSeconds, ILaunchBackend backend, Engine.Registries.RegistryCredential? credential,
        bool leaveJobsRunning = false, Engine.Diagnostics.DiagnosticLevel? diagnostics = null, bool stopJobsOnExit = false, bool keepAdditionalServices = false, DirectJob? direct = null,
        TimeSpan? cloudJobPollingInterval = null)
    {
        Func<string, string?> env = n => backend.ConnectionVariable(n) ?? Environment.GetEnvironmentVariable(n);
        var number = Interlocked.Increment(ref _count);
        return new AgentOptions
        {
            Config = config,
            Name = name ?? $"{Environment.MachineName}-{Environment.ProcessId}{(number > 1 ? $"-{number}" : "")}",
            PollingInterval = pollingSeconds is { } s ? TimeSpan.FromSeconds(s) : AgentOptions.DefaultPollingInterval,
            Lease = AgentOptions.ParseLease(env),
            StartTimeout = AgentOptions.ParseStartTimeout(env),
            MaxLogBytes = AgentOptions.ParseMaxLogBytes(env),
            GitCacheMaxBytes = AgentOptions.ParseGitCacheMaxBytes(env),
            Environment = env,
            RegistryCredential = credential,
            LeaveJobsRunning = leaveJobsRunning,
            StopJobsOnExit = stopJobsOnExit,
            KeepAdditionalServices = keepAdditionalServices,
            CloudJobPollingInterval = cloudJobPollingInterval,
            Diagnostics = diagnostics,
            Direct = direct,
            WorkDirectory = Path.Combine(Path.GetDirectoryName(backend.LogDirectory)!, "runs"),
        };
    }
}
