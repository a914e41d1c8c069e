using System.Management.Automation;
using WandbLaunch.Engine.Config;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.AgentConfig;

/// <summary>
/// <para type="synopsis">Reads a launch-config.yaml, or the agent's effective config after defaults, environment and parameters.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "WandbLaunchAgentConfig", DefaultParameterSetName = FileSet)]
[OutputType(typeof(LaunchAgentConfig))]
public sealed class GetWandbLaunchAgentConfigCommand : WandbLaunchCmdlet
{
    private const string FileSet = "File";
    private const string EffectiveSet = "Effective";

    /// <summary>The config file. Default: ~/.config/wandb/launch-config.yaml (a missing default file reads as empty).</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>
    /// Shows the config the agent would run with: built-in defaults &lt; the file &lt; WANDB_ENTITY and
    /// WANDB_LAUNCH_MAX_JOBS &lt; -Queue, -Entity and -MaxJobs. Sources tells where each key came from.
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = EffectiveSet)]
    public SwitchParameter Effective { get; set; }

    /// <summary>Queues, as Start-WandbLaunchAgent -Queue would give them.</summary>
    [Parameter(ParameterSetName = EffectiveSet)]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string[]? Queue { get; set; }

    /// <summary>Entity, as Start-WandbLaunchAgent -Entity would give it.</summary>
    [Parameter(ParameterSetName = EffectiveSet)]
    public string? Entity { get; set; }

    /// <summary>Max jobs, as Start-WandbLaunchAgent -MaxJobs would give it.</summary>
    [Parameter(ParameterSetName = EffectiveSet)]
    public int MaxJobs { get; set; }

    /// <inheritdoc />
    private protected override void EndProcessingCore()
    {
        var path = Path is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
        var config = RunOrTerminate(() => Effective
            ? AgentConfigResolver.Resolve(path, Environment.GetEnvironmentVariable, new AgentConfigResolver.Overrides
            {
                Queues = Queue,
                Entity = Entity,
                MaxJobs = IsBound(nameof(MaxJobs)) ? MaxJobs : null,
            })
            : AgentConfigFile.Load(path));
        foreach (var warning in config.Warnings.Where(w => w.Severity == ConfigIssueSeverity.Warning)) WriteWarning(warning.ToString());
        WriteObject(config);
    }
}
