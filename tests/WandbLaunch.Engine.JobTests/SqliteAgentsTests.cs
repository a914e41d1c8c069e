using System.Collections.Concurrent;
using System.Diagnostics;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Storage.Sqlite;
using static WandbLaunch.Engine.JobTests.Assertions;

namespace WandbLaunch.Engine.JobTests;

public sealed class SqliteAgentsTests : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly Store _store = new();

    public void Dispose() => _store.Dispose();

    private Task<LaunchAgentInfo> RegisterAsync(params QueueKey[] queues) =>
        _store.Backend.RegisterAgentAsync(new AgentRegistration
        {
            Name = "agent-one", Entity = Store.Entity, Queues = queues, ConfigJson = """{"max_jobs": 3}""", MaxJobs = 3,
            Hostname = "host-1", ProcessId = 4242, Version = "9.8.7",
        }, None);

    [Fact]
    public async Task A_registered_agent_is_polling_with_what_it_said_about_itself()
    {
        var queue = await _store.QueueAsync("q");
        var info = await RegisterAsync(queue, Store.Key("other"));
        Assert.StartsWith("agent-", info.Id);
        Assert.Equal("agent-one", info.Name);
        Assert.Equal(AgentStatus.Polling, info.Status);
        Assert.Equal("host-1", info.Hostname);
        Assert.Equal(4242, info.ProcessId);
        Assert.Equal("9.8.7", info.Version);
        Assert.Equal(3, info.MaxJobs);
        Assert.Equal(Store.Entity, info.Entity);
        Assert.Equal([queue.ToString(), Store.Key("other").ToString()], info.Queues);
        Assert.False(info.StopRequested);
        Assert.False(info.Unresponsive);
        Assert.Equal(0, info.ActiveJobs);

        var listed = Assert.Single(await _store.Open().GetAgentsAsync(None));
        Assert.Equal(info.Id, listed.Id);
        Assert.Null(await _store.Backend.GetAgentAsync("agent-nope", None));
    }

    [Fact]
    public async Task Status_and_stop_flag_are_recorded()
    {
        var info = await RegisterAsync();
        await _store.Backend.SetAgentStatusAsync(info.Id, AgentStatus.Running, None);
        Assert.Equal(AgentStatus.Running, (await _store.Backend.GetAgentAsync(info.Id, None))!.Status);

        Assert.False((await _store.Backend.HeartbeatAsync(info.Id, Long, None)).StopRequested);
        await _store.Open().RequestAgentStopAsync(info.Id, None);
        Assert.True((await _store.Backend.GetAgentAsync(info.Id, None))!.StopRequested);
        var beat = await _store.Backend.HeartbeatAsync(info.Id, Long, None);
        Assert.True(beat.StopRequested);
        Assert.False(beat.LeaveJobsRunning);
        await _store.Open().RequestAgentStopAsync(info.Id, None, leaveJobsRunning: true);
        beat = await _store.Backend.HeartbeatAsync(info.Id, Long, None);
        Assert.True(beat.StopRequested);
        Assert.True(beat.LeaveJobsRunning);
        Assert.True((await _store.Backend.GetAgentAsync(info.Id, None))!.StopRequested);

        await _store.Backend.SetAgentStatusAsync(info.Id, AgentStatus.Killed, None);
        Assert.Equal(AgentStatus.Killed, (await _store.Backend.GetAgentAsync(info.Id, None))!.Status);

        await ThrowsLaunchAsync("AgentNotFound", () => _store.Backend.SetAgentStatusAsync("agent-nope", AgentStatus.Running, None));
        await ThrowsLaunchAsync("AgentNotFound", () => _store.Backend.RequestAgentStopAsync("agent-nope", None));
        await ThrowsLaunchAsync("AgentNotFound", () => _store.Backend.HeartbeatAsync("agent-nope", Long, None));
    }

    [Fact]
    public async Task Heartbeat_renews_the_leases_of_the_agent_items_only()
    {
        var queue = await _store.QueueAsync("q");
        var info = await RegisterAsync(queue);
        var mine = await _store.PushAsync(queue, """{"uri": "/tmp/code", "name": "mine"}""");
        var theirs = await _store.PushAsync(queue, """{"uri": "/tmp/code", "name": "theirs"}""");
        await _store.Backend.PopAsync(info.Id, queue, TimeSpan.FromMilliseconds(200), None);
        var other = await _store.Backend.PopAsync("agent-other", queue, TimeSpan.FromMilliseconds(200), None);
        Assert.Equal(theirs.Id, other!.Id);

        var beat = await _store.Backend.HeartbeatAsync(info.Id, TimeSpan.FromSeconds(60), None);
        Assert.Equal([mine.Id], beat.HeldJobs);
        Assert.Empty(beat.JobsToStop);
        Assert.False(beat.StopRequested);
        Assert.True((await _store.JobAsync(mine.Id)).LeaseExpiresAt > DateTimeOffset.UtcNow.AddSeconds(50));
        Assert.Equal(1, (await _store.Backend.GetAgentAsync(info.Id, None))!.ActiveJobs);

        // Once the original 200 ms have passed, the renewed item stays with its agent; the other one is free.
        await Eventually.Until(() => DateTimeOffset.UtcNow > other.LeaseExpiresAt!.Value.AddMilliseconds(20), "the short leases to expire");
        var next = await _store.Open().PopAsync("agent-third", queue, Long, None);
        Assert.Equal(theirs.Id, next!.Id);
        Assert.Null(await _store.Backend.PopAsync("agent-third", queue, Long, None));
        Assert.Equal(info.Id, (await _store.JobAsync(mine.Id)).AgentId);
    }

    [Fact]
    public async Task An_agent_that_stops_reporting_is_shown_unresponsive()
    {
        var info = await RegisterAsync();
        var saved = SqliteLaunchBackend.UnresponsiveAfter;
        try
        {
            SqliteLaunchBackend.UnresponsiveAfter = TimeSpan.FromMilliseconds(50);
            await Eventually.Until(async () => (await _store.Backend.GetAgentAsync(info.Id, None))!.Unresponsive, "the agent to look unresponsive");
            await _store.Backend.SetAgentStatusAsync(info.Id, AgentStatus.Killed, None);
            SqliteLaunchBackend.UnresponsiveAfter = TimeSpan.Zero;
            Assert.False((await _store.Backend.GetAgentAsync(info.Id, None))!.Unresponsive);
        }
        finally
        {
            SqliteLaunchBackend.UnresponsiveAfter = saved;
        }
    }

    [Fact]
    public async Task WaitForChange_returns_promptly_after_a_commit_from_another_connection()
    {
        var queue = await _store.QueueAsync("q");
        using var other = new SqliteLaunchBackend(_store.DbPath, Store.Entity);
        // A first wait establishes what "unchanged" is.
        await _store.Backend.WaitForChangeAsync(TimeSpan.FromMilliseconds(50), None);

        var clock = Stopwatch.StartNew();
        var wait = _store.Backend.WaitForChangeAsync(TimeSpan.FromSeconds(20), None);
        await Task.Delay(200);
        Assert.False(wait.IsCompleted, "nothing changed yet");
        await other.PushAsync(queue, new PushRequest { Spec = (System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse("""{"uri": "/tmp/code"}""")! }, None);
        var pushedAt = clock.Elapsed;
        var winner = await Task.WhenAny(wait, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.Same(wait, winner);
        Assert.True(clock.Elapsed - pushedAt < TimeSpan.FromSeconds(3), $"woke {clock.Elapsed - pushedAt} after the commit");
    }

    [Fact]
    public async Task WaitForChange_returns_at_once_after_a_commit_through_the_same_backend()
    {
        var queue = await _store.QueueAsync("q");
        await _store.Backend.WaitForChangeAsync(TimeSpan.FromMilliseconds(50), None);
        var wait = _store.Backend.WaitForChangeAsync(TimeSpan.FromSeconds(20), None);
        await _store.PushAsync(queue, """{"uri": "/tmp/code"}""");
        Assert.Same(wait, await Task.WhenAny(wait, Task.Delay(TimeSpan.FromSeconds(10))));
    }

    [Fact]
    public async Task WaitForChange_waits_out_its_timeout_when_nothing_changes()
    {
        await _store.QueueAsync("q");
        await _store.Backend.WaitForChangeAsync(TimeSpan.FromMilliseconds(50), None);
        // Reads through this and other backends are not changes.
        _ = await _store.Open().GetQueuesAsync(null, null, None);
        var clock = Stopwatch.StartNew();
        var wait = _store.Backend.WaitForChangeAsync(TimeSpan.FromMilliseconds(600), None);
        _ = await _store.Backend.GetQueuesAsync(null, null, None);
        _ = await _store.Backend.PopAsync("agent-a", Store.Key("q"), Long, None);
        await wait;
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(550), $"returned after {clock.Elapsed}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"returned after {clock.Elapsed}");
    }

    [Fact]
    public async Task WaitForChange_ends_when_cancelled()
    {
        await _store.QueueAsync("q");
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var clock = Stopwatch.StartNew();
        try
        {
            await _store.Backend.WaitForChangeAsync(TimeSpan.FromSeconds(30), cts.Token);
        }
        catch (OperationCanceledException)
        {
        }
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Concurrent_agents_each_with_their_own_connection_pop_every_item_exactly_once()
    {
        const int Items = 120;
        const int Agents = 6;
        var queue = await _store.QueueAsync("q", prioritization: true);
        var pushed = new List<string>();
        var priorities = new[] { LaunchPriority.Low, LaunchPriority.Medium, LaunchPriority.High, LaunchPriority.Critical };
        for (var i = 0; i < Items; i++) pushed.Add((await _store.PushAsync(queue, $$"""{"uri": "/tmp/code", "name": "n{{i}}"}""", priorities[i % 4])).Id);

        var popped = new ConcurrentBag<(string Agent, string Id)>();
        using var start = new Barrier(Agents);
        var failures = new ConcurrentBag<Exception>();
        var threads = Enumerable.Range(0, Agents).Select(n => new Thread(() =>
        {
            try
            {
                using var backend = new SqliteLaunchBackend(_store.DbPath, Store.Entity);
                var agent = $"agent-{n}";
                start.SignalAndWait();
                while (backend.PopAsync(agent, queue, Long, None).GetAwaiter().GetResult() is { } job)
                {
                    popped.Add((agent, job.Id));
                    if (job.AgentId != agent || job.Attempts != 1) throw new InvalidOperationException($"{agent} got {job.Id} as {job.AgentId}, attempt {job.Attempts}");
                }
            }
            catch (Exception e)
            {
                failures.Add(e);
            }
        })).ToList();
        foreach (var thread in threads) thread.Start();
        foreach (var thread in threads) Assert.True(thread.Join(TimeSpan.FromSeconds(45)), "a popping thread hung");
        Assert.Empty(failures);

        Assert.Equal(Items, popped.Count);
        Assert.Equal(pushed.Order(), popped.Select(p => p.Id).Order());
        var jobs = await _store.Backend.GetJobsAsync(new JobQuery { Queue = queue }, None);
        Assert.All(jobs, j => Assert.Equal(LaunchJobState.Leased, j.State));
        Assert.All(jobs, j => Assert.Equal(1, j.Attempts));
        Assert.Equal(popped.ToDictionary(p => p.Id, p => p.Agent), jobs.ToDictionary(j => j.Id, j => j.AgentId!));
    }
}
