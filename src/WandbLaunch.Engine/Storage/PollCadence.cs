namespace WandbLaunch.Engine.Storage;

/// <summary>
/// How an agent paces its requests on a backend that sends no change signal (a W&amp;B server), where every check is
/// a request. W&amp;B's own agent (agent.py) ticks every 10 s: it reads its record (stopPolling), pops each queue
/// until one yields, and sends its status every second tick. This cadence keeps those steady rates and polls faster
/// only right after work (a pop that yielded, a launch job that ended, the agent's start), when a next push is
/// likely: the wait between pops is a quarter of the time since the last work, between <see cref="Fast"/> and
/// <see cref="Idle"/>, so an agent idle for <see cref="Idle"/> × 4 polls exactly as often as W&amp;B's.
/// </summary>
public sealed record PollCadence
{
    /// <summary>W&amp;B's agent: 10 s between ticks (AGENT_POLLING_INTERVAL); 0.5 s right after work.</summary>
    public static readonly PollCadence Wandb = new()
    {
        Idle = TimeSpan.FromSeconds(10),
        Fast = TimeSpan.FromMilliseconds(500),
        Heartbeat = TimeSpan.FromSeconds(10),
    };

    /// <summary>The steady wait between pops of an idle agent.</summary>
    public required TimeSpan Idle { get; init; }

    /// <summary>The wait between pops right after work.</summary>
    public required TimeSpan Fast { get; init; }

    /// <summary>How often the agent heartbeats and reads its stop flag, idle or not (there are no leases to renew).</summary>
    public required TimeSpan Heartbeat { get; init; }

    /// <summary>
    /// How often a wait for jobs (Wait-WandbLaunchJob, Stop-WandbLaunchJob -Wait, Get-WandbLaunchJobLog -Follow) reads
    /// them again in its first minute: the SDK's QueuedRun.wait_until_running sleeps 2 s between reads.
    /// </summary>
    public TimeSpan WatchFirst { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>After the first minute: the SDK's Run.wait_until_finished sleeps 5 s between reads.</summary>
    public TimeSpan WatchSteady { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The wait before a watch reads its jobs again, <paramref name="waited"/> after it started.</summary>
    public TimeSpan WatchInterval(TimeSpan waited) => waited < TimeSpan.FromMinutes(1) ? WatchFirst : WatchSteady;

    /// <summary>The wait before the next pop, <paramref name="sinceWork"/> after the agent last had work.</summary>
    public TimeSpan PollInterval(TimeSpan sinceWork)
    {
        var quarter = TimeSpan.FromTicks(Math.Max(0, sinceWork.Ticks) / 4);
        return quarter < Fast ? Fast : quarter > Idle ? Idle : quarter;
    }
}
