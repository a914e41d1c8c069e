using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;

namespace WandbLaunch.Engine.Tests.Agent;

/// <summary>
/// The real agent over a real store file, with the <see cref="FakeRunner"/> in place of processes and containers:
/// dispatch within max_jobs and by priority, stop requests, preemption, start failures, lost leases, re-attaching,
/// an agent's stop, and that each launch job's end is written once.
/// </summary>
public sealed class AgentLogicTests : IAsyncLifetime
{
    private const string Entity = "ent";
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly TempStore _file = new(Entity);
    private readonly TestAgents _agents = new();
    private readonly List<Agent> _started = [];
    private readonly FakeRunner _runner = new();
    private SqliteLaunchBackend _store = null!;
    private QueueKey _queue = null!;

    public async Task InitializeAsync()
    {
        _store = _file.Backend;
        _queue = await TestQueues.CreateAsync(_store, Entity, "q", prioritization: true);
    }

    public async Task DisposeAsync()
    {
        await _agents.DisposeAsync();
        _file.Dispose();
    }

    /// <summary>A running agent and the spy on its backend.</summary>
    private sealed record Agent(RunningAgent Running, BackendSpy Spy)
    {
        public LaunchAgent Launch => Running.Agent;

        public RecordingAgentEvents Events => Running.Events;

        public Task<string> IdAsync() => Running.IdAsync();

        /// <summary>Stops it as Ctrl+C does; the test asserts how it ended.</summary>
        public async Task StopAsync() => await Running.DisposeAsync();
    }

    private Agent StartAgent(int maxJobs = 1, TimeSpan? lease = null, bool leaveJobsRunning = false, DiagnosticLevel? diagnostics = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var config = new LaunchAgentConfig { Queues = [_queue.Name], Entity = Entity, MaxJobs = maxJobs };
        var options = TestAgents.Options(config, _file.Dir.File("runs"), TestAgents.EnvironmentOf(environment), "fake-agent", lease,
            startTimeout: TimeSpan.FromSeconds(30), leaveJobsRunning: leaveJobsRunning, diagnostics: diagnostics);
        // Each agent has its own backend on the file, as an agent in another process has.
        var (backend, spy) = BackendSpy.Wrap(_file.Open());
        var agent = new Agent(_agents.Start(backend, options, runners: new RunnerRegistry([_runner])), spy);
        lock (_started) _started.Add(agent);
        return agent;
    }

    private Task<LaunchJob> PushAsync(string name, LaunchPriority? priority = null) =>
        _store.PushAsync(_queue, new PushRequest
        {
            Spec = new JsonObject
            {
                ["entity"] = Entity, ["project"] = "proj", ["name"] = name, ["docker"] = new JsonObject { ["docker_image"] = "example/train:1" },
            },
            Priority = priority,
        }, None);

    private Task<LaunchJob> EndOfAsync(LaunchJob job, int seconds = 20) => WaitForJob.EndAsync(_store, job.Id, TimeSpan.FromSeconds(seconds));

    private IEnumerable<string> EndsOf(string jobId) => _started.SelectMany(a => a.Spy.EndsOf(jobId));

    [Fact]
    public async Task Max_jobs_is_never_exceeded_and_each_end_is_written_once()
    {
        _runner.Default = FakeRun.Succeed(afterMs: 150);
        var jobs = new List<LaunchJob>();
        for (var i = 0; i < 6; i++) jobs.Add(await PushAsync($"j{i}"));
        var agent = StartAgent(maxJobs: 2);
        foreach (var job in jobs)
        {
            var ended = await EndOfAsync(job);
            Assert.True(ended.State == LaunchJobState.Finished, $"{ended.State}: {ended.FailureMessage}\n{agent.Events}");
        }
        Assert.Equal(2, _runner.Peak);
        Assert.Equal(6, _runner.Starts.Count);
        foreach (var job in jobs) Assert.Equal([nameof(ILaunchBackend.FinishAsync)], EndsOf(job.Id));
    }

    [Fact]
    public async Task Launch_jobs_start_by_priority_then_in_the_order_they_were_pushed()
    {
        var low = await PushAsync("low", LaunchPriority.Low);
        var first = await PushAsync("medium-1", LaunchPriority.Medium);
        var critical = await PushAsync("critical", LaunchPriority.Critical);
        var second = await PushAsync("medium-2", LaunchPriority.Medium);
        StartAgent(maxJobs: 1);
        foreach (var job in new[] { low, first, critical, second }) await EndOfAsync(job);
        Assert.Equal(["critical", "medium-1", "medium-2", "low"], _runner.Starts.Select(s => s.Name));
    }

    [Fact]
    public async Task A_stop_request_cancels_a_running_launch_job()
    {
        _runner.Default = FakeRun.Hang();
        var job = await PushAsync("hang");
        var agent = StartAgent();
        await WaitForJob.StateAsync(_store, job.Id, LaunchJobState.Running);
        await _store.RequestStopAsync(job.Id, None);
        var ended = await EndOfAsync(job);
        Assert.Equal(LaunchJobState.Stopped, ended.State);
        Assert.Contains("Stopped on request", ended.FailureMessage);
        Assert.Contains(job.Id, _runner.Cancels);
        Assert.Equal([nameof(ILaunchBackend.FinishAsync)], EndsOf(job.Id));
        Assert.True(agent.Launch.Stopped is null, "the agent keeps running");
    }

    [Fact]
    public async Task A_preempted_launch_job_is_requeued_with_the_same_run_id_and_resumes()
    {
        _runner.Script("spot", FakeRun.Preempt(afterMs: 50), FakeRun.Succeed());
        var job = await PushAsync("spot");
        StartAgent();
        var ended = await EndOfAsync(job);
        Assert.Equal(LaunchJobState.Finished, ended.State);
        Assert.Equal(2, ended.Attempts);
        var starts = _runner.Starts.Where(s => s.JobId == job.Id).ToList();
        Assert.Equal([1, 2], starts.Select(s => s.Attempts));
        Assert.All(starts, s => Assert.Equal(job.RunId, s.RunId));
        Assert.True(starts[1].Resumed, "the second attempt resumes the run");
        Assert.Equal([nameof(ILaunchBackend.RequeueAsync), nameof(ILaunchBackend.FinishAsync)], EndsOf(job.Id));
    }

    [Fact]
    public async Task A_launch_job_preempted_on_every_attempt_fails_after_the_last_requeue()
    {
        _runner.Script("doomed", FakeRun.Preempt());
        var job = await PushAsync("doomed");
        StartAgent();
        var ended = await EndOfAsync(job, 30);
        Assert.Equal(LaunchJobState.Failed, ended.State);
        Assert.Equal(FailureStage.Run, ended.FailureStage);
        Assert.Equal(LaunchAgent.MaxPreemptions + 1, ended.Attempts);
        Assert.Contains($"preempted on each of its {LaunchAgent.MaxPreemptions + 1} attempts", ended.FailureMessage);
        Assert.Equal(LaunchAgent.MaxPreemptions + 1, _runner.Starts.Count(s => s.JobId == job.Id));
        Assert.Equal(Enumerable.Repeat(nameof(ILaunchBackend.RequeueAsync), LaunchAgent.MaxPreemptions).Append(nameof(ILaunchBackend.FinishAsync)), EndsOf(job.Id));
    }

    [Theory]
    [InlineData(FailureStage.Run)]
    [InlineData(FailureStage.Agent)]
    public async Task A_launch_job_that_cannot_start_fails_at_the_stage_its_runner_names(string stage)
    {
        _runner.Script("refused", FakeRun.FailStart(stage, "The target refused the job: quota exceeded."));
        var job = await PushAsync("refused");
        StartAgent();
        var ended = await EndOfAsync(job);
        Assert.Equal(LaunchJobState.Failed, ended.State);
        Assert.Equal(stage, ended.FailureStage);
        Assert.Equal("The target refused the job: quota exceeded.", ended.FailureMessage);
        Assert.Null(ended.Handle);
        Assert.Equal([nameof(ILaunchBackend.FinishAsync)], EndsOf(job.Id));
    }

    [Fact]
    public async Task A_launch_job_that_fails_on_its_target_fails_at_stage_run()
    {
        _runner.Script("crash", FakeRun.Fail(afterMs: 20, "exit code 3"));
        var job = await PushAsync("crash");
        StartAgent();
        var ended = await EndOfAsync(job);
        Assert.Equal(LaunchJobState.Failed, ended.State);
        Assert.Equal(FailureStage.Run, ended.FailureStage);
        Assert.Equal(1, ended.ExitCode);
    }

    [Fact]
    public async Task A_launch_job_whose_agent_died_is_reattached_through_its_handle_by_the_next_agent()
    {
        // What a dead agent leaves behind: a running launch job it held, whose lease runs out.
        var job = await PushAsync("survivor");
        var dead = await _store.RegisterAgentAsync(new AgentRegistration { Name = "dead", Entity = Entity, Queues = [_queue], ConfigJson = "{}", MaxJobs = 1 }, None);
        var lease = TimeSpan.FromSeconds(1);
        Assert.NotNull(await _store.PopAsync(dead.Id, _queue, lease, None));
        await _store.AckAsync(job.Id, dead.Id, _file.Dir.File("survivor.log"), None);
        await _store.MarkLaunchingAsync(job.Id, dead.Id, None);
        // Long enough to be still running when the lease (1 s) has run out and the next agent's watchdog (once a lease
        // period) claims it, also on a loaded machine: 1.5 s once ended before the claim in a full CI run.
        var handle = _runner.Orphan(job.Id, FakeRun.Succeed(afterMs: 5000));
        await _store.MarkRunningAsync(job.Id, dead.Id, handle, None);

        var next = StartAgent(lease: lease);
        var ended = await EndOfAsync(job);
        Assert.True(ended.State == LaunchJobState.Finished, $"{ended.State}: {ended.FailureMessage}\n{next.Events}");
        Assert.Equal(await next.IdAsync(), ended.AgentId);
        Assert.Contains(handle, _runner.Attaches);
        Assert.Empty(_runner.Starts);
        Assert.Equal([nameof(ILaunchBackend.FinishAsync)], EndsOf(job.Id));
    }

    [Fact]
    public async Task A_launch_job_whose_agent_died_and_whose_target_is_gone_fails_at_stage_agent()
    {
        var job = await PushAsync("lost");
        var dead = await _store.RegisterAgentAsync(new AgentRegistration { Name = "dead", Entity = Entity, Queues = [_queue], ConfigJson = "{}", MaxJobs = 1 }, None);
        var lease = TimeSpan.FromSeconds(1);
        Assert.NotNull(await _store.PopAsync(dead.Id, _queue, lease, None));
        await _store.AckAsync(job.Id, dead.Id, _file.Dir.File("lost.log"), None);
        await _store.MarkLaunchingAsync(job.Id, dead.Id, None);
        await _store.MarkRunningAsync(job.Id, dead.Id, "fake:gone", None);

        StartAgent(lease: lease);
        var ended = await EndOfAsync(job);
        Assert.Equal(LaunchJobState.Failed, ended.State);
        Assert.Equal(FailureStage.Agent, ended.FailureStage);
        Assert.Contains("cannot be re-attached", ended.FailureMessage);
        Assert.Equal([nameof(ILaunchBackend.FinishAsync)], EndsOf(job.Id));
    }

    [Fact]
    public async Task An_agent_that_lost_its_lease_lets_the_job_go_and_the_agent_that_took_over_writes_the_end()
    {
        _runner.Default = FakeRun.Hang();
        var lease = TimeSpan.FromSeconds(1);
        var job = await PushAsync("contested");
        var stalled = StartAgent(lease: lease);
        await WaitForJob.StateAsync(_store, job.Id, LaunchJobState.Running);
        // Its process stalls: no heartbeat, so the lease runs out and another agent claims the launch job.
        var resume = new TaskCompletionSource();
        stalled.Spy.HeartbeatGate = resume.Task;
        await Task.Delay(lease * 2);
        var other = StartAgent(lease: lease);
        var otherId = await other.IdAsync();
        await Eventually.Until(async () => (await _store.GetJobAsync(job.Id, None))!.AgentId == otherId, "the other agent to take the job over");
        stalled.Spy.HeartbeatGate = null;
        resume.SetResult();

        await Eventually.Until(() => stalled.Events.Any(e => e.JobId == job.Id && e.Message.Contains("another agent took this job over")), "the stalled agent to notice");
        await Eventually.Until(() => stalled.Launch.ActiveJobs == 0, "the stalled agent to let the job go");
        Assert.DoesNotContain(job.Id, _runner.Cancels);
        Assert.Equal(LaunchJobState.Running, (await _store.GetJobAsync(job.Id, None))!.State);

        await _store.RequestStopAsync(job.Id, None);
        var ended = await EndOfAsync(job);
        Assert.Equal(LaunchJobState.Stopped, ended.State);
        Assert.Contains("Stopped on request", ended.FailureMessage);
        Assert.Equal(otherId, ended.AgentId);
        Assert.Empty(stalled.Spy.EndsOf(job.Id));
        Assert.Single(other.Spy.EndsOf(job.Id));
    }

    [Fact]
    public async Task An_agent_that_stops_stops_its_launch_jobs()
    {
        _runner.Default = FakeRun.Hang();
        var job = await PushAsync("long");
        var agent = StartAgent();
        await WaitForJob.StateAsync(_store, job.Id, LaunchJobState.Running);
        await agent.StopAsync();
        var ended = await _store.GetJobAsync(job.Id, None);
        Assert.Equal(LaunchJobState.Stopped, ended!.State);
        Assert.Contains("The agent stopped while the job ran, because it was cancelled", ended.FailureMessage);
        Assert.Contains(job.Id, _runner.Cancels);
        Assert.Equal(AgentStopReason.Cancelled, agent.Launch.Stopped!.Reason);
        Assert.Contains(agent.Events, e => e.Message.Contains("stopped because it was cancelled (Ctrl+C or Stop-Job): 0 job(s) finished, 1 failed or stopped"));
    }

    [Fact]
    public async Task An_agent_that_leaves_its_jobs_releases_them_to_the_next_agent_which_reattaches()
    {
        _runner.Script("kept", FakeRun.Hang());
        var job = await PushAsync("kept");
        var first = StartAgent(leaveJobsRunning: true);
        await WaitForJob.StateAsync(_store, job.Id, LaunchJobState.Running);
        await first.StopAsync();
        Assert.Empty(_runner.Cancels);
        Assert.Equal([nameof(ILaunchBackend.ReleaseAsync)], first.Spy.EndsOf(job.Id));
        Assert.Contains(first.Events, e => e.Message.Contains("1 left running for the next agent"));

        var next = StartAgent();
        await Eventually.Until(() => _runner.Attaches.Count == 1, "the next agent to re-attach");
        await _store.RequestStopAsync(job.Id, None);
        var ended = await EndOfAsync(job);
        Assert.Equal(LaunchJobState.Stopped, ended.State);
        Assert.Equal(await next.IdAsync(), ended.AgentId);
        Assert.Equal([nameof(ILaunchBackend.FinishAsync)], next.Spy.EndsOf(job.Id));
    }

    [Fact]
    public async Task Diagnostics_reach_the_agents_events_at_the_level_asked_for_without_secrets()
    {
        const string key = "local-0123456789abcdef0123456789abcdef01234567";
        var job = await PushAsync("seen");
        var agent = StartAgent(diagnostics: DiagnosticLevel.Verbose, environment: new Dictionary<string, string> { ["WANDB_API_KEY"] = key });
        await EndOfAsync(job);
        await Eventually.Until(() => agent.Events.Any(e => e.Kind == AgentEventKind.Verbose && e.Message.Contains("wrote the end of " + job.Id)), "the end to be reported");
        var verbose = agent.Events.Where(e => e.Kind == AgentEventKind.Verbose).Select(e => e.Message).ToList();
        Assert.Contains(verbose, m => m.StartsWith("[agent] registered as agent") && m.Contains("polling queue(s) q"));
        Assert.Contains(verbose, m => m.StartsWith("[agent] popped " + job.Id));
        // What other parts of the engine report while the agent works reaches its events too, redacted.
        Assert.Contains(verbose, m => m.StartsWith("[fake-runner] starting " + job.Id) && m.Contains("WANDB_API_KEY="));
        Assert.DoesNotContain(agent.Events, e => e.Kind == AgentEventKind.Debug);
        Assert.DoesNotContain(agent.Events, e => e.Message.Contains(key));

        var quiet = StartAgent();
        await quiet.IdAsync();
        Assert.DoesNotContain(quiet.Events, e => e.Kind is AgentEventKind.Verbose or AgentEventKind.Debug);
    }
}
