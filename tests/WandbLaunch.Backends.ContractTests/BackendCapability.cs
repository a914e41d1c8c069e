namespace WandbLaunch.Backends.ContractTests;

/// <summary>
/// Behaviours of <see cref="Engine.Storage.ILaunchBackend"/> that a backend may honestly lack. A backend's factory
/// lists the ones it lacks, with the reason; the contract's tests that need one then report themselves skipped
/// with that reason instead of passing (or, where one assertion of a test needs it, make that assertion only when
/// the backend has it).
/// </summary>
public enum BackendCapability
{
    /// <summary>
    /// Leases the caller sets: a popped item's LeaseExpiresAt is the lease asked for, and leases of a fraction of a second
    /// expire on time (a popped item goes back to its queue, a started one becomes an orphan).
    /// </summary>
    ShortLeases,

    /// <summary>Items whose agent died (or released them) are claimed by the next agent with their handle, to re-attach to (ClaimOrphans, Release).</summary>
    ReattachRecords,

    /// <summary>A finished item can be deleted (RemoveJob).</summary>
    RemoveFinishedItems,

    /// <summary>A queue can be renamed (QueueUpdate.NewName), keeping its id and items.</summary>
    RenameQueues,

    /// <summary>A queue's access (project or user) can be changed after it was created.</summary>
    ChangeQueueAccess,

    /// <summary>A queue records when it was created and last changed (CreatedAt, UpdatedAt).</summary>
    QueueTimes,

    /// <summary>Listing queues with a null entity or project lists those of every entity and project the caller can see.</summary>
    ListQueuesAcrossProjects,

    /// <summary>An agent's stop flag can be set from outside the agent (RequestAgentStop), and its heartbeat reports it.</summary>
    StopAgents,

    /// <summary>Agent ids are the engine's own (<c>agent-…</c>), not a server's.</summary>
    EngineAgentIds,

    /// <summary>Every handle lists every registered agent (GetAgents).</summary>
    ListAgents,

    /// <summary>An item an agent holds can be flagged to stop (RequestStop), and its agent's heartbeat reports it.</summary>
    StopHeldItems,

    /// <summary>An item is put back on its queue as the same item (Requeue): pending again, with its id, run id and warnings.</summary>
    RequeueInPlace,

    /// <summary>An item counts how many times an agent took it (Attempts).</summary>
    AttemptCounts,

    /// <summary>Any agent id can hold an item, and every handle reads the holder back (registered or not).</summary>
    AnyAgentHolds,

    /// <summary>
    /// An ended item keeps how it ended as its agent recorded it: finished or stopped (with message), exit code, start time;
    /// and its log, which goes with it when its queue is deleted.
    /// </summary>
    EndedItemRecords,

    /// <summary>The values a push gave a queue's template variables are kept in the stored spec (<c>template_variables</c>).</summary>
    TemplateValuesInSpec,

    /// <summary>WaitForChange wakes on a write through any handle.</summary>
    ChangeSignal,

    /// <summary>The backend keeps artifacts (W&amp;B jobs and their code): <see cref="Engine.Storage.ILaunchBackend.Artifacts"/> logs and reads them.</summary>
    Artifacts,
}
