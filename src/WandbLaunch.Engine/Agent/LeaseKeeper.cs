using WandbLaunch.Engine.Agent.Runs;
using WandbLaunch.Engine.Storage;
namespace WandbLaunch.Engine.Agent;

/// <summary>
/// The agent's heartbeat: renews the leases of the launch jobs it holds every <see cref="AgentOptions.HeartbeatInterval"/>
/// while it holds some, and only shows it alive every <see cref="AgentOptions.IdleHeartbeatInterval"/> while it holds
/// none. The heartbeat carries stop requests, for the agent and for its jobs, and which jobs the store says it still
/// holds; a job it lost to another agent is stopped here. On a backend without a change signal (W&amp;B: no leases,
/// every read a request) it beats every <see cref="PollCadence.Heartbeat"/>, holding launch jobs or not, and reads the
/// stop flag only then.
/// </summary>
internal sealed class LeaseKeeper(AgentContext agent)
{
    private DateTime _next = DateTime.UtcNow + (agent.Cadence?.Heartbeat ?? agent.Options.HeartbeatInterval);

    /// <summary>How long until the next heartbeat is due (never negative).</summary>
    public TimeSpan UntilNext => _next > DateTime.UtcNow ? _next - DateTime.UtcNow : TimeSpan.Zero;

    /// <summary>Beats at the next turn of the loop (after a store fault, when the leases may be late).</summary>
    public void Soon() => _next = DateTime.UtcNow;

    /// <summary>The agent holds launch jobs now: their leases are renewed every heartbeat interval from here on.</summary>
    public void Holding()
    {
        if (agent.Cadence is not null) return;
        var due = DateTime.UtcNow + agent.Options.HeartbeatInterval;
        if (due < _next) _next = due;
    }

    /// <summary>Beats if due; returns the heartbeat when it asks the agent to stop, else null.</summary>
    public async Task<Heartbeat?> BeatIfDueAsync(CancellationToken cancellationToken)
    {
        // Idle, the heartbeat is rare: a stop request (a store write, which woke the loop) is read here instead.
        if (DateTime.UtcNow < _next && agent.Jobs.IsEmpty && agent.Cadence is null && await StopRequestedAsync(cancellationToken).ConfigureAwait(false))
        {
            _next = DateTime.UtcNow;
        }
        if (DateTime.UtcNow < _next) return null;
        await agent.Backend.CheckStoreFileAsync(cancellationToken).ConfigureAwait(false);
        var beat = await agent.Backend.HeartbeatAsync(agent.Id!, agent.Options.Lease, cancellationToken).ConfigureAwait(false);
        var idle = beat.HeldJobs.Count == 0 && agent.Jobs.IsEmpty;
        _next = DateTime.UtcNow + (agent.Cadence?.Heartbeat ?? (idle ? agent.Options.IdleHeartbeatInterval : agent.Options.HeartbeatInterval));
        AgentContext.Debug(() => idle
            ? "heartbeat (holding no launch jobs)"
            : $"heartbeat: renewed the leases of {string.Join(", ", beat.HeldJobs)}" + (beat.JobsToStop.Count > 0 ? $"; asked to stop {string.Join(", ", beat.JobsToStop)}" : ""));
        if (beat.StopRequested) return beat;
        Apply(beat);
        return null;
    }

    /// <summary>A read, no write: whether Stop-WandbLaunchAgent asked this agent to stop (or its record is gone, which the heartbeat reports).</summary>
    private async Task<bool> StopRequestedAsync(CancellationToken cancellationToken)
    {
        var self = await agent.Backend.GetAgentAsync(agent.Id!, cancellationToken).ConfigureAwait(false);
        return self is null || self.StopRequested;
    }

    private void Apply(Heartbeat beat)
    {
        foreach (var id in beat.JobsToStop)
        {
            if (agent.Jobs.TryGet(id, out var run)) run.Stop("Stopped on request (Stop-WandbLaunchJob).");
        }
        var held = beat.HeldJobs.ToHashSet();
        foreach (var (id, run) in agent.Jobs.Pairs)
        {
            if (!held.Contains(id) && run.Acknowledged)
            {
                agent.Report(AgentEventKind.Warning, $"{id}: another agent took this job over (this agent missed its lease); stopping the local copy", id);
                run.Lose();
            }
        }
    }
}
