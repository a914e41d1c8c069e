using System.Collections.Concurrent;
using WandbLaunch.Engine.Artifacts;

namespace WandbLaunch.TestSupport;

/// <summary>
/// A real artifact store with the faults of a server or network it cannot produce itself: counts the file bodies
/// opened (a cache hit opens none), opens them slowly, serves other bytes for one file than its manifest describes
/// (a corrupt server or download), and reports a version as DELETED. Everything else is the real store's.
/// </summary>
public sealed class FaultyArtifactStore(IArtifactStore inner) : IArtifactStore
{
    private readonly ConcurrentDictionary<(string VersionId, string Path), byte[]> _served = new();
    private readonly ConcurrentDictionary<string, bool> _deleted = new(StringComparer.Ordinal);
    private int _filesOpened;

    /// <summary>How many file bodies were opened.</summary>
    public int FilesOpened => Volatile.Read(ref _filesOpened);

    /// <summary>How long opening a file body takes (a slow server).</summary>
    public TimeSpan OpenDelay { get; set; }

    /// <summary>Serves <paramref name="bytes"/> for the file <paramref name="path"/> of <paramref name="version"/> from now on, its manifest unchanged.</summary>
    public void ServeInstead(ArtifactVersion version, string path, byte[] bytes) => _served[(version.Id, path)] = bytes;

    /// <summary>Reports <paramref name="version"/> in W&amp;B's state DELETED from now on.</summary>
    public void MarkDeleted(ArtifactVersion version) => _deleted[version.Id] = true;

    private ArtifactVersion? Reported(ArtifactVersion? version) =>
        version is not null && _deleted.ContainsKey(version.Id) ? version with { State = "DELETED" } : version;

    public async Task<ArtifactVersion> GetAsync(ArtifactPath path, CancellationToken cancellationToken) =>
        Reported(await inner.GetAsync(path, cancellationToken))!;

    public async Task<ArtifactVersion?> GetByIdAsync(string id, CancellationToken cancellationToken) =>
        Reported(await inner.GetByIdAsync(id, cancellationToken));

    public Task<ArtifactManifest> GetManifestAsync(ArtifactVersion version, CancellationToken cancellationToken) =>
        inner.GetManifestAsync(version, cancellationToken);

    public async Task<Stream> OpenFileAsync(ArtifactVersion version, ArtifactManifestEntry entry, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _filesOpened);
        if (OpenDelay > TimeSpan.Zero) await Task.Delay(OpenDelay, cancellationToken);
        if (_served.TryGetValue((version.Id, entry.Path), out var bytes)) return new MemoryStream(bytes, writable: false);
        return await inner.OpenFileAsync(version, entry, cancellationToken);
    }

    public async Task<IReadOnlyList<ArtifactVersion>> ListAsync(string entity, string project, string type, string? name, CancellationToken cancellationToken) =>
        (await inner.ListAsync(entity, project, type, name, cancellationToken)).Select(v => Reported(v)!).ToList();

    public Task<ArtifactCommit> CommitAsync(NewArtifact artifact, CancellationToken cancellationToken) => inner.CommitAsync(artifact, cancellationToken);
}
