namespace WandbLaunch.Engine.Agent;

/// <summary>Why an agent stopped, decided where it happened.</summary>
public enum AgentStopReason
{
    /// <summary>Its caller cancelled it: Ctrl+C, Stop-Job, pwsh exiting.</summary>
    Cancelled,

    /// <summary>Stop-WandbLaunchAgent asked it to stop (read from the store with the heartbeat).</summary>
    StopRequested,

    /// <summary>The process received SIGTERM, SIGHUP or SIGINT.</summary>
    Signal,

    /// <summary>Every queue it served was removed from the store.</summary>
    AllQueuesRemoved,

    /// <summary>The store file was deleted while the agent ran.</summary>
    StoreDeleted,

    /// <summary>Another file took the store file's place (moved over it, restored from a backup) while the agent ran.</summary>
    StoreReplaced,

    /// <summary>The store failed in a way retrying cannot mend (damaged, not a database, an unexpected error).</summary>
    StoreFailed,
}

/// <summary>Why an agent stopped: the reason, and a sentence for people that completes "stopped because ...".</summary>
public sealed record AgentStop(AgentStopReason Reason, string Text)
{
    /// <summary>Whether the agent stopped because something went wrong rather than because it was asked to.</summary>
    public bool IsFailure => Reason is AgentStopReason.StoreDeleted or AgentStopReason.StoreReplaced or AgentStopReason.StoreFailed;

    public override string ToString() => Text;
}
