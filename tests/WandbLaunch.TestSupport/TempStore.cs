using WandbLaunch.Engine.Storage.Sqlite;

namespace WandbLaunch.TestSupport;

/// <summary>
/// A SQLite store file in a temporary folder (or in a folder the test gives). Each <see cref="Open"/> is a backend
/// of its own on the file, with its own connections and change watcher, as another process has; disposing closes
/// them all, then deletes the temporary folder.
/// </summary>
public sealed class TempStore : IDisposable
{
    private readonly List<SqliteLaunchBackend> _backends = [];

    public TempStore(string entity, string? directory = null)
    {
        Entity = entity;
        Root = directory ?? Dir.Path;
        Backend = Open();
    }

    public string Entity { get; }

    /// <summary>A temporary folder, deleted on dispose; the store is in it unless the test gave another folder.</summary>
    public TempDirectory Dir { get; } = new();

    /// <summary>The folder that holds the store file.</summary>
    public string Root { get; }

    public string DbPath => Path.Combine(Root, "launch.db");

    /// <summary>The first backend opened on the file.</summary>
    public SqliteLaunchBackend Backend { get; }

    /// <summary>Another backend on the same file (created and migrated before it is returned).</summary>
    public SqliteLaunchBackend Open()
    {
        var backend = new SqliteLaunchBackend(DbPath, Entity);
        backend.EnsureOpen();
        lock (_backends) _backends.Add(backend);
        return backend;
    }

    public void Dispose()
    {
        lock (_backends)
        {
            foreach (var backend in _backends) backend.Dispose();
        }
        Dir.Dispose();
    }
}
