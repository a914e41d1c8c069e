using System.Reflection;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Engine.Tests.WandbJobs;

/// <summary>
/// An artifact store in memory, with the contract's rules (versions by digest, aliases moved to the newest version
/// that gets them, W&amp;B's not-found errors). A stand-in until the local store's artifacts land: the integrator swaps
/// it for the SQLite store.
/// </summary>
public sealed class InMemoryArtifactStore : IArtifactStore
{
    private sealed record Stored(ArtifactVersion Version, ArtifactManifest Manifest, Dictionary<string, byte[]> Content);

    private readonly List<Stored> _versions = [];
    private readonly object _lock = new();

    /// <summary>Every version stored, oldest first.</summary>
    public IReadOnlyList<ArtifactVersion> All
    {
        get
        {
            lock (_lock) return _versions.Select(v => v.Version).ToList();
        }
    }

    /// <summary>A stored file's bytes.</summary>
    public byte[] Content(ArtifactVersion version, string path)
    {
        lock (_lock) return _versions.Single(v => v.Version.Id == version.Id).Content[path];
    }

    public string Text(ArtifactVersion version, string path) => System.Text.Encoding.UTF8.GetString(Content(version, path));

    public Task<ArtifactVersion> GetAsync(ArtifactPath path, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var collection = Collection(path.Entity, path.Project, path.Name);
            if (collection.Count == 0)
            {
                throw LaunchException.NotFound("ArtifactNotFound", $"The project {path.Entity}/{path.Project} has no artifact {path.Name}.", path.ToString());
            }
            var found = path.VersionIndex is { } index
                ? collection.FirstOrDefault(v => v.Version.VersionIndex == index)
                : collection.FirstOrDefault(v => v.Version.Aliases.Contains(path.Alias));
            return Task.FromResult(found?.Version ?? throw LaunchException.NotFound("ArtifactAliasNotFound",
                $"The artifact {path.Collection} has no version or alias {path.Alias}.", path.ToString()));
        }
    }

    public Task<ArtifactVersion?> GetByIdAsync(string id, CancellationToken cancellationToken)
    {
        lock (_lock) return Task.FromResult(_versions.FirstOrDefault(v => v.Version.Id == id)?.Version);
    }

    public Task<ArtifactManifest> GetManifestAsync(ArtifactVersion version, CancellationToken cancellationToken)
    {
        lock (_lock) return Task.FromResult(_versions.Single(v => v.Version.Id == version.Id).Manifest);
    }

    public Task<Stream> OpenFileAsync(ArtifactVersion version, ArtifactManifestEntry entry, CancellationToken cancellationToken) =>
        Task.FromResult<Stream>(new MemoryStream(Content(version, entry.Path), writable: false));

    public Task<IReadOnlyList<ArtifactVersion>> ListAsync(string entity, string project, string type, string? name, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<ArtifactVersion>>(_versions
                .Where(v => v.Version.Entity == entity && v.Version.Project == project && v.Version.Type == type && (name is null || v.Version.Name == name))
                .Select(v => v.Version)
                .OrderByDescending(v => v.CreatedAt).ThenByDescending(v => v.VersionIndex)
                .ToList());
        }
    }

    public async Task<ArtifactCommit> CommitAsync(NewArtifact artifact, CancellationToken cancellationToken)
    {
        var content = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var entries = new List<ArtifactManifestEntry>();
        foreach (var (path, file) in artifact.Files)
        {
            ArtifactManifestJson.CheckPath(path, artifact.Name);
            var bytes = await File.ReadAllBytesAsync(file, cancellationToken);
            content[path] = bytes;
            entries.Add(new ArtifactManifestEntry(path, ArtifactDigest.OfBytes(bytes), bytes.Length));
        }
        var manifest = new ArtifactManifest(entries);
        var digest = ArtifactDigest.OfManifest(manifest);
        var aliases = artifact.Aliases.Append(ArtifactPath.Latest).Distinct().ToList();
        lock (_lock)
        {
            var collection = Collection(artifact.Entity, artifact.Project, artifact.Name);
            if (collection.Count > 0 && collection[0].Version.Type != artifact.Type)
            {
                throw new LaunchException("ArtifactTypeMismatch", LaunchErrorCategory.InvalidOperation, $"{artifact.Name} is of type {collection[0].Version.Type}.");
            }
            var same = collection.FirstOrDefault(v => v.Version.Digest == digest);
            var kind = same is not null ? ArtifactCommitKind.Unchanged : collection.Count == 0 ? ArtifactCommitKind.Created : ArtifactCommitKind.Updated;
            foreach (var other in collection.Where(v => v != same))
            {
                Replace(other, other.Version with { Aliases = other.Version.Aliases.Except(aliases).ToList() });
            }
            ArtifactVersion version;
            if (same is not null)
            {
                version = same.Version with { Aliases = same.Version.Aliases.Union(aliases).ToList() };
                Replace(same, version);
            }
            else
            {
                version = new ArtifactVersion
                {
                    Id = Guid.NewGuid().ToString("N"),
                    Entity = artifact.Entity,
                    Project = artifact.Project,
                    Name = artifact.Name,
                    Type = artifact.Type,
                    VersionIndex = collection.Count,
                    Aliases = aliases,
                    Digest = digest,
                    Size = entries.Sum(e => e.Size),
                    Description = artifact.Description,
                    Metadata = artifact.Metadata?.DeepClone().AsObject(),
                    CreatedAt = DateTimeOffset.UtcNow,
                };
                _versions.Add(new Stored(version, manifest, content));
            }
            return new ArtifactCommit(version, kind);
        }
    }

    private List<Stored> Collection(string entity, string project, string name) =>
        _versions.Where(v => v.Version.Entity == entity && v.Version.Project == project && v.Version.Name == name).ToList();

    private void Replace(Stored old, ArtifactVersion version) => _versions[_versions.IndexOf(old)] = old with { Version = version };
}

/// <summary>A backend that passes every call to a real one, but keeps its artifacts in an <see cref="InMemoryArtifactStore"/>; <see cref="SubmitUriAsJob"/> can be switched on, as a W&amp;B server has it.</summary>
public class ArtifactBackend : DispatchProxy
{
    private ILaunchBackend _inner = null!;
    private InMemoryArtifactStore _store = null!;
    private bool _submitUriAsJob;

    public static ILaunchBackend Wrap(ILaunchBackend inner, InMemoryArtifactStore store, bool submitUriAsJob = false)
    {
        var proxy = Create<ILaunchBackend, ArtifactBackend>();
        var self = (ArtifactBackend)(object)proxy;
        self._inner = inner;
        self._store = store;
        self._submitUriAsJob = submitUriAsJob;
        return proxy;
    }

    protected override object? Invoke(MethodInfo? method, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(method);
        if (method.Name == "get_" + nameof(ILaunchBackend.Artifacts)) return _store;
        if (method.Name == "get_" + nameof(ILaunchBackend.SubmitUriAsJob)) return _submitUriAsJob;
        try
        {
            return method.Invoke(_inner, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
    }
}
