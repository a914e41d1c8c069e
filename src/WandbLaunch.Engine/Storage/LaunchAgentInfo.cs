namespace WandbLaunch.Engine.Storage;

/// <summary>A registered launch agent as the store knows it.</summary>
public sealed class LaunchAgentInfo
{
    public required string Id { get; init; }

    public required string Name { get; init; }

    public required string Hostname { get; init; }

    public int ProcessId { get; init; }

    public required string Entity { get; init; }

    public IReadOnlyList<string> Queues { get; init; } = [];

    public int MaxJobs { get; init; }

    /// <summary>POLLING, RUNNING or KILLED.</summary>
    public required string Status { get; init; }

    public bool StopRequested { get; init; }

    public int ActiveJobs { get; init; }

    public required string Version { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset HeartbeatAt { get; init; }

    /// <summary>
    /// True when the agent has not reported for longer than its lease: it was killed without saying so. Its jobs
    /// are taken over by the next agent that serves their queues.
    /// </summary>
    public bool Unresponsive { get; init; }

    public override string ToString() => $"{Name} ({Status})";
}
