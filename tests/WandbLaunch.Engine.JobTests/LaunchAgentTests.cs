using System.Diagnostics;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners.LocalProcess;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Engine.JobTests;

/// <summary>The agent loop with the local-process runner, end to end: real store file, real processes.</summary>
public sealed class LaunchAgentTests : IAsyncLifetime
{
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly Store _store = new();
    private readonly TestAgents _agents = new();
    private readonly List<Process> _processes = [];
    private QueueKey _queue = null!;

    private string CodeDirectory => _store.Dir.File("code");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(CodeDirectory);
        _queue = await _store.QueueAsync("q");
    }

    public async Task DisposeAsync()
    {
        await _agents.DisposeAsync();
        foreach (var process in _processes)
        {
            try
            {
                if (!process.HasExited) process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
            process.Dispose();
        }
        _store.Dispose();
    }

    private RunningAgent StartAgent(int maxJobs = -1, TimeSpan? lease = null, IReadOnlyDictionary<string, string>? environment = null, IReadOnlyList<string>? queues = null,
        bool leaveJobsRunning = false)
    {
        var config = new LaunchAgentConfig { Queues = queues ?? [_queue.Name], Entity = Store.Entity, MaxJobs = maxJobs };
        var options = TestAgents.Options(config, _store.Dir.File("runs"), TestAgents.EnvironmentOf(environment), lease: lease ?? TimeSpan.FromSeconds(2),
            leaveJobsRunning: leaveJobsRunning);
        // The agent gets its own backend on the file, as an agent in another process would.
        return _agents.Start(_store.Open(), options);
    }

    private Task<LaunchJob> SubmitAsync(params string[] entryPoint) => SubmitAsync(entryPoint, null);

    private Task<LaunchJob> SubmitAsync(string[] entryPoint, string[]? args, JsonObject? resourceArgs = null, string? image = null, QueueKey? queue = null)
    {
        var spec = new JsonObject { ["entity"] = Store.Entity, ["project"] = "proj" };
        if (image is null) spec["uri"] = CodeDirectory;
        else spec["docker"] = new JsonObject { ["docker_image"] = image };
        var overrides = new JsonObject();
        if (entryPoint.Length > 0) overrides["entry_point"] = new JsonArray(entryPoint.Select(e => (JsonNode?)e).ToArray());
        if (args is not null) overrides["args"] = new JsonArray(args.Select(e => (JsonNode?)e).ToArray());
        spec["overrides"] = overrides;
        if (resourceArgs is not null) spec["resource_args"] = new JsonObject { [LaunchResource.LocalProcess] = resourceArgs };
        return _store.PushAsync(queue ?? _queue, spec);
    }

    private Task<LaunchJob> EndOfAsync(LaunchJob job, int seconds = 20) => WaitForJob.EndAsync(_store.Backend, job.Id, TimeSpan.FromSeconds(seconds));

    [Fact]
    public async Task A_process_that_exits_0_finishes()
    {
        var agent = StartAgent();
        var job = await EndOfAsync(await SubmitAsync("true"));
        Assert.True(job.State == LaunchJobState.Finished, $"{job.State}: {job.FailureMessage}\n{agent.Events}");
        Assert.Equal(0, job.ExitCode);
        Assert.Null(job.FailureStage);
        Assert.Equal(1, job.Attempts);
        Assert.Equal(await agent.IdAsync(), job.AgentId);
        Assert.NotNull(job.StartedAt);
        Assert.NotNull(job.FinishedAt);
        Assert.StartsWith("pid:", job.Handle);
        Assert.True(File.Exists(job.LogPath), "the job has a log file");
        await Eventually.Until(() => agent.Events.Any(e => e.JobId == job.Id && e.Message.Contains("finished")), "a finished event");
        Assert.Contains(agent.Events.All, e => e.JobId == job.Id && e.Kind == AgentEventKind.Job && e.Message.Contains("running (pid"));
    }

    [Fact]
    public async Task A_process_that_exits_non_zero_fails_at_stage_run_with_its_exit_code()
    {
        var agent = StartAgent();
        var job = await EndOfAsync(await SubmitAsync("false"));
        Assert.Equal(LaunchJobState.Failed, job.State);
        Assert.Equal(1, job.ExitCode);
        Assert.Equal(FailureStage.Run, job.FailureStage);
        Assert.Contains("exited with code 1", job.FailureMessage);
        await Eventually.Until(() => agent.Events.Any(e => e.JobId == job.Id && e.Kind == AgentEventKind.Warning && e.Message.Contains("failed (run)")), "a failure warning");
    }

    [Fact]
    public async Task A_failure_message_carries_the_last_output_and_the_job_sees_its_environment_args_and_macros()
    {
        StartAgent(environment: new Dictionary<string, string> { ["REGION"] = "eu-west-9" });
        var script = "echo first line; echo \"$GREETING|$WANDB_RUN_ID|$WANDB_LAUNCH_QUEUE_NAME|$WANDB_LAUNCH|$WANDB_PROJECT|$0|$1|$(pwd)|r=$WANDB_RESUME\"; exit 3";
        var pushed = await SubmitAsync(["sh", "-c", script], ["arg zero", "arg;one"],
            new JsonObject { ["env"] = new JsonObject { ["GREETING"] = "hi from ${run_id} in ${REGION} for ${project_name} ${unknown}" } });
        var job = await EndOfAsync(pushed);
        Assert.True(job.State == LaunchJobState.Failed && job.ExitCode == 3, $"{job.State} ({job.FailureStage}, exit code {job.ExitCode}): {job.FailureMessage}");
        Assert.Equal(FailureStage.Run, job.FailureStage);
        var expected = $"hi from {job.RunId} in eu-west-9 for proj ${{unknown}}|{job.RunId}|q|True|proj|arg zero|arg;one|{CodeDirectory}|r=";
        Assert.Contains(expected, job.FailureMessage);
        Assert.Contains("first line", job.FailureMessage);
        Assert.Contains(expected, File.ReadAllText(job.LogPath!));
    }

    [Fact]
    public async Task A_job_without_an_entry_point_fails_at_stage_agent()
    {
        StartAgent();
        var job = await EndOfAsync(await SubmitAsync());
        Assert.Equal(LaunchJobState.Failed, job.State);
        Assert.Equal(FailureStage.Agent, job.FailureStage);
        Assert.Contains("entry point", job.FailureMessage);
        Assert.Null(job.ExitCode);
    }

    [Fact]
    public async Task A_docker_image_job_is_refused_by_local_process_at_stage_agent()
    {
        StartAgent();
        var job = await EndOfAsync(await SubmitAsync(["python", "train.py"], null, image: "busybox:latest"));
        Assert.Equal(LaunchJobState.Failed, job.State);
        Assert.Equal(FailureStage.Agent, job.FailureStage);
        Assert.Contains("busybox:latest", job.FailureMessage);
        Assert.Contains("local-container", job.FailureMessage);
    }

    [Fact]
    public async Task A_program_that_does_not_exist_fails_at_stage_run()
    {
        StartAgent();
        var job = await EndOfAsync(await SubmitAsync("/nonexistent/program-xyz"));
        Assert.Equal(LaunchJobState.Failed, job.State);
        Assert.Equal(FailureStage.Run, job.FailureStage);
        Assert.Contains("/nonexistent/program-xyz", job.FailureMessage);
    }

    [Fact]
    public async Task A_stop_request_kills_the_whole_process_tree()
    {
        var agent = StartAgent();
        var pidFile = Path.Combine(CodeDirectory, "child.pid");
        var pushed = await SubmitAsync("sh", "-c", $"sleep 300 & echo $! > '{pidFile}'; wait");
        var running = await WaitForJob.StateAsync(_store.Backend, pushed.Id, LaunchJobState.Running);
        await Eventually.Until(() => File.Exists(pidFile) && File.ReadAllText(pidFile).Trim().Length > 0, "the job to start its child");
        var child = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(ProcessHandle.TryParse(running.Handle, out var handle));
        Assert.False(ProcessState.IsGone(child));
        Assert.False(ProcessState.IsGone(handle.Pid));

        await _store.Backend.RequestStopAsync(pushed.Id, None);
        var job = await EndOfAsync(pushed, 15);
        Assert.Equal(LaunchJobState.Stopped, job.State);
        Assert.Contains("Stop-WandbLaunchJob", job.FailureMessage);
        await Eventually.Until(() => ProcessState.IsGone(handle.Pid), "the job's process to die", TimeSpan.FromSeconds(5));
        await Eventually.Until(() => ProcessState.IsGone(child), "the job's child process to die", TimeSpan.FromSeconds(5));
        Assert.False((await agent.Backend.GetAgentAsync(await agent.IdAsync(), None))!.StopRequested);
    }

    [Fact]
    public async Task The_agent_runs_no_more_than_max_jobs_at_once()
    {
        var agent = StartAgent(maxJobs: 2);
        var trace = _store.Dir.File("trace");
        var jobs = new List<LaunchJob>();
        for (var i = 0; i < 5; i++) jobs.Add(await SubmitAsync("sh", "-c", $"echo start >> '{trace}'; sleep 1; echo end >> '{trace}'"));

        var maxActive = 0;
        var id = await agent.IdAsync();
        await Eventually.Until(async () =>
        {
            var info = await _store.Backend.GetAgentAsync(id, None);
            maxActive = Math.Max(maxActive, info!.ActiveJobs);
            var ended = await _store.Backend.GetJobsAsync(new JobQuery { States = LaunchJobStates.Terminal }, None);
            return ended.Count == jobs.Count;
        }, "all jobs to end", TimeSpan.FromSeconds(30));

        Assert.All(await _store.Backend.GetJobsAsync(new JobQuery(), None), j => Assert.Equal(LaunchJobState.Finished, j.State));
        var running = 0;
        var peak = 0;
        foreach (var line in File.ReadAllLines(trace))
        {
            running += line == "start" ? 1 : -1;
            peak = Math.Max(peak, running);
        }
        Assert.Equal(0, running);
        Assert.Equal(2, peak);
        Assert.InRange(maxActive, 1, 2);
        Assert.Equal(2, (await _store.Backend.GetAgentAsync(id, None))!.MaxJobs);
    }

    [Fact]
    public async Task The_agent_stop_flag_ends_the_loop_stops_its_jobs_and_reports_KILLED()
    {
        var agent = StartAgent();
        var pushed = await SubmitAsync("sleep", "300");
        var running = await WaitForJob.StateAsync(_store.Backend, pushed.Id, LaunchJobState.Running);
        Assert.True(ProcessHandle.TryParse(running.Handle, out var handle));
        var id = await agent.IdAsync();
        Assert.Equal(AgentStatus.Running, (await _store.Backend.GetAgentAsync(id, None))!.Status);

        await _store.Backend.RequestAgentStopAsync(id, None);
        var winner = await Task.WhenAny(agent.Run, Task.Delay(TimeSpan.FromSeconds(15)));
        Assert.True(winner == agent.Run, "the agent did not stop within 15 s\n" + agent.Events);
        await agent.Run;

        Assert.Equal(AgentStatus.Killed, (await _store.Backend.GetAgentAsync(id, None))!.Status);
        var job = await _store.JobAsync(pushed.Id);
        Assert.Equal(LaunchJobState.Stopped, job.State);
        Assert.Contains("stop was requested", job.FailureMessage);
        await Eventually.Until(() => ProcessState.IsGone(handle.Pid), "the job's process to die", TimeSpan.FromSeconds(5));
        Assert.Contains(agent.Events.All, e => e.Kind == AgentEventKind.Status && e.Message.Contains("stopped because a stop was requested"));
        Assert.False(agent.Cancellation.IsCancellationRequested);
    }

    [Fact]
    public async Task An_idle_agent_writes_its_heartbeat_every_third_of_the_lease_not_every_second()
    {
        var agent = StartAgent(lease: TimeSpan.FromSeconds(30));
        var id = await agent.IdAsync();
        // The first heartbeat comes a second after the start; from then on, holding no jobs, every 10 s.
        var registered = (await _store.Backend.GetAgentAsync(id, None))!.HeartbeatAt;
        await Eventually.Until(async () => (await _store.Backend.GetAgentAsync(id, None))!.HeartbeatAt != registered, "the first heartbeat");
        var first = (await _store.Backend.GetAgentAsync(id, None))!.HeartbeatAt;
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal(first, (await _store.Backend.GetAgentAsync(id, None))!.HeartbeatAt);
        Assert.False(agent.Run.IsCompleted);
    }

    [Fact]
    public async Task A_stop_request_reaches_an_idle_agent_within_about_a_second_although_its_heartbeat_is_seconds_away()
    {
        var agent = StartAgent(lease: TimeSpan.FromSeconds(30));
        var id = await agent.IdAsync();
        await Task.Delay(TimeSpan.FromSeconds(1.5));

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await _store.Backend.RequestAgentStopAsync(id, None);
        var winner = await Task.WhenAny(agent.Run, Task.Delay(TimeSpan.FromSeconds(15)));
        Assert.True(winner == agent.Run, "the agent did not stop within 15 s\n" + agent.Events);
        await agent.Run;
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"the idle agent took {clock.Elapsed.TotalSeconds:F1} s to stop");
        Assert.Equal(AgentStatus.Killed, (await _store.Backend.GetAgentAsync(id, None))!.Status);
        Assert.Contains(agent.Events.All, e => e.Kind == AgentEventKind.Status && e.Message.Contains("stopped because a stop was requested"));
    }

    [Fact]
    public async Task With_LeaveJobsRunning_a_local_process_job_is_still_stopped_because_it_cannot_run_without_its_agent()
    {
        var agent = StartAgent(leaveJobsRunning: true);
        var pushed = await SubmitAsync("sleep", "300");
        var running = await WaitForJob.StateAsync(_store.Backend, pushed.Id, LaunchJobState.Running);
        Assert.True(ProcessHandle.TryParse(running.Handle, out var handle));

        agent.Cancellation.Cancel();
        await agent.Run.WaitAsync(TimeSpan.FromSeconds(15));

        var job = await _store.JobAsync(pushed.Id);
        Assert.Equal(LaunchJobState.Stopped, job.State);
        Assert.Equal("The agent stopped while the job ran, because it was cancelled (Ctrl+C or Stop-Job).", job.FailureMessage);
        await Eventually.Until(() => ProcessState.IsGone(handle.Pid), "the job's process to die", TimeSpan.FromSeconds(5));
        Assert.DoesNotContain(agent.Events.All, e => e.Message.Contains("left running", StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_LeaveJobsRunning_a_job_that_has_not_started_goes_back_on_its_queue_with_its_run_id()
    {
        // A git server that accepts the connection and never answers: the clone hangs, so the job stays Starting.
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var agent = StartAgent(leaveJobsRunning: true);
        var pushed = await _store.PushAsync(_queue, new JsonObject
        {
            ["entity"] = Store.Entity,
            ["project"] = "proj",
            ["uri"] = $"https://127.0.0.1:{((System.Net.IPEndPoint)silent.LocalEndpoint).Port}/team/repo.git",
            ["overrides"] = new JsonObject { ["entry_point"] = new JsonArray("sh", "main.sh") },
        });
        await WaitForJob.StateAsync(_store.Backend, pushed.Id, LaunchJobState.Starting);
        using var accepted = await silent.AcceptTcpClientAsync().WaitAsync(TimeSpan.FromSeconds(20));

        agent.Cancellation.Cancel();
        await agent.Run.WaitAsync(TimeSpan.FromSeconds(15));

        var job = await _store.JobAsync(pushed.Id);
        Assert.Equal(LaunchJobState.Pending, job.State);
        Assert.Null(job.AgentId);
        Assert.Equal(pushed.RunId, job.RunId);
        Assert.Contains(job.Warnings, w => w.Message == "The agent stopped before the job started, because it was cancelled (Ctrl+C or Stop-Job); it was put back on its queue.");
        Assert.Contains(agent.Events.All, e => e.Message.Contains("put back on its queue: the agent stopped before it started", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Cancelling_the_agent_stops_it_with_status_KILLED()
    {
        var agent = StartAgent();
        var id = await agent.IdAsync();
        await Eventually.Until(() => agent.Events.All.Count > 0, "the agent's first report");
        agent.Cancellation.Cancel();
        Assert.Same(agent.Run, await Task.WhenAny(agent.Run, Task.Delay(TimeSpan.FromSeconds(15))));
        await agent.Run;
        Assert.Equal(AgentStatus.Killed, (await _store.Backend.GetAgentAsync(id, None))!.Status);
    }

    [Fact]
    public async Task A_job_left_running_by_a_dead_agent_is_failed_at_stage_agent_and_its_process_killed()
    {
        // A dead agent: it leased, acknowledged and started the job, recorded the process handle, then stopped renewing.
        const string DeadAgent = "agent-dead000000";
        var pushed = await SubmitAsync("sleep", "300");
        var lease = TimeSpan.FromMilliseconds(300);
        Assert.Equal(pushed.Id, (await _store.Backend.PopAsync(DeadAgent, _queue, lease, None))!.Id);
        await _store.Backend.AckAsync(pushed.Id, DeadAgent, _store.Dir.File("logs/orphan.log"), None);
        var orphan = Process.Start(new ProcessStartInfo("sleep", "300") { UseShellExecute = false })!;
        _processes.Add(orphan);
        await _store.Backend.MarkRunningAsync(pushed.Id, DeadAgent, ProcessHandle.Of(orphan).ToString(), None);
        var leased = await _store.JobAsync(pushed.Id);
        await Eventually.Until(() => DateTimeOffset.UtcNow > leased.LeaseExpiresAt!.Value.AddMilliseconds(20), "the dead agent's lease to expire");

        var agent = StartAgent();
        var job = await EndOfAsync(pushed);
        Assert.Equal(LaunchJobState.Failed, job.State);
        Assert.Equal(FailureStage.Agent, job.FailureStage);
        Assert.Contains(DeadAgent, job.FailureMessage);
        Assert.Contains("stopped responding", job.FailureMessage);
        Assert.Equal(await agent.IdAsync(), job.AgentId);
        Assert.True(orphan.WaitForExit(TimeSpan.FromSeconds(10)), "the orphaned process was not killed");
        Assert.Contains(agent.Events.All, e => e.JobId == pushed.Id && e.Message.Contains("failed (agent)"));
        Assert.Contains("took over this job", File.ReadAllText(_store.Dir.File("logs/orphan.log")));
    }

    [Fact]
    public async Task A_job_whose_dead_agent_never_started_it_runs_on_the_next_agent()
    {
        const string DeadAgent = "agent-dead111111";
        var pushed = await SubmitAsync("true");
        var leased = await _store.Backend.PopAsync(DeadAgent, _queue, TimeSpan.FromMilliseconds(300), None);
        await Eventually.Until(() => DateTimeOffset.UtcNow > leased!.LeaseExpiresAt!.Value.AddMilliseconds(20), "the dead agent's lease to expire");

        var agent = StartAgent();
        var job = await EndOfAsync(pushed);
        Assert.Equal(LaunchJobState.Finished, job.State);
        Assert.Equal(2, job.Attempts);
        Assert.Equal(await agent.IdAsync(), job.AgentId);
        Assert.Equal(pushed.RunId, job.RunId);
    }

    [Fact]
    public async Task An_agent_for_a_queue_that_does_not_exist_refuses_to_start()
    {
        _queue = Store.Key("missing");
        var agent = StartAgent();
        var e = await Assert.ThrowsAnyAsync<Errors.LaunchException>(() => agent.Run);
        Assert.Equal("QueueNotFound", e.ErrorId);
        Assert.Empty(await _store.Backend.GetAgentsAsync(None));
    }

    [Fact]
    public async Task The_API_key_reaches_the_job_but_never_its_log_or_failure_message()
    {
        const string Key = "local-0123456789abcdef";
        StartAgent(environment: new Dictionary<string, string> { ["WANDB_API_KEY"] = Key });
        var job = await EndOfAsync(await SubmitAsync("sh", "-c", "echo \"key=$WANDB_API_KEY\"; exit 2"));
        Assert.Equal(LaunchJobState.Failed, job.State);
        Assert.Contains("key=***", job.FailureMessage);
        Assert.DoesNotContain(Key, job.FailureMessage);
        var log = File.ReadAllText(job.LogPath!);
        Assert.Contains("key=***", log);
        Assert.DoesNotContain(Key, log);
    }

    [Fact]
    public async Task A_requeued_run_is_resumed_with_the_same_run_id()
    {
        const string OtherAgent = "agent-preempted0";
        var pushed = await SubmitAsync("sh", "-c", "echo \"resume=$WANDB_RESUME run=$WANDB_RUN_ID\"; exit 4");
        await _store.Backend.PopAsync(OtherAgent, _queue, TimeSpan.FromMinutes(5), None);
        await _store.Backend.AckAsync(pushed.Id, OtherAgent, _store.Dir.File("logs/first.log"), None);
        await _store.Backend.MarkRunningAsync(pushed.Id, OtherAgent, "pid:1:0", None);
        await _store.Backend.RequeueAsync(pushed.Id, OtherAgent, "preempted", None);

        StartAgent();
        var job = await EndOfAsync(pushed);
        Assert.Equal(LaunchJobState.Failed, job.State);
        Assert.Equal(4, job.ExitCode);
        Assert.Contains($"resume=allow run={pushed.RunId}", job.FailureMessage);
        Assert.Equal(2, job.Attempts);
    }

    [Fact]
    public async Task An_agent_serving_several_queues_takes_them_round_robin()
    {
        var second = await _store.QueueAsync("q2");
        var jobs = new List<LaunchJob>();
        for (var i = 0; i < 3; i++) jobs.Add(await SubmitAsync(["true"], null));
        for (var i = 0; i < 3; i++) jobs.Add(await SubmitAsync(["true"], null, queue: second));

        StartAgent(maxJobs: 1, queues: ["q", "q2"]);
        var ended = new List<LaunchJob>();
        foreach (var job in jobs) ended.Add(await EndOfAsync(job));
        Assert.All(ended, j => Assert.Equal(LaunchJobState.Finished, j.State));
        var order = ended.OrderBy(j => j.LeasedAt).Select(j => j.Queue).ToList();
        Assert.Equal(["q", "q2", "q", "q2", "q", "q2"], order);
    }

    [Fact]
    public async Task A_process_handle_finds_its_live_process_and_nothing_once_it_exited()
    {
        // Killed and disposed by DisposeAsync.
        var live = Process.Start(new ProcessStartInfo("sleep", "300") { UseShellExecute = false })!;
        _processes.Add(live);
        var handle = ProcessHandle.Of(live);
        Assert.True(ProcessHandle.TryParse(handle.ToString(), out var parsed));
        Assert.Equal(handle, parsed);
        using (var found = parsed.FindLiveProcess())
        {
            Assert.NotNull(found);
            Assert.Equal(live.Id, found!.Id);
        }
        // The same pid with another start time is another process (pid reuse).
        Assert.Null(new ProcessHandle(live.Id, handle.StartTicks - TimeSpan.TicksPerMinute).FindLiveProcess());

        using var quick = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        quick.WaitForExit();
        var exited = ProcessHandle.Of(quick);
        Assert.Equal(quick.Id, exited.Pid);
        Assert.Null(exited.FindLiveProcess());
        Assert.Null(new ProcessHandle(int.MaxValue - 1, handle.StartTicks).FindLiveProcess());

        Assert.False(ProcessHandle.TryParse(null, out _));
        Assert.False(ProcessHandle.TryParse("container:abc", out _));
        Assert.False(ProcessHandle.TryParse("pid:x:1", out _));
        Assert.False(ProcessHandle.TryParse("pid:1", out _));
    }

    [Fact]
    public async Task A_job_ends_when_its_process_exits_even_if_a_background_child_keeps_its_output_open()
    {
        StartAgent();
        var pidFile = Path.Combine(CodeDirectory, "background.pid");
        var pushed = await SubmitAsync("sh", "-c", $"sleep 60 & echo $! > '{pidFile}'; echo done; exit 5");
        var clock = Stopwatch.StartNew();
        var job = await EndOfAsync(pushed, 30);
        var background = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"the job ended {clock.Elapsed} after it was submitted");
            Assert.Equal(LaunchJobState.Failed, job.State);
            Assert.Equal(5, job.ExitCode);
            Assert.Contains("done", job.FailureMessage);
            Assert.False(ProcessState.IsGone(background), "the background child is the job's business, not the agent's");
        }
        finally
        {
            try
            {
                using var child = Process.GetProcessById(background);
                child.Kill();
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
            }
        }
    }

    [Fact]
    public async Task Jobs_that_exit_at_once_all_end_with_their_exit_code()
    {
        // A process can exit, and be reaped, before the runner records its handle: that must not fail the job.
        StartAgent();
        var jobs = new List<LaunchJob>();
        for (var i = 0; i < 40; i++) jobs.Add(await SubmitAsync(i % 2 == 0 ? "true" : "false"));
        var wrong = new List<string>();
        for (var i = 0; i < jobs.Count; i++)
        {
            var job = await EndOfAsync(jobs[i], 60);
            var expected = i % 2 == 0 ? (LaunchJobState.Finished, 0, (string?)null) : (LaunchJobState.Failed, 1, FailureStage.Run);
            if ((job.State, job.ExitCode, job.FailureStage) != expected) wrong.Add($"{job.Id}: {job.State} ({job.FailureStage}, exit code {job.ExitCode}): {job.FailureMessage}");
        }
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    // W&B's agent/agent.py print_status: "agent <name> polling on queues <q,...>, running N out of a maximum of M jobs",
    // every 5 minutes at verbosity 0 (DEFAULT_PRINT_INTERVAL) and every 20 s above (VERBOSE_PRINT_INTERVAL).
    [Fact]
    public async Task The_agent_reports_wandbs_status_line_at_the_interval_its_verbosity_gives_as_wandb_agent_print_status()
    {
        var options = new Func<int, AgentOptions>(verbosity => TestAgents.Options(new LaunchAgentConfig { Queues = [_queue.Name], Verbosity = verbosity }, _store.Dir.File("runs")));
        Assert.Equal(TimeSpan.FromMinutes(5), options(0).EffectiveStatusPrintInterval);
        Assert.Equal(TimeSpan.FromSeconds(20), options(1).EffectiveStatusPrintInterval);
        Assert.Equal(TimeSpan.FromSeconds(20), options(2).EffectiveStatusPrintInterval);

        var config = new LaunchAgentConfig { Queues = [_queue.Name], Entity = Store.Entity, MaxJobs = 2 };
        var agent = _agents.Start(_store.Open(), TestAgents.Options(config, _store.Dir.File("runs"), statusPrintInterval: TimeSpan.FromMilliseconds(200)));
        await Eventually.Until(() => agent.Events.Any(e => e.Kind == AgentEventKind.Status && e.Message.StartsWith("agent test-agent ")), "a status line");
        var line = agent.Events.All.First(e => e.Kind == AgentEventKind.Status && e.Message.StartsWith("agent test-agent ")).Message;
        Assert.Equal($"agent test-agent polling on queues {_queue.Name}, running 0 out of a maximum of 2 jobs", line);
    }
}
