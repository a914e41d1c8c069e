namespace WandbLaunch.Engine.Artifacts;

/// <summary>
/// Where artifacts (jobs and code) live: the local store (content-addressed files beside its database) or a W&amp;B
/// server (its GraphQL artifact operations and signed file URLs). Rules that do not depend on where artifacts live
/// (names, digests, the cache, <c>wandb-job.json</c>) are in this folder, shared by both.
/// </summary>
public interface IArtifactStore
{
    /// <summary>
    /// The version an alias or version names. Throws <c>LaunchException</c> ObjectNotFound with id
    /// <c>ArtifactNotFound</c> (no such collection in the project) or <c>ArtifactAliasNotFound</c> (the collection
    /// has no such alias or version; the message lists the ones it has).
    /// </summary>
    Task<ArtifactVersion> GetAsync(ArtifactPath path, CancellationToken cancellationToken);

    /// <summary>A version by its store id (a job's code artifact, <c>wandb-artifact://_id/&lt;id&gt;</c>), or null.</summary>
    Task<ArtifactVersion?> GetByIdAsync(string id, CancellationToken cancellationToken);

    Task<ArtifactManifest> GetManifestAsync(ArtifactVersion version, CancellationToken cancellationToken);

    /// <summary>
    /// The raw bytes of one file of a version. Unchecked: callers go through <c>ArtifactFiles</c>, which checks
    /// the digest and caches.
    /// </summary>
    Task<Stream> OpenFileAsync(ArtifactVersion version, ArtifactManifestEntry entry, CancellationToken cancellationToken);

    /// <summary>Versions of artifacts of <paramref name="type"/> in a project, newest first; <paramref name="name"/> narrows to one collection.</summary>
    Task<IReadOnlyList<ArtifactVersion>> ListAsync(string entity, string project, string type, string? name, CancellationToken cancellationToken);

    /// <summary>Logs a version: uploads its files and commits it with <c>latest</c> and its aliases, unless a version with the same digest exists (then that one gets the aliases).</summary>
    Task<ArtifactCommit> CommitAsync(NewArtifact artifact, CancellationToken cancellationToken);
}
