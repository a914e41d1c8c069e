using System.Text.Json.Nodes;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;

namespace WandbLaunch.Engine.JobTests;

/// <summary>A store file in a temp directory, with helpers to make queues and push items.</summary>
public sealed class Store : IDisposable
{
    public const string Entity = "ent";
    private readonly List<SqliteLaunchBackend> _backends = [];

    public Store()
    {
        Backend = Open();
    }

    public TempDirectory Dir { get; } = new();

    public string DbPath => Dir.File("launch.db");

    public SqliteLaunchBackend Backend { get; }

    /// <summary>Another backend instance on the same file: its own connections and change watcher, as another process has.</summary>
    public SqliteLaunchBackend Open()
    {
        var backend = new SqliteLaunchBackend(DbPath, Entity);
        backend.EnsureOpen();
        lock (_backends) _backends.Add(backend);
        return backend;
    }

    public static QueueKey Key(string name) => new(Entity, LaunchDefaults.Project, name);

    public Task<QueueKey> QueueAsync(string name, bool prioritization = false, string resource = LaunchResource.LocalProcess,
        string? config = null, string? variables = null) =>
        TestQueues.CreateAsync(Backend, Entity, name, resource, config, prioritization, variables);

    public Task<LaunchJob> PushAsync(QueueKey queue, string spec, LaunchPriority? priority = null) =>
        Backend.PushAsync(queue, new PushRequest { Spec = (JsonObject)JsonNode.Parse(spec)!, Priority = priority }, CancellationToken.None);

    public Task<LaunchJob> PushAsync(QueueKey queue, JsonObject spec, LaunchPriority? priority = null) =>
        Backend.PushAsync(queue, new PushRequest { Spec = spec, Priority = priority }, CancellationToken.None);

    public async Task<LaunchJob> JobAsync(string id) =>
        await Backend.GetJobAsync(id, CancellationToken.None) ?? throw new Xunit.Sdk.XunitException($"job {id} is gone");

    public void Dispose()
    {
        lock (_backends)
        {
            foreach (var backend in _backends) backend.Dispose();
        }
        Dir.Dispose();
    }
}
