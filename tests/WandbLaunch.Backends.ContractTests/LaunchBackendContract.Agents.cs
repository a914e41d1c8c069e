using System.Collections.Concurrent;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Backends.ContractTests;

/// <summary>Agents: registration, status, heartbeats with stop requests, agent stop; and many agents popping at once.</summary>
public abstract partial class LaunchBackendContract<TFactory>
{
    private Task<LaunchAgentInfo> RegisterAsync(params QueueKey[] queues) =>
        Backend.RegisterAgentAsync(new AgentRegistration
        {
            Name = "agent-one", Entity = Entity, Queues = queues, ConfigJson = """{"max_jobs": 3}""", MaxJobs = 3,
            Hostname = "host-1", ProcessId = 4242, Version = "9.8.7",
        }, None);

    [Fact]
    public async Task A_registered_agent_is_polling_with_what_it_said_about_itself()
    {
        var queue = await QueueAsync("q");
        await QueueAsync("other");
        var info = await RegisterAsync(queue, Key("other"));
        Assert.False(string.IsNullOrWhiteSpace(info.Id));
        if (Has(BackendCapability.EngineAgentIds)) Assert.StartsWith("agent-", info.Id);
        Assert.Equal("agent-one", info.Name);
        Assert.Equal(AgentStatus.Polling, info.Status);
        Assert.Equal("host-1", info.Hostname);
        Assert.Equal(4242, info.ProcessId);
        Assert.Equal("9.8.7", info.Version);
        Assert.Equal(3, info.MaxJobs);
        Assert.Equal(Entity, info.Entity);
        Assert.Equal([queue.ToString(), Key("other").ToString()], info.Queues);
        Assert.False(info.StopRequested);
        Assert.False(info.Unresponsive);
        Assert.Equal(0, info.ActiveJobs);

        var listed = Assert.Single(await (Has(BackendCapability.ListAgents) ? Factory.Open() : Backend).GetAgentsAsync(None));
        Assert.Equal(info.Id, listed.Id);
        Assert.Null(await Backend.GetAgentAsync("agent-nope", None));
    }

    [SkippableFact]
    public async Task Status_and_stop_flag_are_recorded()
    {
        Needs(BackendCapability.StopAgents);
        var info = await RegisterAsync();
        await Backend.SetAgentStatusAsync(info.Id, AgentStatus.Running, None);
        Assert.Equal(AgentStatus.Running, (await Backend.GetAgentAsync(info.Id, None))!.Status);

        Assert.False((await Backend.HeartbeatAsync(info.Id, Long, None)).StopRequested);
        await Factory.Open().RequestAgentStopAsync(info.Id, None);
        Assert.True((await Backend.GetAgentAsync(info.Id, None))!.StopRequested);
        var beat = await Backend.HeartbeatAsync(info.Id, Long, None);
        Assert.True(beat.StopRequested);
        Assert.False(beat.LeaveJobsRunning);
        await Factory.Open().RequestAgentStopAsync(info.Id, None, leaveJobsRunning: true);
        beat = await Backend.HeartbeatAsync(info.Id, Long, None);
        Assert.True(beat.StopRequested);
        Assert.True(beat.LeaveJobsRunning);
        Assert.True((await Backend.GetAgentAsync(info.Id, None))!.StopRequested);

        await Backend.SetAgentStatusAsync(info.Id, AgentStatus.Killed, None);
        Assert.Equal(AgentStatus.Killed, (await Backend.GetAgentAsync(info.Id, None))!.Status);

        await ThrowsLaunchAsync("AgentNotFound", () => Backend.SetAgentStatusAsync("agent-nope", AgentStatus.Running, None));
        await ThrowsLaunchAsync("AgentNotFound", () => Backend.RequestAgentStopAsync("agent-nope", None));
        await ThrowsLaunchAsync("AgentNotFound", () => Backend.HeartbeatAsync("agent-nope", Long, None));
    }

    [Fact]
    public async Task Concurrent_agents_each_with_their_own_handle_pop_every_item_exactly_once()
    {
        const int Items = 120;
        const int Agents = 6;
        var queue = await QueueAsync("q", prioritization: true);
        var pushed = new List<string>();
        var priorities = new[] { LaunchPriority.Low, LaunchPriority.Medium, LaunchPriority.High, LaunchPriority.Critical };
        for (var i = 0; i < Items; i++) pushed.Add((await PushAsync(queue, $$"""{"uri": "/tmp/code", "name": "n{{i}}"}""", priorities[i % 4])).Id);

        var popped = new ConcurrentBag<(string Agent, string Id)>();
        using var start = new Barrier(Agents);
        var failures = new ConcurrentBag<Exception>();
        var threads = Enumerable.Range(0, Agents).Select(n => new Thread(() =>
        {
            try
            {
                var backend = Factory.Open();
                var agent = $"agent-{n}";
                start.SignalAndWait();
                while (backend.PopAsync(agent, queue, Long, None).GetAwaiter().GetResult() is { } job)
                {
                    popped.Add((agent, job.Id));
                    if (job.AgentId != agent || (Has(BackendCapability.AttemptCounts) && job.Attempts != 1)) throw new InvalidOperationException($"{agent} got {job.Id} as {job.AgentId}, attempt {job.Attempts}");
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
        var jobs = await Backend.GetJobsAsync(new JobQuery { Queue = queue }, None);
        Assert.All(jobs, j => Assert.Equal(LaunchJobState.Leased, j.State));
        if (Has(BackendCapability.AttemptCounts)) Assert.All(jobs, j => Assert.Equal(1, j.Attempts));
        if (Has(BackendCapability.AnyAgentHolds)) Assert.Equal(popped.ToDictionary(p => p.Id, p => p.Agent), jobs.ToDictionary(j => j.Id, j => j.AgentId!));
    }

    [SkippableFact]
    public async Task An_agent_stop_request_reaches_the_agent_through_another_handle_and_stays_until_it_stops()
    {
        Needs(BackendCapability.StopAgents);
        Needs(BackendCapability.ListAgents);
        var info = await RegisterAsync();
        var other = Factory.Open();
        Assert.False((await other.GetAgentAsync(info.Id, None))!.StopRequested);

        await other.RequestAgentStopAsync(info.Id, None);
        var beat = await Backend.HeartbeatAsync(info.Id, Long, None);
        Assert.True(beat.StopRequested);
        Assert.True((await Backend.HeartbeatAsync(info.Id, Long, None)).StopRequested);
        await Backend.SetAgentStatusAsync(info.Id, AgentStatus.Killed, None);

        var listed = Assert.Single(await other.GetAgentsAsync(None));
        Assert.Equal(AgentStatus.Killed, listed.Status);
        Assert.True(listed.StopRequested);
    }
}
