using System.Reflection;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;

namespace WandbLaunch.TestSupport;

/// <summary>
/// The one place tests get an artifact store for the local store's backends: the real one (SQLite tables and the
/// content-addressed files beside the store file), shared through the file by every backend opened on it.
/// </summary>
public static class TestArtifacts
{
    /// <summary>The artifact store of the store <paramref name="backend"/> is open on.</summary>
    public static IArtifactStore For(ILaunchBackend backend) => backend.Artifacts;

    /// <summary>The backend an agent gets: <paramref name="backend"/> itself, or (for a fault the real store cannot produce) with <paramref name="artifacts"/> as its <c>Artifacts</c>.</summary>
    public static ILaunchBackend Agent(ILaunchBackend backend, IArtifactStore? artifacts = null) =>
        artifacts is null ? backend : BackendProxy.Wrap(backend, artifacts);

    /// <summary>
    /// Where the local store keeps the bytes of <paramref name="path"/> of <paramref name="version"/>
    /// (<c>&lt;store dir&gt;/artifacts/obj/md5/&lt;2 hex&gt;/&lt;rest&gt;</c>): a test that changes them corrupts the store on disk.
    /// </summary>
    public static async Task<string> ObjectFileAsync(SqliteLaunchBackend backend, ArtifactVersion version, string path)
    {
        var manifest = await backend.Artifacts.GetManifestAsync(version, CancellationToken.None);
        var entry = manifest.Find(path) ?? throw new InvalidOperationException($"{version} has no file {path}");
        return backend.LocalArtifacts.ObjectPath(entry.Digest);
    }

    /// <summary>The bytes of the file <paramref name="path"/> of <paramref name="version"/>, as stored (unchecked).</summary>
    public static async Task<byte[]> ReadBytesAsync(this IArtifactStore store, ArtifactVersion version, string path)
    {
        var manifest = await store.GetManifestAsync(version, CancellationToken.None);
        var entry = manifest.Find(path) ?? throw new InvalidOperationException($"{version} has no file {path}");
        await using var stream = await store.OpenFileAsync(version, entry, CancellationToken.None);
        using var bytes = new MemoryStream();
        await stream.CopyToAsync(bytes);
        return bytes.ToArray();
    }

    /// <summary>The file <paramref name="path"/> of <paramref name="version"/> as UTF-8 text.</summary>
    public static async Task<string> ReadTextAsync(this IArtifactStore store, ArtifactVersion version, string path) =>
        System.Text.Encoding.UTF8.GetString(await store.ReadBytesAsync(version, path));

    /// <summary>Every version of a project of the types the module logs (jobs and their code) or of <paramref name="types"/>, newest first per type.</summary>
    public static async Task<IReadOnlyList<ArtifactVersion>> AllVersionsAsync(this IArtifactStore store, string entity, string project, params string[] types)
    {
        var all = new List<ArtifactVersion>();
        foreach (var type in types.Length == 0 ? ["job", "code"] : types)
        {
            all.AddRange(await store.ListAsync(entity, project, type, null, CancellationToken.None));
        }
        return all;
    }
}

/// <summary>
/// Passes every call to a real backend, except <c>Artifacts</c> (a decorated store) and <c>SubmitUriAsJob</c> (on,
/// as a W&amp;B server has it), when given.
/// </summary>
public class BackendProxy : DispatchProxy
{
    private ILaunchBackend _inner = null!;
    private IArtifactStore? _artifacts;
    private bool? _submitUriAsJob;

    public static ILaunchBackend Wrap(ILaunchBackend inner, IArtifactStore? artifacts = null, bool? submitUriAsJob = null)
    {
        var proxy = Create<ILaunchBackend, BackendProxy>();
        var self = (BackendProxy)(object)proxy;
        self._inner = inner;
        self._artifacts = artifacts;
        self._submitUriAsJob = submitUriAsJob;
        return proxy;
    }

    protected override object? Invoke(MethodInfo? method, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(method);
        if (method.Name == "get_" + nameof(ILaunchBackend.Artifacts) && _artifacts is not null) return _artifacts;
        if (method.Name == "get_" + nameof(ILaunchBackend.SubmitUriAsJob) && _submitUriAsJob is { } submitUriAsJob) return submitUriAsJob;
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
