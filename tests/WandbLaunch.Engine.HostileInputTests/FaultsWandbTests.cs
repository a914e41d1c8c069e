using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Wandb;
using WandbLaunch.Tests.WandbServer;

namespace WandbLaunch.Engine.HostileInputTests;

/// <summary>
/// Bad answers from a W&amp;B server under a running agent, each injected into the agent's first pop (or its ack) with
/// an item already waiting: an answer that may pass (500, 429 with Retry-After, no answer within the request timeout)
/// is retried and the item runs; one that would be the same next time (malformed JSON, GraphQL errors, 403, 404, 409)
/// stops the agent with <see cref="AgentStopReason.BackendFailed"/> and the specific error id, and the item stays
/// PENDING; an answer missing the item's fields counts as nothing popped. Never an unhandled error, never a lost item.
/// </summary>
public sealed class FaultsWandbTests : IAsyncLifetime
{
    private const string Entity = WandbTestBed.Entity;
    private WandbTestBed _bed = null!;

    private WandbStandIn _server => _bed.Server;
    private FakeRunner _runner => _bed.Runner;
    private WandbLaunchBackend _backend => _bed.Backend;
    private QueueKey _queue => _bed.Queue;

    // Seconds, not W&B's 15 minutes and 20 s.
    public async Task InitializeAsync() => _bed = await WandbTestBed.StartAsync(c => c with
    {
        AgentRetry = new WandbRetryPolicy(TimeSpan.FromSeconds(3), TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(200)),
        RequestTimeout = TimeSpan.FromSeconds(1),
    });

    public async Task DisposeAsync() => await _bed.DisposeAsync();

    private RunningAgent StartAgent()
    {
        var backend = _bed.Open();
        var config = new LaunchAgentConfig { Queues = [_queue.Name], Entity = Entity, MaxJobs = 1 };
        var options = TestAgents.Options(config, _bed.Directory.File("runs"), backend.ConnectionVariable, diagnostics: DiagnosticLevel.Verbose,
            runCheckDelays: [TimeSpan.FromMilliseconds(50)],
            cadence: new PollCadence { Idle = TimeSpan.FromMilliseconds(500), Fast = TimeSpan.FromMilliseconds(200), Heartbeat = TimeSpan.FromSeconds(1) },
            storeRetry: new StoreRetryPolicy(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(500)));
        return _bed.Agents.Start(backend, options, runners: new RunnerRegistry([_runner]));
    }

    private async Task<string> PushAsync(string name)
    {
        var spec = new JsonObject { ["entity"] = Entity, ["project"] = "proj", ["name"] = name, ["docker"] = new JsonObject { ["docker_image"] = "example/train:1" } };
        return (await _backend.PushAsync(_queue, new PushRequest { Spec = spec }, CancellationToken.None)).Id;
    }

    private string ItemState(string id) => _server.Items(Entity, _queue.Name).Single(i => i.Id == id).State;

    private int Calls(string operation) => _server.Calls.Count(c => c.Fields.Contains(operation));

    /// <summary>Faults that pass: what is injected, and what the agent's Verbose stream says about the retry (it warns only when a fault outlives the retry budget).</summary>
    public static TheoryData<string, string> Passing => new()
    {
        { "500", "HTTP 500" },
        { "429", "HTTP 429" },
        { "hang", "did not answer popFromRunQueue within 1 s" },
        { "ack-500", "ackRunQueueItem: attempt 1 failed" },
        // Counted as nothing popped (W&B's agent does the same): the server did not lease the item, the next pop takes it.
        { "missing-fields", "" },
    };

    [Theory]
    [MemberData(nameof(Passing))]
    public async Task A_fault_that_passes_is_retried_and_the_waiting_item_runs(string fault, string said)
    {
        var id = await PushAsync("waiting");
        switch (fault)
        {
            case "500": _server.Faults.FailNext(500, times: 2, operation: "popFromRunQueue"); break;
            case "429": _server.Faults.FailNext(429, operation: "popFromRunQueue", retryAfterSeconds: 1); break;
            case "hang": _server.Faults.HangNext(TimeSpan.FromSeconds(3), operation: "popFromRunQueue"); break;
            case "ack-500": _server.Faults.FailNext(500, operation: "ackRunQueueItem"); break;
            case "missing-fields": _server.Faults.MissingFieldsNext(operation: "popFromRunQueue"); break;
        }
        var agent = StartAgent();

        await Eventually.Until(() => _runner.Starts.Any(s => s.JobId == id), $"the item to run after {fault}", TimeSpan.FromSeconds(20));
        Assert.Single(_runner.Starts);
        Assert.Equal(1, _server.Calls.Count(c => c.Fields.Contains("ackRunQueueItem") && c.Status == 200));
        if (said.Length > 0) Assert.Contains(agent.Events.All, e => e.Kind == AgentEventKind.Verbose && e.Message.Contains(said));
        else Assert.True(Calls("popFromRunQueue") >= 2, "the item was taken by the first pop, which met the fault");
        Assert.DoesNotContain(agent.Events.All, e => e.Kind == AgentEventKind.Error);
        Assert.False(agent.Run.IsCompleted, "the agent stopped:\n" + agent.Events);
        if (fault == "429")
        {
            // Retry-After: 1 was honoured (the client's own back-off would be at most 50 ms).
            var pops = _server.Calls.Where(c => c.Fields.Contains("popFromRunQueue")).ToList();
            var limited = pops.FindIndex(c => c.Status == 429);
            Assert.True(pops[limited + 1].At - pops[limited].At >= TimeSpan.FromSeconds(0.9), "retried before Retry-After");
        }
    }

    /// <summary>Faults that would be the same next time: what is injected, the error id, and what its message says.</summary>
    public static TheoryData<string, string, string> Stopping => new()
    {
        { "malformed", "WandbServerError", "is not GraphQL JSON" },
        { "graphql-errors", "WandbServerError", "permission denied for queue q" },
        { "403", "WandbAuthFailed", "HTTP 403" },
        { "404", "WandbNotFound", "HTTP 404" },
        { "409", "WandbConflict", "HTTP 409" },
    };

    [Theory]
    [MemberData(nameof(Stopping))]
    public async Task A_fault_that_would_repeat_stops_the_agent_with_its_error_id_and_the_item_stays_pending(string fault, string errorId, string said)
    {
        var id = await PushAsync("waiting");
        switch (fault)
        {
            case "malformed": _server.Faults.MalformedNext(operation: "popFromRunQueue"); break;
            case "graphql-errors": _server.Faults.GraphQLErrorNext("permission denied for queue q", operation: "popFromRunQueue"); break;
            default: _server.Faults.FailNext(int.Parse(fault), operation: "popFromRunQueue"); break;
        }
        var agent = StartAgent();

        await agent.Run.WaitAsync(TimeSpan.FromSeconds(20));
        var stop = agent.Agent.Stopped!;
        Assert.Equal(AgentStopReason.BackendFailed, stop.Reason);
        Assert.Equal(errorId, stop.Cause!.ErrorId);
        Assert.Contains($"({errorId})", stop.Text);
        Assert.Contains(said, stop.Text);
        Assert.Contains(agent.Events.All, e => e.Kind == AgentEventKind.Error && e.Message.Contains(said) && e.Message.Contains(errorId));
        Assert.Contains(agent.Events.All, e => e.Kind == AgentEventKind.Error && e.Message.Contains("stopped because"));
        // Not retried, and nothing taken.
        Assert.Equal(1, Calls("popFromRunQueue"));
        Assert.Equal(0, Calls("ackRunQueueItem"));
        Assert.Empty(_runner.Starts);
        Assert.Equal("PENDING", ItemState(id));
        Assert.Equal(AgentStatus.Killed, _server.Agents.Single().Status);
    }
}
