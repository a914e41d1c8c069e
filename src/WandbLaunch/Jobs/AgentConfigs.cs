using WandbLaunch.Engine.Config;

namespace WandbLaunch.Jobs;

/// <summary>The agent config a preview renders with.</summary>
internal static class AgentConfigs
{
    public static LaunchAgentConfig ForPreview(string? path = null) =>
        AgentConfigResolver.Resolve(path, Environment.GetEnvironmentVariable, new AgentConfigResolver.Overrides());
}
