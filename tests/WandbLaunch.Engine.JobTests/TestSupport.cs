using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;

namespace WandbLaunch.Engine.JobTests;

/// <summary>A fresh directory under the system temp folder, deleted on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "wbl-jobtests-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

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

    public async Task<QueueKey> QueueAsync(string name, bool prioritization = false, string resource = LaunchResource.LocalProcess,
        string? config = null, string? variables = null)
    {
        await Backend.CreateQueueAsync(new QueueDefinition
        {
            Name = name,
            Entity = Entity,
            Project = LaunchDefaults.Project,
            Resource = resource,
            Prioritization = prioritization,
            Configuration = config is null ? null : JsonNode.Parse(config),
            TemplateVariables = variables is null ? null : (JsonObject)JsonNode.Parse(variables)!,
        }, CancellationToken.None);
        return Key(name);
    }

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

public static class Wait
{
    /// <summary>Polls <paramref name="condition"/> until it holds; fails with <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(15);
        while (true)
        {
            if (await condition()) return;
            if (deadline.Elapsed > limit) throw new Xunit.Sdk.XunitException($"Timed out after {limit.TotalSeconds:0.#} s waiting for: {what}");
            await Task.Delay(20);
        }
    }

    public static Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        UntilAsync(() => Task.FromResult(condition()), what, timeout);

    /// <summary>Waits until the job reaches a final state and returns it.</summary>
    public static async Task<LaunchJob> ForEndAsync(ILaunchBackend backend, string id, TimeSpan? timeout = null)
    {
        LaunchJob? job = null;
        await UntilAsync(async () =>
        {
            job = await backend.GetJobAsync(id, CancellationToken.None);
            return job is not null && job.State.IsTerminal();
        }, $"job {id} to end (last seen {job?.State})", timeout);
        return job!;
    }

    public static async Task<LaunchJob> ForStateAsync(ILaunchBackend backend, string id, LaunchJobState state, TimeSpan? timeout = null)
    {
        LaunchJob? job = null;
        await UntilAsync(async () =>
        {
            job = await backend.GetJobAsync(id, CancellationToken.None);
            return job?.State == state;
        }, $"job {id} to be {state} (last seen {job?.State})", timeout);
        return job!;
    }
}

public static class Assertions
{
    public static async Task<LaunchException> ThrowsLaunchAsync(string errorId, Func<Task> action)
    {
        var e = await Assert.ThrowsAsync<LaunchException>(action);
        Assert.Equal(errorId, e.ErrorId);
        return e;
    }

    public static LaunchException ThrowsLaunch(string errorId, Action action)
    {
        var e = Assert.Throws<LaunchException>(action);
        Assert.Equal(errorId, e.ErrorId);
        return e;
    }

    /// <summary>Asserts two JSON trees are equal (compared as compact JSON).</summary>
    public static void JsonEqual(string expected, JsonNode? actual) =>
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), actual), $"expected {JsonNode.Parse(expected)!.ToJsonString()}\nactual   {actual?.ToJsonString() ?? "null"}");
}

/// <summary>Keeps every event an agent reports.</summary>
public sealed class CapturingEvents : IAgentEvents
{
    private readonly ConcurrentQueue<AgentEvent> _events = new();

    public void Report(AgentEvent agentEvent) => _events.Enqueue(agentEvent);

    public IReadOnlyList<AgentEvent> All => _events.ToArray();

    public bool Any(Func<AgentEvent, bool> predicate) => _events.Any(predicate);

    public override string ToString() => string.Join("\n", _events.Select(e => $"{e.Kind}: {e.Message}"));
}
