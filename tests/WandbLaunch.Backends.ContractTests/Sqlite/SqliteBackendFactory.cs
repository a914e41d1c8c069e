using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Backends.ContractTests.Sqlite;

/// <summary>A store file in a temp folder per test; each handle is a <see cref="Engine.Storage.Sqlite.SqliteLaunchBackend"/> of its own on that file. It lacks nothing.</summary>
public sealed class SqliteBackendFactory : IBackendFactory
{
    private readonly TempStore _store = new("contract-entity");

    public IReadOnlyDictionary<BackendCapability, string> Lacks { get; } = new Dictionary<BackendCapability, string>();

    public ILaunchBackend Open() => _store.Open();

    public Task PassTimeAsync(DateTimeOffset moment) =>
        Eventually.Until(() => DateTimeOffset.UtcNow > moment.AddMilliseconds(20), $"the clock to pass {moment:O}");

    public void Dispose() => _store.Dispose();
}
