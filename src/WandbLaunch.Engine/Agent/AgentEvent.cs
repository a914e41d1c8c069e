namespace WandbLaunch.Engine.Agent;

public enum AgentEventKind
{
    /// <summary>The agent's own state: registered, polling, stopping.</summary>
    Status,

    /// <summary>A job changed state.</summary>
    Job,

    Warning,

    Error,

    /// <summary>Build or push progress for a job.</summary>
    Progress,

    /// <summary>What the agent and the engine under it do (-Verbose; verbosity 1 in launch-config.yaml).</summary>
    Verbose,

    /// <summary>Every step, such as each heartbeat and empty poll (-Debug; verbosity 2).</summary>
    Debug,
}

/// <summary>Something an agent reports while it runs; the cmdlets turn these into status lines, warnings and job output.</summary>
public sealed record AgentEvent(DateTimeOffset Time, AgentEventKind Kind, string Message, string? JobId = null, string? Queue = null)
{
    /// <summary>For progress events: what is in progress (e.g. "Building registry/img:1a2b3c4d").</summary>
    public string? Activity { get; init; }

    /// <summary>For progress events: percent done, or -1 when unknown.</summary>
    public int Percent { get; init; } = -1;

    public override string ToString() => $"{Time.ToLocalTime():HH:mm:ss} {Message}";
}
