using System.Collections.Concurrent;
using System.Reflection;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.TestSupport;

/// <summary>
/// The one place tests get an artifact store for the local store's backends. Until the local store has its own
/// (SQLite) artifact store, each store file gets an in-memory <see cref="InMemoryArtifactStore"/>, shared by every
/// backend opened on that file (as the real one will be, through the file), and <see cref="Agent"/> hands it to an
/// agent's backend. When the SQLite artifact store lands: <see cref="For"/> returns <c>backend.Artifacts</c> and
/// <see cref="Agent"/> returns the backend itself.
/// </summary>
public static class TestArtifacts
{
    private static readonly ConcurrentDictionary<string, InMemoryArtifactStore> Stores = new(StringComparer.Ordinal);

    /// <summary>The artifact store of the store <paramref name="backend"/> is open on.</summary>
    public static IArtifactStore For(ILaunchBackend backend) => Stores.GetOrAdd(backend.Location, _ => new InMemoryArtifactStore());

    /// <summary><paramref name="backend"/> with <see cref="For"/> as its <c>Artifacts</c>, for an agent.</summary>
    public static ILaunchBackend Agent(ILaunchBackend backend) => ArtifactsProxy.Wrap(backend, For(backend));

    /// <summary>A store of its own, for tests without a backend.</summary>
    public static InMemoryArtifactStore NewStore() => new();

    /// <summary>Passes every call to a real backend, except <c>Artifacts</c>.</summary>
    public class ArtifactsProxy : DispatchProxy
    {
        private ILaunchBackend _inner = null!;
        private IArtifactStore _artifacts = null!;

        public static ILaunchBackend Wrap(ILaunchBackend inner, IArtifactStore artifacts)
        {
            var proxy = Create<ILaunchBackend, ArtifactsProxy>();
            var self = (ArtifactsProxy)(object)proxy;
            self._inner = inner;
            self._artifacts = artifacts;
            return proxy;
        }

        protected override object? Invoke(MethodInfo? method, object?[]? args)
        {
            ArgumentNullException.ThrowIfNull(method);
            if (method.Name == "get_" + nameof(ILaunchBackend.Artifacts)) return _artifacts;
            try
            {
                return method.Invoke(_inner, args);
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
                throw;
            }
        }
    }
}

/// <summary>
/// An <see cref="IArtifactStore"/> in memory, as the contract describes it: versions by alias and index, W&amp;B's
/// digests, <c>ArtifactNotFound</c>/<c>ArtifactAliasNotFound</c>. <see cref="Tamper"/> changes a stored file's bytes
/// without its manifest, as a corrupt or hostile server would serve them.
/// </summary>
public sealed class InMemoryArtifactStore : IArtifactStore
{
    private readonly object _gate = new();
    private readonly List<(ArtifactVersion Version, ArtifactManifest Manifest, Dictionary<string, byte[]> Files)> _versions = [];

    /// <summary>How many file bodies were opened (a cache hit opens none).</summary>
    public int FilesOpened;

    public Task<ArtifactVersion> GetAsync(ArtifactPath path, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var collection = _versions.Where(v => v.Version.Entity == path.Entity && v.Version.Project == path.Project && v.Version.Name == path.Name).ToList();
            if (collection.Count == 0) throw LaunchException.NotFound("ArtifactNotFound", $"No artifact {path.Collection} exists.", path.ToString());
            var found = path.VersionIndex is { } index
                ? collection.FirstOrDefault(v => v.Version.VersionIndex == index).Version
                : collection.Where(v => v.Version.Aliases.Contains(path.Alias)).Select(v => v.Version).FirstOrDefault();
            return found is not null ? Task.FromResult(found)
                : throw LaunchException.NotFound("ArtifactAliasNotFound",
                    $"The artifact {path.Collection} has no version or alias '{path.Alias}'; it has {string.Join(", ", collection.SelectMany(v => v.Version.Aliases.Append(v.Version.Version)))}.", path.ToString());
        }
    }

    public Task<ArtifactVersion?> GetByIdAsync(string id, CancellationToken cancellationToken)
    {
        lock (_gate) return Task.FromResult(_versions.Select(v => v.Version).FirstOrDefault(v => v.Id == id));
    }

    public Task<ArtifactManifest> GetManifestAsync(ArtifactVersion version, CancellationToken cancellationToken)
    {
        lock (_gate) return Task.FromResult(_versions.Single(v => v.Version.Id == version.Id).Manifest);
    }

    /// <summary>How long opening a file body takes (a slow server).</summary>
    public TimeSpan OpenDelay { get; set; }

    public async Task<Stream> OpenFileAsync(ArtifactVersion version, ArtifactManifestEntry entry, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref FilesOpened);
        if (OpenDelay > TimeSpan.Zero) await Task.Delay(OpenDelay, cancellationToken);
        lock (_gate) return new MemoryStream(_versions.Single(v => v.Version.Id == version.Id).Files[entry.Path], writable: false);
    }

    public Task<IReadOnlyList<ArtifactVersion>> ListAsync(string entity, string project, string type, string? name, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<ArtifactVersion>>(_versions.Select(v => v.Version)
                .Where(v => v.Entity == entity && v.Project == project && v.Type == type && (name is null || v.Name == name))
                .OrderByDescending(v => v.CreatedAt).ThenByDescending(v => v.VersionIndex).ToList());
        }
    }

    public Task<ArtifactCommit> CommitAsync(NewArtifact artifact, CancellationToken cancellationToken)
    {
        var files = artifact.Files.ToDictionary(f => f.Key, f => File.ReadAllBytes(f.Value), StringComparer.Ordinal);
        var manifest = new ArtifactManifest(files.OrderBy(f => f.Key, StringComparer.Ordinal)
            .Select(f => new ArtifactManifestEntry(f.Key, ArtifactDigest.OfBytes(f.Value), f.Value.Length)).ToList());
        var digest = ArtifactDigest.OfManifest(manifest);
        lock (_gate)
        {
            var collection = _versions.Where(v => v.Version.Entity == artifact.Entity && v.Version.Project == artifact.Project && v.Version.Name == artifact.Name).ToList();
            var aliases = artifact.Aliases.Append(ArtifactPath.Latest).Distinct().ToList();
            var same = collection.FirstOrDefault(v => v.Version.Digest == digest);
            for (var i = 0; i < _versions.Count; i++)
            {
                var v = _versions[i];
                if (v.Version.Entity == artifact.Entity && v.Version.Project == artifact.Project && v.Version.Name == artifact.Name && v.Version.Digest != digest)
                {
                    _versions[i] = v with { Version = v.Version with { Aliases = v.Version.Aliases.Except(aliases).ToList() } };
                }
            }
            if (same.Version is not null)
            {
                var index = _versions.FindIndex(v => v.Version.Id == same.Version.Id);
                var updated = same.Version with { Aliases = same.Version.Aliases.Union(aliases).ToList() };
                _versions[index] = same with { Version = updated };
                return Task.FromResult(new ArtifactCommit(updated, ArtifactCommitKind.Unchanged));
            }
            var version = new ArtifactVersion
            {
                Id = Guid.NewGuid().ToString("N"),
                Entity = artifact.Entity,
                Project = artifact.Project,
                Name = artifact.Name,
                Type = artifact.Type,
                VersionIndex = collection.Count,
                Aliases = aliases,
                Digest = digest,
                Size = files.Sum(f => (long)f.Value.Length),
                Description = artifact.Description,
                Metadata = artifact.Metadata,
                CreatedAt = DateTimeOffset.UtcNow,
            };
            _versions.Add((version, manifest, files));
            return Task.FromResult(new ArtifactCommit(version, collection.Count == 0 ? ArtifactCommitKind.Created : ArtifactCommitKind.Updated));
        }
    }

    /// <summary>Serves <paramref name="bytes"/> for a file of a version from now on, its manifest unchanged.</summary>
    public void Tamper(ArtifactVersion version, string path, byte[] bytes)
    {
        lock (_gate) _versions.Single(v => v.Version.Id == version.Id).Files[path] = bytes;
    }

    /// <summary>Marks a version deleted (W&amp;B's state DELETED).</summary>
    public void Delete(ArtifactVersion version)
    {
        lock (_gate)
        {
            var index = _versions.FindIndex(v => v.Version.Id == version.Id);
            _versions[index] = _versions[index] with { Version = _versions[index].Version with { State = "DELETED" } };
        }
    }
}
