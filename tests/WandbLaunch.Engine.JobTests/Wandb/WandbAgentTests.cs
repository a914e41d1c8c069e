using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Agent.Runs;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Wandb;
using WandbLaunch.Tests.WandbServer;

namespace WandbLaunch.Engine.JobTests.Wandb;

/// <summary>
/// The real agent against the W&amp;B stand-in: the calls it makes are W&amp;B's agent's (register, hidden run, pop, ack
/// with the run name, status, the run check, failures with stage and error.log), stopPolling and stopped runs, the
/// job's W&amp;B environment, and re-attaching through the job records on this host.
/// </summary>
public sealed class WandbAgentTests : IAsyncLifetime
{
    private const string Entity = WandbTestBed.Entity;
    private const string Project = "proj";
    private static readonly CancellationToken None = CancellationToken.None;
    private WandbTestBed _bed = null!;

    private WandbStandIn _server => _bed.Server;
    private TempDirectory _dir => _bed.Directory;
    private FakeRunner _runner => _bed.Runner;
    private string _key => _bed.ApiKey;
    private WandbLaunchBackend _backend => _bed.Backend;
    private QueueKey _queue => _bed.Queue;

    public async Task InitializeAsync() => _bed = await WandbTestBed.StartAsync();

    public async Task DisposeAsync() => await _bed.DisposeAsync();

    /// <summary>A backend of its own on the same server and host directory, as another agent process on this host has.</summary>
    private WandbLaunchBackend Open() => _bed.Open();

    /// <summary>
    /// A backend whose agent calls give up after 1 s of failures (W&amp;B's agent budget is 15 min) and whose requests
    /// wait 1 s for an answer (20 s), so that an outage longer than the budget takes seconds.
    /// </summary>
    private WandbLaunchBackend OpenWithShortBudget() => _bed.Open(c => c with
    {
        AgentRetry = new WandbRetryPolicy(TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(200)),
        RequestTimeout = TimeSpan.FromSeconds(1),
    });

    /// <summary>W&amp;B's cadence at test speed: a poll every 0.2-0.5 s, a heartbeat every second.</summary>
    private static readonly PollCadence FastCadence = new() { Idle = TimeSpan.FromMilliseconds(500), Fast = TimeSpan.FromMilliseconds(200), Heartbeat = TimeSpan.FromSeconds(1) };

    /// <summary>
    /// An agent with the run check shortened (1,2,4..32 s in W&amp;B) so that a test waits less than a second, and the
    /// loop's back-off after a fault that outlived the retry budget 0.1-0.5 s (0.5-10 s).
    /// </summary>
    private RunningAgent StartAgent(WandbLaunchBackend? backend = null, bool leaveJobsRunning = false, bool realRunners = false,
        int stoppedRunTimeout = 60, TimeSpan? runStatusInterval = null, PollCadence? cadence = null)
    {
        backend ??= Open();
        var config = new LaunchAgentConfig { Queues = [_queue.Name], Entity = Entity, MaxJobs = 1, StoppedRunTimeout = stoppedRunTimeout };
        var options = TestAgents.Options(config, _dir.File("runs"), backend.ConnectionVariable, leaveJobsRunning: leaveJobsRunning,
            runCheckDelays: [TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200)],
            runStatusInterval: runStatusInterval ?? TimeSpan.FromMilliseconds(100), cadence: cadence,
            storeRetry: new StoreRetryPolicy(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(500)));
        return _bed.Agents.Start(backend, options, runners: realRunners ? null : new RunnerRegistry([_runner]));
    }

    private async Task<string> PushAsync(string name, JsonObject? spec = null)
    {
        spec ??= new JsonObject { ["entity"] = Entity, ["project"] = Project, ["docker"] = new JsonObject { ["docker_image"] = "example/train:1" } };
        spec["name"] = name;
        return (await _backend.PushAsync(_queue, new PushRequest { Spec = spec }, None)).Id;
    }

    private StandInItem Item(string id) => _server.Items(Entity, _queue.Name).Single(i => i.Id == id);

    private Task<StandInItem> ItemInStateAsync(string id, string state, TimeSpan? timeout = null) =>
        Eventually.Until(() => Task.FromResult(_server.Items(Entity, _queue.Name).FirstOrDefault(i => i.Id == id && i.State == state)), $"item {id} to be {state}", timeout);

    private FakeStart StartOf(string name) => _runner.Starts.Single(s => s.Name == name);

    private List<string> Operations() => _server.Calls.Where(c => c.Status == 200).SelectMany(c => c.Fields).ToList();

    [Fact]
    public async Task The_agent_makes_WandBs_calls_and_a_job_whose_run_started_is_not_failed()
    {
        _runner.Script("inits", FakeRun.Succeed(afterMs: 1500));
        var agent = StartAgent();
        var agentId = await agent.IdAsync();
        var id = await PushAsync("inits");
        await Eventually.Until(() => _runner.Starts.Any(s => s.Name == "inits"), "the job to start");
        var runId = StartOf("inits").RunId;
        _server.InitRun(Entity, Project, runId);
        await Eventually.Until(() => agent.Agent.ActiveJobs == 0 && agent.Events.Any(e => e.JobId == id && e.Message.Contains("finished")), "the job to end", TimeSpan.FromSeconds(20));
        await Eventually.Until(() => _server.Agents.Single().Status == AgentStatus.Polling, "the agent to poll again");

        var ops = Operations();
        var registered = _server.Agents.Single();
        Assert.Equal(agentId, registered.Id);
        Assert.Equal(new[] { "createLaunchAgent", "launchAgent", "upsertBucket" }, ops.Where(o => o is "createLaunchAgent" or "upsertBucket" or "launchAgent").Take(3));
        // The hidden run that keeps the agent's items' files: model-registry, named after the agent.
        var hidden = _server.Run(Entity, LaunchDefaults.Project, registered.Name);
        Assert.Equal(WandbLaunchBackend.AgentRunJobType, hidden?.JobType);
        var ack = _server.Calls.Single(c => c.Fields.Contains("ackRunQueueItem"));
        Assert.Equal(runId, JsonNode.Parse(ack.Variables)!["runId"]!.GetValue<string>());
        Assert.Equal("CLAIMED", Item(id).State);
        Assert.Equal(runId, Item(id).AssociatedRunId);
        Assert.Contains("RunState", _server.Calls.Select(c => c.OperationName));
        Assert.DoesNotContain("failRunQueueItem", ops);
        var statuses = _server.Calls.Where(c => c.Fields.Contains("updateLaunchAgent")).Select(c => JsonNode.Parse(c.Variables)!["agentStatus"]?.GetValue<string>()).ToList();
        Assert.Contains(AgentStatus.Running, statuses);
        Assert.Equal(AgentStatus.Polling, statuses[^1]);
        Assert.True(ops.IndexOf("ackRunQueueItem") > ops.IndexOf("popFromRunQueue"));

        await agent.StopAsync();
        Assert.Equal(AgentStatus.Killed, _server.Agents.Single().Status);
    }

    [Fact]
    public async Task A_job_that_never_inits_its_run_fails_at_stage_run_with_WandBs_message_and_its_log_uploaded()
    {
        _runner.Script("no-init", FakeRun.Succeed(afterMs: 100));
        var agent = StartAgent();
        await agent.IdAsync();
        var id = await PushAsync("no-init");

        var item = await ItemInStateAsync(id, "FAILED");
        Assert.Equal(FailureStage.Run, item.Error!.Stage);
        Assert.Equal(JobRun.NoInitMessage, item.Error.Message);
        var path = $"{id}/error/error.log";
        Assert.Equal(new[] { path }, item.Error.FilePaths);
        var log = _server.RunFile(Entity, LaunchDefaults.Project, _server.Agents.Single().Name, path);
        Assert.NotNull(log);
        Assert.Contains("took the job from queue q", System.Text.Encoding.UTF8.GetString(log!));
    }

    [Fact]
    public async Task A_job_that_fails_to_start_fails_at_its_stage_with_the_error_log()
    {
        _runner.Script("bad", FakeRun.FailStart(FailureStage.Build, "The image did not build: step 3 exited with 2."));
        var agent = StartAgent();
        await agent.IdAsync();
        var id = await PushAsync("bad");

        var item = await ItemInStateAsync(id, "FAILED");
        Assert.Equal(FailureStage.Build, item.Error!.Stage);
        Assert.Contains("step 3 exited with 2", item.Error.Message);
        var log = _server.RunFile(Entity, LaunchDefaults.Project, _server.Agents.Single().Name, $"{id}/error/error.log");
        Assert.Contains("step 3 exited with 2", System.Text.Encoding.UTF8.GetString(log!));
    }

    [Fact]
    public async Task A_run_that_inited_and_then_failed_is_not_failed_on_the_queue_as_with_WandB()
    {
        _runner.Script("crash", FakeRun.Fail(afterMs: 1500, message: "The job exited with code 3."));
        var agent = StartAgent();
        await agent.IdAsync();
        var id = await PushAsync("crash");
        await Eventually.Until(() => _runner.Starts.Any(s => s.Name == "crash"), "the job to start");
        _server.InitRun(Entity, Project, StartOf("crash").RunId, state: "crashed");
        await Eventually.Until(() => agent.Events.Any(e => e.JobId == id && e.Message.Contains("failed")), "the job to end", TimeSpan.FromSeconds(20));

        Assert.DoesNotContain("failRunQueueItem", Operations());
        Assert.Equal("CLAIMED", Item(id).State);
    }

    [Fact]
    public async Task StopPolling_from_the_server_stops_the_agent_as_KILLED()
    {
        var agent = StartAgent();
        var agentId = await agent.IdAsync();
        _server.StopPolling(agentId);

        await agent.Run.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(AgentStopReason.StopRequested, agent.Agent.Stopped!.Reason);
        Assert.Equal(AgentStatus.Killed, _server.Agents.Single().Status);
    }

    [Fact]
    public async Task A_run_stopped_on_the_server_stops_its_job_after_stopped_run_timeout()
    {
        _runner.Script("long", FakeRun.Hang());
        var agent = StartAgent(stoppedRunTimeout: 1, runStatusInterval: TimeSpan.FromMilliseconds(200));
        await agent.IdAsync();
        var id = await PushAsync("long");
        await Eventually.Until(() => _runner.Starts.Any(s => s.Name == "long"), "the job to start");
        var runId = StartOf("long").RunId;
        _server.InitRun(Entity, Project, runId);
        await Task.Delay(600);
        Assert.Empty(_runner.Cancels);

        _server.SetRunState(Entity, Project, runId, stopped: true);
        var stoppedAt = DateTime.UtcNow;
        await Eventually.Until(() => _runner.Cancels.Contains(id), "the job to be cancelled", TimeSpan.FromSeconds(20));
        // Not before stopped_run_timeout (1 s) from when the flag was first seen: the job's SDK may end it itself.
        Assert.True(DateTime.UtcNow - stoppedAt >= TimeSpan.FromSeconds(1), "cancelled before stopped_run_timeout");
        await Eventually.Until(() => agent.Events.Any(e => e.JobId == id && e.Message.Contains("stopped")), "the job to end as stopped");
        Assert.Contains("RunStoppedStatus", _server.Calls.Select(c => c.OperationName));
        Assert.DoesNotContain("failRunQueueItem", Operations());
    }

    [Fact]
    public async Task An_agent_restarted_on_this_host_re_attaches_to_the_jobs_its_predecessor_left_running()
    {
        _runner.Script("keeps-running", FakeRun.Hang());
        var first = StartAgent(leaveJobsRunning: true);
        await first.IdAsync();
        var id = await PushAsync("keeps-running");
        await Eventually.Until(() => first.Events.Any(e => e.JobId == id && e.Message.Contains("running")), "the job to run");
        await first.StopAsync();
        Assert.Empty(_runner.Cancels);

        var second = StartAgent();
        await second.IdAsync();
        await Eventually.Until(() => second.Events.Any(e => e.JobId == id && e.Message.Contains("re-attached")), "the job to be re-attached");
        Assert.Single(_runner.Attaches);
        Assert.Single(_runner.Starts);
        // The records are this host's private files.
        var records = Directory.GetFiles(_dir.File("host/wandb"), "*.json", SearchOption.AllDirectories);
        Assert.Single(records);
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(records[0]));
    }

    [Fact]
    public async Task A_local_process_job_gets_WandBs_environment_and_inits_its_run_through_the_server()
    {
        var code = _dir.File("code");
        Directory.CreateDirectory(code);
        // The job does what wandb.init does on the wire: upsertBucket with the run id, project and entity it was given.
        File.WriteAllText(Path.Combine(code, "train.sh"), """
            echo "entity=$WANDB_ENTITY project=$WANDB_PROJECT run=$WANDB_RUN_ID launch=$WANDB_LAUNCH queue=$WANDB_LAUNCH_QUEUE_NAME queue_entity=$WANDB_LAUNCH_QUEUE_ENTITY trace=$WANDB_LAUNCH_TRACE_ID config=$WANDB_CONFIG"
            echo "key=$WANDB_API_KEY"
            body="{\"query\":\"mutation UpsertBucket(\$name: String, \$project: String, \$entity: String) { upsertBucket(input: {name: \$name, modelName: \$project, entityName: \$entity, state: \\\"running\\\"}) { bucket { id } } }\",\"variables\":{\"name\":\"$WANDB_RUN_ID\",\"project\":\"$WANDB_PROJECT\",\"entity\":\"$WANDB_ENTITY\"}}"
            curl -sS -u "api:$WANDB_API_KEY" -H 'Content-Type: application/json' --data "$body" "$WANDB_BASE_URL/graphql"
            echo
            """);
        var backend = Open();
        var agent = StartAgent(backend, realRunners: true);
        await agent.IdAsync();
        var spec = TestSpecs.LocalProcess(code, ["sh", "train.sh"], Entity, Project);
        spec["overrides"]!["run_config"] = new JsonObject { ["lr"] = 0.5 };
        var id = await PushAsync("real", spec);

        await Eventually.Until(() => agent.Events.Any(e => e.JobId == id && e.Message.Contains("finished")), "the job to finish", TimeSpan.FromSeconds(30));
        await Eventually.Until(() => agent.Agent.ActiveJobs == 0, "the agent to write the job's end");
        var runId = JsonNode.Parse(_server.Calls.Single(c => c.Fields.Contains("ackRunQueueItem")).Variables)!["runId"]!.GetValue<string>();
        Assert.Equal("running", _server.Run(Entity, Project, runId)?.State);
        Assert.DoesNotContain("failRunQueueItem", Operations());
        var log = File.ReadAllText(Directory.GetFiles(backend.LogDirectory, "*", SearchOption.AllDirectories).Single(f => File.ReadAllText(f).Contains("trace=")));
        Assert.Contains($"entity={Entity} project={Project} run={runId} launch=True queue=q queue_entity={Entity} trace={id} config={{\"lr\":0.5}}", log);
        Assert.DoesNotContain(_key, log);
        Assert.Contains("key=***", log);
    }

    [Fact]
    public async Task A_local_process_job_that_never_inits_fails_at_stage_run()
    {
        var code = _dir.File("code2");
        Directory.CreateDirectory(code);
        File.WriteAllText(Path.Combine(code, "train.sh"), "echo no wandb here; exit 4\n");
        var agent = StartAgent(Open(), realRunners: true);
        await agent.IdAsync();
        var id = await PushAsync("real-no-init", TestSpecs.LocalProcess(code, ["sh", "train.sh"], Entity, Project));

        var item = await ItemInStateAsync(id, "FAILED", TimeSpan.FromSeconds(30));
        Assert.Equal(FailureStage.Run, item.Error!.Stage);
        Assert.Equal(JobRun.NotStartedMessage, item.Error.Message);
        var log = _server.RunFile(Entity, LaunchDefaults.Project, _server.Agents.Single().Name, $"{id}/error/error.log");
        Assert.Contains("no wandb here", System.Text.Encoding.UTF8.GetString(log!));
    }

    [Fact]
    public async Task The_agent_rides_out_an_outage_longer_than_its_retry_budget_warns_once_and_runs_the_item_pushed_before_it()
    {
        _runner.Script("before", FakeRun.Succeed(afterMs: 1500));
        var agent = StartAgent(OpenWithShortBudget(), cadence: FastCadence);
        await agent.IdAsync();
        await PushAsync("before");
        await Eventually.Until(() => _runner.Starts.Any(s => s.Name == "before"), "the first job to start");
        // The agent is full (max_jobs 1): this item waits on the server through the outage.
        var waiting = await PushAsync("waiting");

        _server.Faults.Down(true);
        await Eventually.Until(() => agent.Events.Any(e => e.Kind == AgentEventKind.Warning && e.Message.Contains("(WandbUnreachable)")),
            "the agent to report the outage", TimeSpan.FromSeconds(20));
        // Down for several budgets more: the agent keeps trying, and says so once.
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.False(agent.Run.IsCompleted, "the agent stopped during the outage:\n" + agent.Events);
        Assert.Equal("PENDING", Item(waiting).State);
        _server.Faults.Down(false);

        await Eventually.Until(() => _runner.Starts.Any(s => s.Name == "waiting"), "the item pushed before the outage to run", TimeSpan.FromSeconds(20));
        await Eventually.Until(() => agent.Events.Any(e => e.Kind == AgentEventKind.Status && e.Message.Contains("answers again") && e.Message.Contains("WandbUnreachable")),
            "the agent to say the server answers again");
        Assert.Single(agent.Events.All, e => e.Kind == AgentEventKind.Warning && e.Message.Contains("The agent keeps running"));
        Assert.Single(_runner.Starts, s => s.Name == "waiting");
        Assert.DoesNotContain(agent.Events.All, e => e.Kind == AgentEventKind.Error);
        Assert.False(agent.Run.IsCompleted);
    }

    [Fact]
    public async Task A_key_rejected_mid_run_stops_the_agent_with_WandbAuthFailed_without_a_retry_storm_and_the_item_stays_pending()
    {
        var agent = StartAgent(OpenWithShortBudget(), cadence: FastCadence);
        await agent.IdAsync();
        // The agent's key is revoked: each call it makes gets 401 from here on (the test's own push still passes).
        foreach (var operation in new[] { "popFromRunQueue", "launchAgent", "updateLaunchAgent" }) _server.Faults.FailNext(401, times: 1000, operation: operation);
        var id = await PushAsync("during-401");
        await agent.Run.WaitAsync(TimeSpan.FromSeconds(20));
        var unauthorized = _server.Calls.Count(c => c.Status == 401);

        var stop = agent.Agent.Stopped!;
        Assert.Equal(AgentStopReason.BackendFailed, stop.Reason);
        Assert.True(stop.IsFailure);
        Assert.Equal("WandbAuthFailed", stop.Cause!.ErrorId);
        Assert.Contains("(WandbAuthFailed)", stop.Text);
        Assert.Contains("refused the API key", stop.Text);
        // The one request that met the 401, and the agent's last word (KILLED), which meets it too: no retries.
        Assert.InRange(unauthorized, 1, 3);
        Assert.Contains(agent.Events.All, e => e.Kind == AgentEventKind.Error && e.Message.Contains("(WandbAuthFailed)"));
        Assert.DoesNotContain(agent.Events.All, e => e.Message.Contains(_key));
        Assert.Equal("PENDING", Item(id).State);
        Assert.Empty(_runner.Starts);
    }
}
