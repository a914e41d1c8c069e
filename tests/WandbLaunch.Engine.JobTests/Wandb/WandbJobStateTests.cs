using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Services;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Wandb;
using WandbLaunch.Tests.WandbServer;

namespace WandbLaunch.Engine.JobTests.Wandb;

/// <summary>
/// What the job cmdlets see and do on a W&amp;B server (the stand-in): a claimed item's state is its run's, read in one
/// request per listing; stopping a running job goes through its run (stopRun) and the agent that runs it stops it;
/// a leased job or one without a run is refused with what to do; waits poll at the SDK's cadence; a job run on
/// another host has no log here, and the error says where it is.
/// </summary>
public sealed class WandbJobStateTests : IAsyncLifetime
{
    private const string Entity = WandbTestBed.Entity;
    private const string Project = "proj";
    private static readonly CancellationToken None = CancellationToken.None;
    private WandbTestBed _bed = null!;

    private WandbStandIn _server => _bed.Server;
    private TempDirectory _dir => _bed.Directory;
    private FakeRunner _runner => _bed.Runner;
    private WandbLaunchBackend _backend => _bed.Backend;
    private QueueKey _queue => _bed.Queue;

    public async Task InitializeAsync() => _bed = await WandbTestBed.StartAsync();

    public async Task DisposeAsync() => await _bed.DisposeAsync();

    /// <summary>A backend of its own; with <paramref name="hostDirectory"/>, as a process on another host has.</summary>
    private WandbLaunchBackend Open(string? hostDirectory = null) =>
        _bed.Open(hostDirectory is null ? null : c => c with { HostDirectory = hostDirectory });

    private RunningAgent StartAgent(int stoppedRunTimeout = 60)
    {
        var backend = Open();
        var config = new LaunchAgentConfig { Queues = [_queue.Name], Entity = Entity, MaxJobs = 8, StoppedRunTimeout = stoppedRunTimeout };
        var options = TestAgents.Options(config, _dir.File("runs"), backend.ConnectionVariable,
            runCheckDelays: [TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200)],
            runStatusInterval: TimeSpan.FromMilliseconds(100));
        return _bed.Agents.Start(backend, options, runners: new RunnerRegistry([_runner]));
    }

    private async Task<string> PushAsync(string name, string? project = Project)
    {
        var spec = new JsonObject { ["entity"] = Entity, ["docker"] = new JsonObject { ["docker_image"] = "example/train:1" }, ["name"] = name };
        if (project is not null) spec["project"] = project;
        return (await _backend.PushAsync(_queue, new PushRequest { Spec = spec }, None)).Id;
    }

    private Task<StandInItem> ClaimedAsync(string id) =>
        Eventually.Until(() => Task.FromResult(_server.Items(Entity, _queue.Name).FirstOrDefault(i => i.Id == id && i.State == "CLAIMED")), $"item {id} to be CLAIMED");

    /// <summary>CLAIMED on the server, and started by the agent (its record says Running): CLAIMED alone is the ack, before the runner starts it.</summary>
    private async Task RunningAsync(string id)
    {
        await ClaimedAsync(id);
        await Eventually.Until(async () => (await JobAsync(id)).State == LaunchJobState.Running, $"job {id} to be Running", TimeSpan.FromSeconds(20));
    }

    private string RunIdOf(string itemId) => _server.Items(Entity, _queue.Name).Single(i => i.Id == itemId).AssociatedRunId!;

    private async Task<LaunchJob> JobAsync(string id) => (await _backend.GetJobAsync(id, None))!;

    [Fact]
    public async Task A_claimed_items_state_is_its_runs_read_in_one_request_per_listing()
    {
        var names = new[] { "done", "failed", "crashed", "killed", "stopping", "running", "no-run" };
        foreach (var name in names) _runner.Script(name, FakeRun.Hang());
        StartAgent();
        var ids = new Dictionary<string, string>();
        foreach (var name in names) ids[name] = await PushAsync(name);
        foreach (var name in names) await ClaimedAsync(ids[name]);
        foreach (var (name, state, stopped) in new[] { ("done", "finished", false), ("failed", "failed", false), ("crashed", "crashed", false),
                     ("killed", "killed", true), ("stopping", "running", true), ("running", "running", false) })
        {
            _server.InitRun(Entity, Project, RunIdOf(ids[name]), state);
            if (stopped) _server.SetRunState(Entity, Project, RunIdOf(ids[name]), stopped: true);
        }
        _server.ClearCalls();

        var jobs = (await _backend.GetJobsAsync(new JobQuery(), None)).ToDictionary(j => j.Id);

        Assert.Equal(LaunchJobState.Finished, jobs[ids["done"]].State);
        Assert.Equal(LaunchJobState.Failed, jobs[ids["failed"]].State);
        Assert.Equal(FailureStage.Run, jobs[ids["failed"]].FailureStage);
        Assert.Equal(LaunchJobState.Failed, jobs[ids["crashed"]].State);
        Assert.Contains("crashed", jobs[ids["crashed"]].FailureMessage);
        Assert.Equal(LaunchJobState.Stopped, jobs[ids["killed"]].State);
        Assert.Equal(LaunchJobState.Running, jobs[ids["stopping"]].State);
        Assert.True(jobs[ids["stopping"]].StopRequested);
        Assert.Equal(LaunchJobState.Running, jobs[ids["running"]].State);
        Assert.False(jobs[ids["running"]].StopRequested);
        Assert.Equal(LaunchJobState.Running, jobs[ids["no-run"]].State);
        // One listing: the queues, the queue's items, and the runs of all claimed items in a single request.
        Assert.Single(_server.Calls, c => c.OperationName == "RunStates");
        Assert.Single(_server.Calls, c => c.OperationName == "GetRunQueueItem");

        // Filtering by state sees the run's state.
        var finished = await _backend.GetJobsAsync(new JobQuery { States = [LaunchJobState.Finished] }, None);
        Assert.Equal([ids["done"]], finished.Select(j => j.Id));
    }

    [Fact]
    public async Task Stopping_a_running_job_stops_its_run_and_the_agent_then_stops_the_job()
    {
        _runner.Script("long", FakeRun.Hang());
        var agent = StartAgent(stoppedRunTimeout: 1);
        var id = await PushAsync("long");
        await RunningAsync(id);
        Assert.Empty(_runner.Cancels);
        var runId = RunIdOf(id);
        _server.InitRun(Entity, Project, runId);

        var stopped = await _backend.RequestStopAsync(id, None);

        Assert.Equal(LaunchJobState.Running, stopped.State);
        Assert.True(stopped.StopRequested);
        Assert.True(_server.Run(Entity, Project, runId)!.Stopped);
        Assert.Contains(_server.Calls, c => c.Fields.Contains("stopRun") && c.Status == 200);
        await Eventually.Until(() => agent.Events.Any(e => e.JobId == id && e.Message.Contains("stopped")), "the agent to stop the job", TimeSpan.FromSeconds(20));
        Assert.Contains(id, _runner.Cancels);
        Assert.True((await JobAsync(id)).StopRequested);
        // What W&B records when the stopped run's process ends: its state.
        _server.SetRunState(Entity, Project, runId, state: "killed");
        Assert.Equal(LaunchJobState.Stopped, (await JobAsync(id)).State);
    }

    [Fact]
    public async Task A_leased_job_and_a_running_job_without_a_run_are_refused_with_what_to_do()
    {
        var leased = await PushAsync("leased");
        Assert.NotNull(await _backend.PopAsync("someone", _queue, TimeSpan.FromMinutes(1), None));
        var e = await LaunchAssertions.ThrowsLaunchAsync("WandbJobLeased", () => _backend.RequestStopAsync(leased, None));
        Assert.Contains("Leased", e.Message);
        Assert.Contains(leased, e.Message);

        _runner.Script("no-init", FakeRun.Hang());
        _runner.Script("no-project", FakeRun.Hang());
        StartAgent();
        var noInit = await PushAsync("no-init");
        var noProject = await PushAsync("no-project", project: null);
        await RunningAsync(noInit);
        await RunningAsync(noProject);
        var notStarted = await LaunchAssertions.ThrowsLaunchAsync("WandbRunNotStarted", () => _backend.RequestStopAsync(noInit, None));
        Assert.Contains(RunIdOf(noInit), notStarted.Message);
        Assert.Contains("wandb.init", notStarted.Message);
        await LaunchAssertions.ThrowsLaunchAsync("WandbRunNotWatched", () => _backend.RequestStopAsync(noProject, None));
        Assert.DoesNotContain(_server.Calls, c => c.Fields.Contains("stopRun"));
    }

    [Fact]
    public async Task A_wait_reads_at_the_SDKs_cadence_not_in_a_tight_loop()
    {
        _runner.Script("short", FakeRun.Hang());
        StartAgent();
        var id = await PushAsync("short");
        await ClaimedAsync(id);
        var runId = RunIdOf(id);
        _server.InitRun(Entity, Project, runId);
        _server.ClearCalls();
        var waiting = Task.Run(async () =>
        {
            await foreach (var result in new JobWatch(_backend).WaitAsync([id], TimeSpan.FromSeconds(30), any: false, None)) return result;
            return null;
        });
        await Task.Delay(TimeSpan.FromSeconds(5));
        _server.SetRunState(Entity, Project, runId, state: "finished");

        var ended = await waiting.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(LaunchJobState.Finished, ended!.Job!.State);
        // About 7 s at one read each 2 s: 4 or 5 listings, not one a second (and never a tight loop).
        var listings = _server.Calls.Count(c => c.OperationName == "RunStates");
        Assert.InRange(listings, 2, 5);
    }

    [Fact]
    public async Task A_job_run_on_another_host_has_no_log_here_and_the_error_says_where_it_is()
    {
        _runner.Script("elsewhere", FakeRun.Hang());
        StartAgent();
        var id = await PushAsync("elsewhere");
        await ClaimedAsync(id);
        var other = Open(_dir.File("other-host"));
        var job = (await other.GetJobAsync(id, None))!;

        var e = await LaunchAssertions.ThrowsLaunchAsync("JobLogNotOnHost", async () =>
        {
            await foreach (var _ in new JobLogReader(other).ReadAsync(job, null, follow: false, None)) { }
        });
        Assert.Contains($"{_server.Url.ToString().TrimEnd('/')}/{Entity}/{Project}/runs/{RunIdOf(id)}/logs", e.Message);

        // The agent's own host reads the log it wrote.
        var here = (await _backend.GetJobAsync(id, None))!;
        Assert.NotNull(here.LogPath);
        var lines = new List<string>();
        await Eventually.Until(async () =>
        {
            lines.Clear();
            await foreach (var line in new JobLogReader(_backend).ReadAsync(here, null, follow: false, None)) lines.Add(line);
            return lines.Count > 0;
        }, "the log to have lines");
    }
}
