using System.Text.Json.Nodes;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;

namespace WandbLaunch.Engine.HostileInputTests;

/// <summary>A real store file, queues, and local-process agents on it, each with its own backend as in another process.</summary>
public sealed class FaultsAgentHarness : IAsyncDisposable
{
    public const string Entity = "ent";
    private readonly TestAgents _agents = new();

    public FaultsAgentHarness(string? directory = null)
    {
        Root = directory ?? Dir.Path;
        Directory.CreateDirectory(CodeDirectory);
        Backend = new SqliteLaunchBackend(DbPath, Entity);
        Backend.EnsureOpen();
    }

    public TempDirectory Dir { get; } = new();

    public string Root { get; }

    public string DbPath => Path.Combine(Root, "launch.db");

    public string CodeDirectory => Path.Combine(Root, "code");

    public SqliteLaunchBackend Backend { get; }

    public static QueueKey Key(string name) => new(Entity, LaunchDefaults.Project, name);

    public Task<QueueKey> QueueAsync(string name) => TestQueues.CreateAsync(Backend, Entity, name);

    public Task<LaunchJob> SubmitAsync(QueueKey queue, params string[] entryPoint)
    {
        var spec = new JsonObject
        {
            ["entity"] = Entity, ["project"] = "proj", ["uri"] = CodeDirectory,
            ["overrides"] = new JsonObject { ["entry_point"] = new JsonArray(entryPoint.Select(e => (JsonNode?)e).ToArray()) },
        };
        return Backend.PushAsync(queue, new PushRequest { Spec = spec }, CancellationToken.None);
    }

    public RunningAgent StartAgent(IReadOnlyList<string> queues, TimeSpan? lease = null, long? maxLogBytes = null, TimeSpan? busyTimeout = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var options = TestAgents.Options(new LaunchAgentConfig { Queues = queues, Entity = Entity, MaxJobs = -1 }, Path.Combine(Root, "runs"),
            TestAgents.EnvironmentOf(environment), "faults-agent", lease, TimeSpan.FromMilliseconds(100), maxLogBytes: maxLogBytes);
        var backend = busyTimeout is { } t ? new SqliteLaunchBackend(DbPath, Entity, t) : new SqliteLaunchBackend(DbPath, Entity);
        return _agents.Start(backend, options, ownsBackend: true);
    }

    public async ValueTask DisposeAsync()
    {
        await _agents.DisposeAsync();
        Backend.Dispose();
        Dir.Dispose();
    }
}
