using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;

namespace WandbLaunch.Backends.ContractTests.Sqlite;

/// <summary>A store file in a temp folder per test; each handle is a <see cref="SqliteLaunchBackend"/> of its own on that file. It lacks nothing.</summary>
public sealed class SqliteBackendFactory : IBackendFactory
{
    private readonly TempDirectory _dir = new();
    private readonly List<SqliteLaunchBackend> _handles = [];

    public IReadOnlyDictionary<BackendCapability, string> Lacks { get; } = new Dictionary<BackendCapability, string>();

    public ILaunchBackend Open()
    {
        var backend = new SqliteLaunchBackend(_dir.File("launch.db"), "contract-entity");
        backend.EnsureOpen();
        lock (_handles) _handles.Add(backend);
        return backend;
    }

    public Task PassTimeAsync(DateTimeOffset moment) =>
        Eventually.Until(() => DateTimeOffset.UtcNow > moment.AddMilliseconds(20), $"the clock to pass {moment:O}");

    public void Dispose()
    {
        lock (_handles)
        {
            foreach (var handle in _handles) handle.Dispose();
        }
        _dir.Dispose();
    }
}
