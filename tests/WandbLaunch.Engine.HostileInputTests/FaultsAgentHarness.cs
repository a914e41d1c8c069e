using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;

namespace WandbLaunch.Engine.HostileInputTests;

/// <summary>A real store file, queues, and local-process agents on it, each with its own backend as in another process.</summary>
public sealed class FaultsAgentHarness : IAsyncDisposable
{
    public const string Entity = "ent";
    private readonly TestAgents _agents = new();
    private readonly TempStore _store;

    public FaultsAgentHarness(string? directory = null)
    {
        _store = new TempStore(Entity, directory);
        Directory.CreateDirectory(CodeDirectory);
    }

    public TempDirectory Dir => _store.Dir;

    public string Root => _store.Root;

    public string DbPath => _store.DbPath;

    public string CodeDirectory => Path.Combine(Root, "code");

    public SqliteLaunchBackend Backend => _store.Backend;

    public static QueueKey Key(string name) => new(Entity, LaunchDefaults.Project, name);

    public Task<QueueKey> QueueAsync(string name) => TestQueues.CreateAsync(Backend, Entity, name);

    public Task<LaunchJob> SubmitAsync(QueueKey queue, params string[] entryPoint) =>
        Backend.PushAsync(queue, new PushRequest { Spec = TestSpecs.LocalProcess(CodeDirectory, entryPoint, Entity, "proj") }, CancellationToken.None);

    /// <summary>The grace a stopped job's processes get before SIGKILL (stopped_run_timeout): short, since some jobs here ignore SIGTERM.</summary>
    public const int StoppedRunTimeout = 2;

    public RunningAgent StartAgent(IReadOnlyList<string> queues, TimeSpan? lease = null, long? maxLogBytes = null, TimeSpan? busyTimeout = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var options = TestAgents.Options(new LaunchAgentConfig { Queues = queues, Entity = Entity, MaxJobs = -1, StoppedRunTimeout = StoppedRunTimeout }, Path.Combine(Root, "runs"),
            TestAgents.EnvironmentOf(environment), "faults-agent", lease, TimeSpan.FromMilliseconds(100), maxLogBytes: maxLogBytes);
        return busyTimeout is { } timeout
            ? _agents.Start(new SqliteLaunchBackend(DbPath, Entity, timeout), options, ownsBackend: true)
            : _agents.Start(_store.Open(), options);
    }

    public async ValueTask DisposeAsync()
    {
        await _agents.DisposeAsync();
        _store.Dispose();
    }
}
