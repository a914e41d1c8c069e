namespace WandbLaunch.Engine.Storage;

/// <summary>What an agent says about itself when it registers (W&amp;B's createLaunchAgent).</summary>
public sealed class AgentRegistration
{
    public required string Name { get; init; }

    public required string Entity { get; init; }

    public required IReadOnlyList<Queues.QueueKey> Queues { get; init; }

    public required string ConfigJson { get; init; }

    public required int MaxJobs { get; init; }

    public string Hostname { get; init; } = Environment.MachineName;

    public int ProcessId { get; init; } = Environment.ProcessId;

    public string Version { get; init; } = typeof(AgentRegistration).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
}
