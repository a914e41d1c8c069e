using System.Text.Json.Nodes;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;

namespace WandbLaunch.Engine.JobTests;

/// <summary>A store file in a temp directory (<see cref="TempStore"/>), with helpers to make queues and push items.</summary>
public sealed class Store : IDisposable
{
    public const string Entity = "ent";
    private readonly TempStore _file = new(Entity);

    public TempDirectory Dir => _file.Dir;

    public string DbPath => _file.DbPath;

    public SqliteLaunchBackend Backend => _file.Backend;

    /// <summary>Another backend instance on the same file: its own connections and change watcher, as another process has.</summary>
    public SqliteLaunchBackend Open() => _file.Open();

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

    public void Dispose() => _file.Dispose();
}
