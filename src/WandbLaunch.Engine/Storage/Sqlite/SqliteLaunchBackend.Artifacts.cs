using WandbLaunch.Engine.Artifacts;

namespace WandbLaunch.Engine.Storage.Sqlite;

/// <summary>Artifacts (W&amp;B jobs and their code) on the local store: tables in the store file, files in <c>artifacts/</c> beside it.</summary>
public sealed partial class SqliteLaunchBackend
{
    private SqliteArtifactStore? _artifacts;

    /// <summary>The local store's artifacts; independent of queues and items (deleting those leaves artifacts alone).</summary>
    public IArtifactStore Artifacts => LocalArtifacts;

    /// <summary>The same store, typed, for what only the local store has (where its files are).</summary>
    public SqliteArtifactStore LocalArtifacts =>
        LazyInitializer.EnsureInitialized(ref _artifacts, () => new SqliteArtifactStore(this, ArtifactDirectory));

    /// <summary><c>&lt;folder of the store file&gt;/artifacts</c>: the files of its artifacts, under <c>obj/md5/&lt;2 hex&gt;/&lt;rest&gt;</c>.</summary>
    public string ArtifactDirectory => Path.Combine(Path.GetDirectoryName(_db.Path)!, "artifacts");
}
