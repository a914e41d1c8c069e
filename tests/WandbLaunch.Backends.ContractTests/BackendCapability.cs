namespace WandbLaunch.Backends.ContractTests;

/// <summary>
/// Behaviours of <see cref="Engine.Storage.ILaunchBackend"/> that a backend may honestly lack. A backend's factory
/// lists the ones it lacks, with the reason; the contract's tests that need one then report themselves skipped
/// with that reason instead of passing.
/// </summary>
public enum BackendCapability
{
    /// <summary>Leases of a fraction of a second that expire on time (a popped item goes back to its queue, a started one becomes an orphan).</summary>
    ShortLeases,

    /// <summary>Items whose agent died (or released them) are claimed by the next agent with their handle, to re-attach to (ClaimOrphans, Release).</summary>
    ReattachRecords,

    /// <summary>A finished item can be deleted (RemoveJob).</summary>
    RemoveFinishedItems,
}
