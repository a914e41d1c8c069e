using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Services;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Engine.JobTests;

/// <summary>
/// Queue-less launches (Invoke-WandbLaunchJob), as W&amp;B's <c>wandb launch</c> without <c>-q</c> runs them
/// (<c>wandb/cli/cli.py</c> <c>launch</c>, <c>wandb/sdk/launch/_launch.py</c> <c>_launch</c>): checked, recorded in a
/// queue of their own, run at once by an agent that serves only that queue and stops when the job has ended.
/// Real store file, real local processes.
/// </summary>
public sealed class DirectLaunchTests : IAsyncLifetime
{
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly Store _store = new();
    private readonly TestAgents _agents = new();

    private string CodeDirectory => _store.Dir.File("code");

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(CodeDirectory);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _agents.DisposeAsync();
        _store.Dispose();
    }

    private SubmitOptions Shell(string script) => new()
    {
        Uri = CodeDirectory,
        EntryPoint = ["sh", "-c", script],
        Entity = Store.Entity,
        Project = "proj",
    };

    private async Task<LaunchJob> RecordAsync(SubmitOptions options, string? resource = LaunchResource.LocalProcess)
    {
        var launch = new DirectLaunch(_store.Backend, _ => null);
        var request = await launch.CheckAsync(options, resource, new LaunchAgentConfig(), preview: false, None);
        return await launch.RecordAsync(request, None);
    }

    /// <summary>The direct agent as Invoke-WandbLaunchJob starts it: its own backend on the file, as another process has.</summary>
    private RunningAgent Run(LaunchJob job) =>
        _agents.Start(_store.Open(), TestAgents.Options(new LaunchAgentConfig { MaxJobs = 1 }, _store.Dir.File("runs"), lease: TimeSpan.FromSeconds(2),
            stopJobsOnExit: true, direct: DirectLaunch.AgentTarget(job)), ownsBackend: true);

    private async Task<(LaunchJob Job, LaunchException? Error)> EndAsync(RunningAgent agent, LaunchJob job)
    {
        await agent.Run.WaitAsync(TimeSpan.FromSeconds(30));
        return await new DirectLaunch(_store.Backend).EndAsync(job.Id, None);
    }

    [Fact]
    public async Task A_process_that_exits_0_runs_at_once_and_its_agent_stops_when_it_has_finished()
    {
        var job = await RecordAsync(Shell("echo direct-output"));
        Assert.Equal(LaunchJobState.Pending, job.State);

        var agent = Run(job);
        var (end, error) = await EndAsync(agent, job);

        Assert.True(end.State == LaunchJobState.Finished, $"{end.State}: {end.FailureMessage}\n{agent.Events}");
        Assert.Equal(0, end.ExitCode);
        Assert.Null(error);
        Assert.Equal(AgentStopReason.JobEnded, agent.Agent.Stopped?.Reason);
        Assert.Contains("direct-output", await File.ReadAllTextAsync(end.LogPath!));
        Assert.Equal("proj", end.GetSpec().Project);
    }

    [Fact]
    public async Task The_job_is_recorded_in_a_queue_of_its_own_in_the_reserved_project_not_among_the_users_queues()
    {
        await _store.QueueAsync("q");
        var first = await RecordAsync(Shell("true"));
        var second = await RecordAsync(Shell("true"));

        Assert.Equal(DirectQueues.Project, first.Project);
        Assert.NotEqual(first.Queue, second.Queue);
        var users = await _store.Backend.GetQueuesAsync(Store.Entity, LaunchDefaults.Project, None);
        Assert.Equal(["q"], users.Select(q => q.Name));
        // Listed with every other job.
        var all = await _store.Backend.GetJobsAsync(new JobQuery(), None);
        Assert.Contains(all, j => j.Id == first.Id);
    }

    [Fact]
    public async Task A_failing_process_ends_failed_with_LaunchJobFailed_as_wandb_launch_exits_1()
    {
        var job = await RecordAsync(Shell("echo before-failing; exit 3"));
        var (end, error) = await EndAsync(Run(job), job);

        Assert.Equal(LaunchJobState.Failed, end.State);
        Assert.Equal(3, end.ExitCode);
        Assert.Equal("LaunchJobFailed", error?.ErrorId);
        Assert.Contains(job.Id, error!.Message);
        Assert.Contains("run", error.Message);
    }

    [Fact]
    public async Task Stop_from_another_session_stops_the_job_and_its_agent_with_LaunchJobStopped()
    {
        var job = await RecordAsync(Shell("sleep 60"));
        var agent = Run(job);
        await WaitForJob.StateAsync(_store.Backend, job.Id, LaunchJobState.Running, TimeSpan.FromSeconds(20));

        using (var other = _store.Open()) await other.RequestStopAsync(job.Id, None);
        var (end, error) = await EndAsync(agent, job);

        Assert.Equal(LaunchJobState.Stopped, end.State);
        Assert.Equal("LaunchJobStopped", error?.ErrorId);
    }

    [Fact]
    public async Task Cancelling_the_agent_as_ctrl_c_does_stops_the_job_as_wandbs_interrupt_does()
    {
        // A container job is left to the next agent when an agent stops; nothing would come back for a direct launch's job.
        var job = await RecordAsync(Shell("sleep 60"));
        var agent = Run(job);
        await WaitForJob.StateAsync(_store.Backend, job.Id, LaunchJobState.Running, TimeSpan.FromSeconds(20));

        await agent.StopAsync();
        var (end, error) = await new DirectLaunch(_store.Backend).EndAsync(job.Id, None);

        Assert.Equal(LaunchJobState.Stopped, end.State);
        Assert.Equal("LaunchJobStopped", error?.ErrorId);
    }

    [Fact]
    public async Task An_agent_serving_the_users_queues_never_takes_a_direct_launchs_job()
    {
        var userQueue = await _store.QueueAsync("q");
        var job = await RecordAsync(Shell("true"));
        var normal = _agents.Start(_store.Open(), TestAgents.Options(new LaunchAgentConfig { Queues = [userQueue.Name], Entity = Store.Entity, MaxJobs = -1 },
            _store.Dir.File("runs-normal"), lease: TimeSpan.FromSeconds(2)), ownsBackend: true);
        await normal.IdAsync();
        await Task.Delay(TimeSpan.FromSeconds(1));

        Assert.Equal(LaunchJobState.Pending, (await _store.JobAsync(job.Id)).State);
        var (end, _) = await EndAsync(Run(job), job);
        Assert.Equal(LaunchJobState.Finished, end.State);
    }

    [Fact]
    public async Task The_job_of_a_launch_whose_pwsh_stopped_responding_is_ended_by_the_next_launchs_agent()
    {
        // No agent serves a direct launch's queue but its own: without this, the job would show Running for ever.
        var first = await RecordAsync(Shell("sleep 60"));
        var (stalling, spy) = BackendSpy.Wrap(_store.Open());
        var stall = new TaskCompletionSource();
        _agents.Start(stalling, TestAgents.Options(new LaunchAgentConfig { MaxJobs = 1 }, _store.Dir.File("runs"), lease: TimeSpan.FromSeconds(2),
            stopJobsOnExit: true, direct: DirectLaunch.AgentTarget(first)));
        try
        {
            var running = await WaitForJob.StateAsync(_store.Backend, first.Id, LaunchJobState.Running, TimeSpan.FromSeconds(20));
            spy.HeartbeatGate = stall.Task; // its pwsh stalls: no more heartbeats, so the job's lease runs out
            await Eventually.Until(async () => (await _store.JobAsync(first.Id)).LeaseExpiresAt < DateTimeOffset.UtcNow, "the first launch's lease to run out");

            var second = await RecordAsync(Shell("true"));
            var (end, error) = await EndAsync(Run(second), second);

            Assert.Equal(LaunchJobState.Finished, end.State);
            Assert.Null(error);
            var abandoned = await _store.JobAsync(first.Id);
            Assert.Equal(LaunchJobState.Failed, abandoned.State);
            Assert.Equal("agent", abandoned.FailureStage);
            Assert.Contains("Invoke-WandbLaunchJob", abandoned.FailureMessage);
            // The local process cannot be re-attached: it was ended, not left running.
            var pid = int.Parse(running.Handle!.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
            await Eventually.Until(() => ProcessState.IsGone(pid), "the abandoned process to end");
        }
        finally
        {
            stall.TrySetResult();
        }
    }

    [Fact]
    public async Task The_resource_is_local_container_unless_given_or_named_by_the_spec_as_in_wandbs_launch()
    {
        // _launch.py: `if resource is None: resource = "local-container"`; cli.py: `resource = resource or config.get("resource")`.
        var launch = new DirectLaunch(_store.Backend, _ => null);
        var image = new SubmitOptions { DockerImage = "busybox:1.36", Entity = Store.Entity, Project = "proj" };
        Assert.Equal(LaunchResource.LocalContainer, (await launch.CheckAsync(image, null, new LaunchAgentConfig(), false, None)).Queue.Resource);

        var spec = Shell("true") with { Spec = new System.Text.Json.Nodes.JsonObject { ["resource"] = "local-process" } };
        Assert.Equal(LaunchResource.LocalProcess, (await launch.CheckAsync(spec, null, new LaunchAgentConfig(), false, None)).Queue.Resource);
        Assert.Equal(LaunchResource.LocalContainer, (await launch.CheckAsync(image with { Spec = new System.Text.Json.Nodes.JsonObject { ["resource"] = "local-process" } },
            LaunchResource.LocalContainer, new LaunchAgentConfig(), false, None)).Queue.Resource);
    }

    [Fact]
    public async Task Bad_input_is_refused_before_anything_is_recorded()
    {
        var launch = new DirectLaunch(_store.Backend, _ => null);

        var unknown = await Assert.ThrowsAsync<LaunchException>(() => launch.CheckAsync(Shell("true"), "mainframe", new LaunchAgentConfig(), false, None));
        Assert.Equal("InvalidResource", unknown.ErrorId);
        Assert.Contains("mainframe", unknown.Message);
        Assert.Contains(LaunchResource.LocalProcess, unknown.Message);

        // A docker image cannot run as a local process: refused as Submit refuses it for a local-process queue.
        var cannot = await Assert.ThrowsAsync<LaunchException>(() => launch.CheckAsync(new SubmitOptions { DockerImage = "busybox", Entity = Store.Entity },
            LaunchResource.LocalProcess, new LaunchAgentConfig(), false, None));
        Assert.Equal("JobCannotRun", cannot.ErrorId);

        // cli.py: "--priority flag requires --queue to be set".
        var priority = await Assert.ThrowsAsync<LaunchException>(() => launch.CheckAsync(Shell("true") with { Priority = LaunchPriority.High },
            LaunchResource.LocalProcess, new LaunchAgentConfig(), false, None));
        Assert.Equal("QueueOptionWithoutQueue", priority.ErrorId);

        // The entity names the direct queue too: a hostile one is refused as a spec's is.
        var entity = await Assert.ThrowsAsync<LaunchException>(() => launch.CheckAsync(Shell("true") with { Entity = "../other" },
            LaunchResource.LocalProcess, new LaunchAgentConfig(), false, None));
        Assert.Equal("InvalidEntityName", entity.ErrorId);

        Assert.Empty(await _store.Backend.GetQueuesAsync(null, null, None));
        Assert.Empty(await _store.Backend.GetJobsAsync(new JobQuery(), None));
    }

    [Fact]
    public async Task The_reserved_project_takes_no_submit_of_a_user()
    {
        var job = await RecordAsync(Shell("true"));
        var submit = await Assert.ThrowsAsync<LaunchException>(() => new JobSubmission(_store.Backend).SubmitAsync(
            Shell("true") with { Queue = new QueueKey(job.Entity, job.Project, job.Queue) }, None));
        Assert.Equal("ReservedQueueProject", submit.ErrorId);
        Assert.Single(await _store.Backend.GetJobsAsync(new JobQuery(), None));
    }

    [Fact]
    public async Task An_agent_that_cannot_start_stops_the_job_rather_than_leaving_it_pending_for_ever()
    {
        var job = await RecordAsync(Shell("true"));
        await _store.Backend.DeleteQueueAsync(new QueueKey(job.Entity, job.Project, job.Queue), force: true, None);
        var again = await RecordAsync(Shell("true"));
        // Its agent is told about a queue that does not exist: it cannot start.
        var agent = _agents.Start(_store.Open(), TestAgents.Options(new LaunchAgentConfig(), _store.Dir.File("runs"),
            direct: new DirectJob(new QueueKey(again.Entity, again.Project, "direct-gone"), again.Id)), ownsBackend: true);

        await Assert.ThrowsAsync<QueueNotFoundException>(() => agent.Run.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(LaunchJobState.Stopped, (await _store.JobAsync(again.Id)).State);
    }
}
