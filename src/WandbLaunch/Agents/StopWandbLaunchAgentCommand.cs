using System.Management.Automation;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Services;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Agents;

/// <summary>
/// <para type="synopsis">Asks launch agents to stop (W&amp;B's stopPolling); works on agents in any process on the host.</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Stop, "WandbLaunchAgent", SupportsShouldProcess = true, DefaultParameterSetName = IdSet)]
[OutputType(typeof(LaunchAgentInfo))]
public sealed class StopWandbLaunchAgentCommand : WandbLaunchCmdlet
{
    private const string IdSet = "Id";
    private const string NameSet = "Name";

    /// <summary>Agent ids. Agents from Get-WandbLaunchAgent bind by their Id property.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [Alias("AgentId")]
    public string[] Id { get; set; } = [];

    /// <summary>Agent names; wildcards are allowed.</summary>
    [Parameter(Mandatory = true, ParameterSetName = NameSet)]
    [SupportsWildcards]
    public string[] Name { get; set; } = [];

    /// <summary>Wait (up to -Timeout seconds) until each agent has stopped its jobs and reported KILLED.</summary>
    [Parameter]
    public SwitchParameter Wait { get; set; }

    /// <summary>Seconds -Wait waits at most (default 120).</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int Timeout { get; set; } = 120;

    /// <summary>
    /// The agent leaves its Kubernetes and container jobs running for the next agent serving their queue, which
    /// re-attaches to them, as Start-WandbLaunchAgent -LeaveJobsRunning does; jobs still fetching code or building go
    /// back on their queue and local-process jobs are stopped. Without it the agent stops every job it runs, unless it
    /// was started with -LeaveJobsRunning.
    /// </summary>
    [Parameter]
    public SwitchParameter LeaveJobsRunning { get; set; }

    /// <summary>Writes each agent after the request.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <inheritdoc />
    private protected override void ProcessRecordCore()
    {
        IEnumerable<LaunchAgentInfo> targets;
        if (ParameterSetName == NameSet)
        {
            var patterns = Name.Select(n => new WildcardPattern(n, WildcardOptions.IgnoreCase)).ToList();
            targets = Await(Backend.GetAgentsAsync(StopToken)).Where(a => a.Status != AgentStatus.Killed && patterns.Any(p => p.IsMatch(a.Name)));
        }
        else
        {
            // One agent per piped record: looked up by id, not by reading every agent each time.
            var found = new List<LaunchAgentInfo>();
            foreach (var id in Id)
            {
                var agent = Await(Backend.GetAgentAsync(id, StopToken));
                if (agent is null) WriteError(LaunchErrors.ToRecord(LaunchException.NotFound("AgentNotFound", $"There is no agent with id '{id}'. Get-WandbLaunchAgent lists the agents.", id)));
                else found.Add(agent);
            }
            targets = found;
        }
        foreach (var agent in targets)
        {
            if (!ShouldProcess($"agent {agent.Name} ({agent.Id}) on {agent.Hostname}", "Stop launch agent")) continue;
            TryRun(() =>
            {
                Await(Backend.RequestAgentStopAsync(agent.Id, StopToken, LeaveJobsRunning));
                var current = Wait ? Await(new AgentWatch(Backend).UntilStoppedAsync(agent, TimeSpan.FromSeconds(Timeout), StopToken)) : agent;
                if (PassThru) WriteObject(current);
            });
        }
    }
}
