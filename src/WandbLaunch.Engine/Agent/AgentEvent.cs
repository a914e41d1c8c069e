namespace WandbLaunch.Engine.Agent;

public enum AgentEventKind
{
    /// <summary>The agent's own state: registered, polling, stopping.</summary>
    Status,

    /// <summary>A job changed state.</summary>
    Job,

    Warning,

    Error,
}

/// <summary>Something an agent reports while it runs; the cmdlets turn these into status lines, warnings and job output.</summary>
public sealed record AgentEvent(DateTimeOffset Time, AgentEventKind Kind, string Message, string? JobId = null, string? Queue = null)
{
    public override string ToString() => $"{Time.ToLocalTime():HH:mm:ss} {Message}";
}
