using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Storage.Wandb;
using WandbLaunch.TestSupport;

namespace WandbLaunch.Tests.WandbServer;

/// <summary>
/// The set-up every engine test against the stand-in shares: a server with user <see cref="Entity"/>, a temporary
/// host directory (job logs and job records), queue <c>q</c>, a fake runner, and the agents and backends made on it,
/// all disposed together. Each <see cref="Open"/> is a backend of its own, as another process on the host has.
/// </summary>
public sealed class WandbTestBed : IAsyncDisposable
{
    public const string Entity = "alice";

    private readonly List<WandbLaunchBackend> _backends = [];

    private WandbTestBed(Func<WandbConnection, WandbConnection>? configure)
    {
        ApiKey = Server.AddUser(Entity);
        var connection = new WandbConnection(Server.Url, WandbApiKey.Of(ApiKey, "test")) { Entity = Entity, HostDirectory = Directory.File("host") };
        Connection = configure?.Invoke(connection) ?? connection;
        Backend = Open();
    }

    /// <summary>A bed with queue <c>q</c>; <paramref name="configure"/> changes the connection every backend uses (retry budgets, timeouts).</summary>
    public static async Task<WandbTestBed> StartAsync(Func<WandbConnection, WandbConnection>? configure = null)
    {
        var bed = new WandbTestBed(configure);
        bed.Queue = await TestQueues.CreateAsync(bed.Backend, Entity, "q");
        return bed;
    }

    public WandbStandIn Server { get; } = new();

    public TempDirectory Directory { get; } = new();

    public TestAgents Agents { get; } = new();

    public FakeRunner Runner { get; } = new();

    public string ApiKey { get; }

    public WandbConnection Connection { get; }

    /// <summary>The backend the test itself pushes and reads through.</summary>
    public WandbLaunchBackend Backend { get; }

    public QueueKey Queue { get; private set; } = null!;

    /// <summary>A new backend on this bed's connection, or on the connection <paramref name="change"/> makes of it.</summary>
    public WandbLaunchBackend Open(Func<WandbConnection, WandbConnection>? change = null)
    {
        var backend = (WandbLaunchBackend)(change?.Invoke(Connection) ?? Connection).Create();
        lock (_backends) _backends.Add(backend);
        return backend;
    }

    public async ValueTask DisposeAsync()
    {
        await Agents.DisposeAsync();
        lock (_backends)
        {
            foreach (var backend in _backends) backend.Dispose();
        }
        Server.Dispose();
        Directory.Dispose();
    }
}
