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

    /// <summary>
    /// The backend refused the agent in a way waiting cannot mend: a W&amp;B server that rejects the API key
    /// (WandbAuthFailed), an answer that would be the same next time (WandbNotFound, WandbConflict, a malformed
    /// answer). <see cref="AgentStop.Cause"/> holds the error.
    /// </summary>
    BackendFailed,

    /// <summary>A queue-less launch's agent (<see cref="AgentOptions.Direct"/>): its one launch job ended.</summary>
    JobEnded,
}

/// <summary>Why an agent stopped: the reason, and a sentence for people that completes "stopped because ...".</summary>
public sealed record AgentStop(AgentStopReason Reason, string Text)
{
    /// <summary>The error that stopped it, when one did (its error id is what scripts match on).</summary>
    public Errors.LaunchException? Cause { get; init; }

    /// <summary>Whether the agent stopped because something went wrong rather than because it was asked to.</summary>
    public bool IsFailure => Reason is AgentStopReason.StoreDeleted or AgentStopReason.StoreReplaced or AgentStopReason.StoreFailed or AgentStopReason.BackendFailed;

    /// <summary>The error a failed stop is reported as (<c>AgentStopped&lt;Reason&gt;</c>), with its cause inside.</summary>
    public Errors.LaunchException ToException(string? agentId) =>
        new("AgentStopped" + Reason, Errors.LaunchErrorCategory.ResourceUnavailable, $"The agent stopped because {Text}.", agentId, Cause)
        {
            RecommendedAction = Cause?.RecommendedAction,
        };

    public override string ToString() => Text;
}
