using System.Diagnostics;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
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
    private readonly List<RunningAgent> _agents = [];

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

    public sealed class RunningAgent
    {
        public required LaunchAgent Agent { get; init; }
        public required Task Run { get; init; }
        public required CancellationTokenSource Cancellation { get; init; }
        public required RecordingAgentEvents Events { get; init; }
        public required SqliteLaunchBackend Backend { get; init; }
    }

    public RunningAgent StartAgent(IReadOnlyList<string> queues, TimeSpan? lease = null, long? maxLogBytes = null, TimeSpan? busyTimeout = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var env = environment ?? new Dictionary<string, string>();
        var options = new AgentOptions
        {
            Config = new LaunchAgentConfig { Queues = queues, Entity = Entity, MaxJobs = -1 },
            Name = "faults-agent",
            PollingInterval = TimeSpan.FromMilliseconds(100),
            Lease = lease ?? TimeSpan.FromSeconds(5),
            StartTimeout = TimeSpan.FromSeconds(60),
            Environment = name => env.TryGetValue(name, out var value) ? value : null,
            WorkDirectory = Path.Combine(Root, "runs"),
            MaxLogBytes = maxLogBytes ?? CappedLogStream.DefaultMaxBytes,
        };
        var backend = busyTimeout is { } t ? new SqliteLaunchBackend(DbPath, Entity, t) : new SqliteLaunchBackend(DbPath, Entity);
        var events = new RecordingAgentEvents();
        var agent = new LaunchAgent(backend, options, events);
        var cts = new CancellationTokenSource();
        var running = new RunningAgent { Agent = agent, Run = Task.Run(() => agent.RunAsync(cts.Token)), Cancellation = cts, Events = events, Backend = backend };
        _agents.Add(running);
        return running;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var agent in _agents)
        {
            agent.Cancellation.Cancel();
            try
            {
                await agent.Run.WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (Exception)
            {
                // The test that owns it has asserted what it needed.
            }
            agent.Backend.Dispose();
        }
        Backend.Dispose();
        Dir.Dispose();
    }
}
