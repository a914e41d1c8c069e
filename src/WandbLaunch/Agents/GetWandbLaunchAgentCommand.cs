using System.Management.Automation;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Agents;

/// <summary>
/// <para type="synopsis">Gets launch agents registered in the store: status, queues, heartbeat and running jobs.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "WandbLaunchAgent")]
[OutputType(typeof(LaunchAgentInfo))]
public sealed class GetWandbLaunchAgentCommand : Infrastructure.WandbLaunchCmdlet
{
    /// <summary>Agent names; wildcards are allowed.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    public string[]? Name { get; set; }

    /// <summary>Agent ids.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("AgentId")]
    public string[]? Id { get; set; }

    /// <summary>Also list agents that have stopped (status KILLED).</summary>
    [Parameter]
    public SwitchParameter IncludeStopped { get; set; }

    /// <inheritdoc />
    private protected override void ProcessRecordCore()
    {
        TryRun(() =>
        {
            var patterns = Name?.Select(n => new WildcardPattern(n, WildcardOptions.IgnoreCase)).ToList();
            var agents = Await(Backend.GetAgentsAsync(StopToken))
                .Where(a => IncludeStopped || Id is not null || a.Status != AgentStatus.Killed)
                .Where(a => patterns is null || patterns.Any(p => p.IsMatch(a.Name)))
                .Where(a => Id is null || Id.Contains(a.Id));
            WriteObject(agents, enumerateCollection: true);
        });
    }
}
