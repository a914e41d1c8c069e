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
    private const string Entity = "alice";
    private const string Project = "proj";
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly WandbStandIn _server = new();
    private readonly TempDirectory _dir = new();
    private readonly TestAgents _agents = new();
    private readonly FakeRunner _runner = new();
    private readonly List<WandbLaunchBackend> _backends = [];
    private string _key = "";
    private WandbConnection _connection = null!;
    private WandbLaunchBackend _backend = null!;
    private QueueKey _queue = null!;

    public async Task InitializeAsync()
    {
        _key = _server.AddUser(Entity);
        _connection = new WandbConnection(_server.Url, WandbApiKey.Of(_key, "test")) { Entity = Entity, HostDirectory = _dir.File("host") };
        _backend = Open();
        _queue = await TestQueues.CreateAsync(_backend, Entity, "q");
    }

    public async Task DisposeAsync()
    {
        await _agents.DisposeAsync();
        foreach (var backend in _backends) backend.Dispose();
        _server.Dispose();
        _dir.Dispose();
    }

    /// <summary>A backend of its own on the same server and host directory, as another agent process on this host has.</summary>
    private WandbLaunchBackend Open()
    {
        var backend = (WandbLaunchBackend)_connection.Create();
        _backends.Add(backend);
        return backend;
    }

    private RunningAgent StartAgent(WandbLaunchBackend? backend = null, bool leaveJobsRunning = false, bool realRunners = false,
        int stoppedRunTimeout = 60, TimeSpan? runStatusInterval = null)
    {
        backend ??= Open();
        var config = new LaunchAgentConfig { Queues = [_queue.Name], Entity = Entity, MaxJobs = 1, StoppedRunTimeout = stoppedRunTimeout };
        var options = TestAgents.Options(config, _dir.File("runs"), name => backend.ConnectionVariable(name), leaveJobsRunning: leaveJobsRunning);
        options = With(options, runStatusInterval ?? TimeSpan.FromMilliseconds(100));
        return _agents.Start(backend, options, runners: realRunners ? null : new RunnerRegistry([_runner]));
    }

    /// <summary>The harness's options, with the run check shortened (1,2,4..32 s in W&amp;B) so that a test waits less than a second.</summary>
    private static AgentOptions With(AgentOptions o, TimeSpan runStatusInterval) => new()
    {
        Config = o.Config, Name = o.Name, PollingInterval = o.PollingInterval, Lease = o.Lease, StartTimeout = o.StartTimeout,
        Environment = o.Environment, WorkDirectory = o.WorkDirectory, LeaveJobsRunning = o.LeaveJobsRunning, MaxLogBytes = o.MaxLogBytes,
        RunCheckDelays = [TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200)],
        RunStatusInterval = runStatusInterval,
    };

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
}
