using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using static WandbLaunch.Engine.JobTests.Assertions;

namespace WandbLaunch.Engine.JobTests;

public sealed class SqliteItemsTests : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Short = TimeSpan.FromMilliseconds(150);
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly Store _store = new();

    public void Dispose() => _store.Dispose();

    private static string Spec(string name) => $$"""{"uri": "/tmp/code", "name": "{{name}}"}""";

    private async Task<List<string>> PopAllAsync(QueueKey queue, string agent = "agent-a")
    {
        var names = new List<string>();
        while (await _store.Backend.PopAsync(agent, queue, Long, None) is { } job) names.Add(job.Name!);
        return names;
    }

    /// <summary>Pops <paramref name="queue"/> as <paramref name="agent"/> until an item comes (a short lease elsewhere expiring).</summary>
    private async Task<LaunchJob> PopWhenAvailableAsync(string agent, QueueKey queue, TimeSpan? lease = null)
    {
        LaunchJob? job = null;
        await Eventually.Until(async () => (job = await _store.Backend.PopAsync(agent, queue, lease ?? Long, None)) is not null, $"{agent} to pop from {queue}");
        return job!;
    }

    /// <summary>An item leased, acknowledged and running under <paramref name="agent"/>.</summary>
    private async Task<LaunchJob> StartedAsync(QueueKey queue, string agent, TimeSpan lease, string name = "j")
    {
        var pushed = await _store.PushAsync(queue, Spec(name));
        var popped = await _store.Backend.PopAsync(agent, queue, lease, None);
        Assert.Equal(pushed.Id, popped!.Id);
        await _store.Backend.AckAsync(pushed.Id, agent, _store.Dir.File(pushed.Id + ".log"), None);
        await _store.Backend.MarkRunningAsync(pushed.Id, agent, "pid:1:1", None);
        return await _store.JobAsync(pushed.Id);
    }

    [Fact]
    public async Task A_pushed_item_is_pending_with_its_spec_run_id_and_priority()
    {
        var queue = await _store.QueueAsync("q", prioritization: true);
        var job = await _store.PushAsync(queue, """{"uri": "/tmp/code", "name": "n1", "run_id": "abcd1234"}""", LaunchPriority.High);
        Assert.Equal(LaunchJobState.Pending, job.State);
        Assert.Equal(LaunchPriority.High, job.Priority);
        Assert.Equal("abcd1234", job.RunId);
        Assert.Equal("n1", job.Name);
        Assert.Equal("/tmp/code", job.Source);
        Assert.Equal("q", job.Queue);
        Assert.Equal(Store.Entity, job.Entity);
        Assert.Equal(LaunchResource.LocalProcess, job.Resource);
        Assert.Equal(0, job.Attempts);
        Assert.Null(job.AgentId);
        var reread = await _store.JobAsync(job.Id);
        Assert.Equal(job.SpecJson, reread.SpecJson);
        Assert.Equal(1, (await _store.Backend.GetQueueAsync(queue, None))!.PendingCount);
    }

    [Fact]
    public async Task A_refused_push_stores_nothing()
    {
        var queue = await _store.QueueAsync("q");
        await ThrowsLaunchAsync("MissingJobSource", () => _store.PushAsync(queue, """{"name": "x"}"""));
        await ThrowsLaunchAsync("PrioritizationDisabled", () => _store.PushAsync(queue, Spec("x"), LaunchPriority.Critical));
        await ThrowsLaunchAsync("QueueNotFound", () => _store.PushAsync(Store.Key("nope"), Spec("x")));
        Assert.Empty(await _store.Backend.GetJobsAsync(new JobQuery(), None));
    }

    [Fact]
    public async Task Pop_takes_by_priority_then_FIFO_when_prioritization_is_on()
    {
        var queue = await _store.QueueAsync("q", prioritization: true);
        await _store.PushAsync(queue, Spec("low1"), LaunchPriority.Low);
        await _store.PushAsync(queue, Spec("med1"));
        await _store.PushAsync(queue, Spec("crit1"), LaunchPriority.Critical);
        await _store.PushAsync(queue, Spec("high1"), LaunchPriority.High);
        await _store.PushAsync(queue, Spec("med2"), LaunchPriority.Medium);
        await _store.PushAsync(queue, Spec("crit2"), LaunchPriority.Critical);
        await _store.PushAsync(queue, Spec("low2"), LaunchPriority.Low);
        await _store.PushAsync(queue, Spec("high2"), LaunchPriority.High);
        Assert.Equal(["crit1", "crit2", "high1", "high2", "med1", "med2", "low1", "low2"], await PopAllAsync(queue));
    }

    [Fact]
    public async Task Pop_is_FIFO_when_prioritization_is_off()
    {
        var queue = await _store.QueueAsync("q", prioritization: false);
        await _store.PushAsync(queue, """{"uri": "/tmp/code", "name": "a"}""");
        await _store.PushAsync(queue, """{"uri": "/tmp/code", "name": "b", "priority": "medium"}""");
        await _store.PushAsync(queue, """{"uri": "/tmp/code", "name": "c"}""");
        Assert.Equal(["a", "b", "c"], await PopAllAsync(queue));
    }

    [Fact]
    public async Task Turning_prioritization_off_makes_pop_FIFO_again()
    {
        var queue = await _store.QueueAsync("q", prioritization: true);
        await _store.PushAsync(queue, Spec("low"), LaunchPriority.Low);
        await _store.PushAsync(queue, Spec("crit"), LaunchPriority.Critical);
        await _store.Backend.UpdateQueueAsync(queue, new QueueUpdate { Prioritization = false }, None);
        Assert.Equal(["low", "crit"], await PopAllAsync(queue));
    }

    [Fact]
    public async Task Pop_only_takes_from_the_given_queue_and_an_empty_queue_gives_null()
    {
        var q1 = await _store.QueueAsync("q1");
        var q2 = await _store.QueueAsync("q2");
        await _store.PushAsync(q2, Spec("in-q2"));
        Assert.Null(await _store.Backend.PopAsync("agent-a", q1, Long, None));
        Assert.Equal(["in-q2"], await PopAllAsync(q2));
        await ThrowsLaunchAsync("QueueNotFound", () => _store.Backend.PopAsync("agent-a", Store.Key("missing"), Long, None));
    }

    [Fact]
    public async Task A_popped_item_is_leased_to_the_agent_and_invisible_to_others()
    {
        var queue = await _store.QueueAsync("q");
        var pushed = await _store.PushAsync(queue, Spec("only"));
        var before = DateTimeOffset.UtcNow;
        var job = await _store.Backend.PopAsync("agent-a", queue, TimeSpan.FromSeconds(60), None);
        Assert.NotNull(job);
        Assert.Equal(pushed.Id, job!.Id);
        Assert.Equal(LaunchJobState.Leased, job.State);
        Assert.Equal("agent-a", job.AgentId);
        Assert.Equal(1, job.Attempts);
        Assert.NotNull(job.LeasedAt);
        Assert.InRange(job.LeaseExpiresAt!.Value, before.AddSeconds(59), DateTimeOffset.UtcNow.AddSeconds(61));

        Assert.Null(await _store.Backend.PopAsync("agent-b", queue, Long, None));
        Assert.Null(await _store.Open().PopAsync("agent-c", queue, Long, None));
        var q = await _store.Backend.GetQueueAsync(queue, None);
        Assert.Equal(0, q!.PendingCount);
        Assert.Equal(1, q.ActiveCount);
    }

    [Fact]
    public async Task An_expired_lease_on_an_unstarted_item_returns_it_to_pending_and_attempts_count_pops()
    {
        var queue = await _store.QueueAsync("q");
        var pushed = await _store.PushAsync(queue, Spec("only"));
        var first = await _store.Backend.PopAsync("agent-a", queue, Short, None);
        Assert.Equal(1, first!.Attempts);

        // Expired leases are released by the next pop or orphan claim.
        await Eventually.Until(() => DateTimeOffset.UtcNow > first.LeaseExpiresAt!.Value.AddMilliseconds(20), "the lease to expire");
        Assert.Empty(await _store.Backend.ClaimOrphansAsync("agent-x", [queue], Long, None));
        var released = await _store.JobAsync(pushed.Id);
        Assert.Equal(LaunchJobState.Pending, released.State);
        Assert.Null(released.AgentId);
        Assert.Null(released.LeaseExpiresAt);
        Assert.Equal(pushed.RunId, released.RunId);

        var second = await PopWhenAvailableAsync("agent-b", queue, Short);
        Assert.Equal(pushed.Id, second.Id);
        Assert.Equal("agent-b", second.AgentId);
        Assert.Equal(2, second.Attempts);

        // And once more without an explicit release in between: the pop itself takes the expired lease over.
        var third = await PopWhenAvailableAsync("agent-c", queue);
        Assert.Equal(pushed.Id, third.Id);
        Assert.Equal(3, third.Attempts);
        Assert.Equal("agent-c", third.AgentId);
        Assert.Equal(pushed.RunId, third.RunId);
    }

    [Fact]
    public async Task The_job_lifecycle_ack_running_finish()
    {
        var queue = await _store.QueueAsync("q");
        var pushed = await _store.PushAsync(queue, Spec("j"));
        await _store.Backend.PopAsync("agent-a", queue, Long, None);

        var log = _store.Dir.File("j.log");
        var acked = await _store.Backend.AckAsync(pushed.Id, "agent-a", log, None);
        Assert.Equal(LaunchJobState.Starting, acked.State);
        Assert.Equal(log, acked.LogPath);
        Assert.Null(acked.StartedAt);

        await _store.Backend.MarkRunningAsync(pushed.Id, "agent-a", "pid:42:7", None);
        var running = await _store.JobAsync(pushed.Id);
        Assert.Equal(LaunchJobState.Running, running.State);
        Assert.Equal("pid:42:7", running.Handle);
        Assert.NotNull(running.StartedAt);

        await _store.Backend.FinishAsync(pushed.Id, "agent-a", JobOutcome.Failed(FailureStage.Run, "boom", 3), None);
        var done = await _store.JobAsync(pushed.Id);
        Assert.Equal(LaunchJobState.Failed, done.State);
        Assert.Equal(3, done.ExitCode);
        Assert.Equal("boom", done.FailureMessage);
        Assert.Equal("run", done.FailureStage);
        Assert.NotNull(done.FinishedAt);
        Assert.Null(done.LeaseExpiresAt);
        Assert.Equal(running.StartedAt, done.StartedAt);

        // Finished items are no longer the agent's: nothing more can be recorded as if it held them.
        await ThrowsLaunchAsync("JobLeaseLost", () => _store.Backend.FinishAsync(pushed.Id, "agent-a", JobOutcome.Finished(), None));
        await ThrowsLaunchAsync("JobLeaseLost", () => _store.Backend.MarkRunningAsync(pushed.Id, "agent-a", "pid:1:1", None));
        Assert.Throws<ArgumentException>(() => { _ = _store.Backend.FinishAsync(pushed.Id, "agent-a", new JobOutcome(LaunchJobState.Running), None); });
    }

    [Fact]
    public async Task Finish_records_finished_with_exit_code_and_stopped_with_message()
    {
        var queue = await _store.QueueAsync("q");
        var a = await StartedAsync(queue, "agent-a", Long, "a");
        await _store.Backend.FinishAsync(a.Id, "agent-a", JobOutcome.Finished(), None);
        var finished = await _store.JobAsync(a.Id);
        Assert.Equal(LaunchJobState.Finished, finished.State);
        Assert.Equal(0, finished.ExitCode);
        Assert.Null(finished.FailureMessage);

        var b = await StartedAsync(queue, "agent-a", Long, "b");
        await _store.Backend.FinishAsync(b.Id, "agent-a", JobOutcome.Stopped("asked to"), None);
        var stopped = await _store.JobAsync(b.Id);
        Assert.Equal(LaunchJobState.Stopped, stopped.State);
        Assert.Equal("asked to", stopped.FailureMessage);
    }

    [Fact]
    public async Task An_agent_whose_item_was_taken_over_gets_JobLeaseLost()
    {
        var queue = await _store.QueueAsync("q");
        var pushed = await _store.PushAsync(queue, Spec("j"));
        await _store.Backend.PopAsync("agent-a", queue, Short, None);
        var taken = await PopWhenAvailableAsync("agent-b", queue);
        Assert.Equal(pushed.Id, taken.Id);

        await ThrowsLaunchAsync("JobLeaseLost", () => _store.Backend.AckAsync(pushed.Id, "agent-a", "/tmp/x.log", None));
        await ThrowsLaunchAsync("JobLeaseLost", () => _store.Backend.MarkRunningAsync(pushed.Id, "agent-a", "pid:1:1", None));
        await ThrowsLaunchAsync("JobLeaseLost", () => _store.Backend.FinishAsync(pushed.Id, "agent-a", JobOutcome.Finished(), None));
        await ThrowsLaunchAsync("JobLeaseLost", () => _store.Backend.RequeueAsync(pushed.Id, "agent-a", "x", None));

        // The holder is unaffected.
        await _store.Backend.AckAsync(pushed.Id, "agent-b", "/tmp/x.log", None);
        await _store.Backend.MarkRunningAsync(pushed.Id, "agent-b", "pid:1:1", None);
        await _store.Backend.FinishAsync(pushed.Id, "agent-b", JobOutcome.Finished(), None);
        Assert.Equal(LaunchJobState.Finished, (await _store.JobAsync(pushed.Id)).State);
    }

    [Fact]
    public async Task Ack_needs_a_leased_item()
    {
        var queue = await _store.QueueAsync("q");
        var pushed = await _store.PushAsync(queue, Spec("j"));
        await ThrowsLaunchAsync("JobLeaseLost", () => _store.Backend.AckAsync(pushed.Id, "agent-a", "/tmp/x.log", None));
        await _store.Backend.PopAsync("agent-a", queue, Long, None);
        await _store.Backend.AckAsync(pushed.Id, "agent-a", "/tmp/x.log", None);
        await ThrowsLaunchAsync("JobLeaseLost", () => _store.Backend.AckAsync(pushed.Id, "agent-a", "/tmp/x.log", None));
    }

    [Fact]
    public async Task ClaimOrphans_takes_only_started_items_with_expired_leases_in_the_given_queues()
    {
        var q1 = await _store.QueueAsync("q1");
        var q2 = await _store.QueueAsync("q2");

        var starting = await _store.PushAsync(q1, Spec("starting"));
        await _store.Backend.PopAsync("dead", q1, Short, None);
        await _store.Backend.AckAsync(starting.Id, "dead", "/tmp/s.log", None);
        var running = await StartedAsync(q1, "dead", Short, "running");
        var leasedOnly = await _store.PushAsync(q1, Spec("leased"));
        await _store.Backend.PopAsync("dead", q1, Short, None);
        var alive = await StartedAsync(q1, "alive", Long, "alive");
        var finished = await StartedAsync(q1, "dead", Short, "finished");
        await _store.Backend.FinishAsync(finished.Id, "dead", JobOutcome.Finished(), None);
        var otherQueue = await StartedAsync(q2, "dead", Short, "other-queue");
        var pending = await _store.PushAsync(q1, Spec("pending"));

        var expiry = (await _store.Backend.GetJobsAsync(new JobQuery { AgentId = "dead" }, None)).Max(j => j.LeaseExpiresAt ?? DateTimeOffset.MinValue);
        await Eventually.Until(() => DateTimeOffset.UtcNow > expiry.AddMilliseconds(20), "the dead agent's leases to expire");

        var claimed = await _store.Backend.ClaimOrphansAsync("rescuer", [q1, Store.Key("no-such-queue")], TimeSpan.FromSeconds(60), None);
        Assert.Equal(new[] { starting.Id, running.Id }.Order(), claimed.Select(j => j.Id).Order());
        foreach (var job in claimed)
        {
            Assert.Equal("rescuer", job.AgentId);
            Assert.Equal("dead", job.PreviousAgentId);
            Assert.True(job.LeaseExpiresAt > DateTimeOffset.UtcNow.AddSeconds(50));
        }
        Assert.Equal(LaunchJobState.Starting, claimed.Single(j => j.Id == starting.Id).State);
        Assert.Equal(LaunchJobState.Running, claimed.Single(j => j.Id == running.Id).State);
        Assert.Equal("pid:1:1", claimed.Single(j => j.Id == running.Id).Handle);

        Assert.Equal(LaunchJobState.Pending, (await _store.JobAsync(leasedOnly.Id)).State);
        Assert.Equal("alive", (await _store.JobAsync(alive.Id)).AgentId);
        Assert.Equal(LaunchJobState.Finished, (await _store.JobAsync(finished.Id)).State);
        Assert.Equal("dead", (await _store.JobAsync(otherQueue.Id)).AgentId);
        Assert.Equal(LaunchJobState.Pending, (await _store.JobAsync(pending.Id)).State);

        // Claimed once: a second claim finds nothing while the rescuer's lease runs.
        Assert.Empty(await _store.Backend.ClaimOrphansAsync("another", [q1], Long, None));
    }

    [Fact]
    public async Task Stopping_a_pending_item_stops_it_at_once()
    {
        var queue = await _store.QueueAsync("q");
        var pushed = await _store.PushAsync(queue, Spec("j"));
        var stopped = await _store.Backend.RequestStopAsync(pushed.Id, None);
        Assert.Equal(LaunchJobState.Stopped, stopped.State);
        Assert.True(stopped.StopRequested);
        Assert.NotNull(stopped.FinishedAt);
        Assert.Null(await _store.Backend.PopAsync("agent-a", queue, Long, None));
        await ThrowsLaunchAsync("JobNotFound", () => _store.Backend.RequestStopAsync("item-nope", None));
    }

    [Fact]
    public async Task Stopping_an_active_item_flags_it_for_its_agent()
    {
        var queue = await _store.QueueAsync("q");
        var agent = (await _store.Backend.RegisterAgentAsync(new Agent.AgentRegistration
        {
            Name = "a", Entity = Store.Entity, Queues = [queue], ConfigJson = "{}", MaxJobs = -1,
        }, None)).Id;
        var job = await StartedAsync(queue, agent, Long);
        var other = await StartedAsync(queue, agent, Long, "other");
        Assert.False((await _store.Backend.HeartbeatAsync(agent, Long, None)).JobsToStop.Any());

        var flagged = await _store.Backend.RequestStopAsync(job.Id, None);
        Assert.Equal(LaunchJobState.Running, flagged.State);
        Assert.True(flagged.StopRequested);
        var beat = await _store.Backend.HeartbeatAsync(agent, Long, None);
        Assert.Equal([job.Id], beat.JobsToStop);
        Assert.Equal(new[] { job.Id, other.Id }.Order(), beat.HeldJobs.Order());

        // Stopping a finished item changes nothing.
        await _store.Backend.FinishAsync(job.Id, agent, JobOutcome.Stopped("stopped"), None);
        var after = await _store.Backend.RequestStopAsync(job.Id, None);
        Assert.Equal(LaunchJobState.Stopped, after.State);
    }

    [Fact]
    public async Task A_stopped_item_whose_lease_expires_before_it_starts_becomes_stopped_not_pending()
    {
        var queue = await _store.QueueAsync("q");
        var pushed = await _store.PushAsync(queue, Spec("j"));
        var leased = await _store.Backend.PopAsync("agent-a", queue, Short, None);
        var flagged = await _store.Backend.RequestStopAsync(pushed.Id, None);
        Assert.Equal(LaunchJobState.Leased, flagged.State);
        Assert.True(flagged.StopRequested);

        await Eventually.Until(() => DateTimeOffset.UtcNow > leased!.LeaseExpiresAt!.Value.AddMilliseconds(20), "the lease to expire");
        Assert.Null(await _store.Backend.PopAsync("agent-b", queue, Long, None));
        var job = await _store.JobAsync(pushed.Id);
        Assert.Equal(LaunchJobState.Stopped, job.State);
        Assert.NotNull(job.FinishedAt);
        Assert.Null(job.AgentId);
    }

    [Fact]
    public async Task Remove_deletes_ended_items_and_refuses_pending_or_active_ones()
    {
        var queue = await _store.QueueAsync("q");
        var pending = await _store.PushAsync(queue, Spec("p"));
        var e = await ThrowsLaunchAsync("JobActive", () => _store.Backend.RemoveJobAsync(pending.Id, None));
        Assert.Equal(pending.Id, e.Target);

        var leased = await _store.Backend.PopAsync("agent-a", queue, Long, None);
        await ThrowsLaunchAsync("JobActive", () => _store.Backend.RemoveJobAsync(leased!.Id, None));
        var log = _store.Dir.Write("logs/l.log", "output\n");
        File.WriteAllText(log + ".cursor", "0");
        await _store.Backend.AckAsync(leased!.Id, "agent-a", log, None);
        await ThrowsLaunchAsync("JobActive", () => _store.Backend.RemoveJobAsync(leased.Id, None));
        await _store.Backend.MarkRunningAsync(leased.Id, "agent-a", "pid:1:1", None);
        await ThrowsLaunchAsync("JobActive", () => _store.Backend.RemoveJobAsync(leased.Id, None));

        await _store.Backend.FinishAsync(leased.Id, "agent-a", JobOutcome.Finished(), None);
        Assert.True(File.Exists(log), "a refused removal keeps the log");
        await _store.Backend.RemoveJobAsync(leased.Id, None);
        Assert.Null(await _store.Backend.GetJobAsync(leased.Id, None));
        Assert.False(File.Exists(log));
        Assert.False(File.Exists(log + ".cursor"));
        await ThrowsLaunchAsync("JobNotFound", () => _store.Backend.RemoveJobAsync(leased.Id, None));
    }

    [Fact]
    public async Task Deleting_a_queue_deletes_its_jobs_logs()
    {
        var queue = await _store.QueueAsync("q");
        var pushed = await _store.PushAsync(queue, Spec("p"));
        var leased = await _store.Backend.PopAsync("agent-a", queue, Long, None);
        var log = _store.Dir.Write("logs/q.log", "output\n");
        await _store.Backend.AckAsync(leased!.Id, "agent-a", log, None);
        await _store.Backend.FinishAsync(leased.Id, "agent-a", JobOutcome.Finished(), None);
        var other = _store.Dir.Write("logs/other.log", "not this queue's\n");

        await _store.Backend.DeleteQueueAsync(queue, force: false, None);

        Assert.Null(await _store.Backend.GetJobAsync(pushed.Id, None));
        Assert.False(File.Exists(log));
        Assert.True(File.Exists(other));
    }

    [Fact]
    public async Task Requeue_before_start_keeps_the_run_id_without_resuming()
    {
        var queue = await _store.QueueAsync("q");
        var pushed = await _store.PushAsync(queue, Spec("j"));
        await _store.Backend.PopAsync("agent-a", queue, Long, None);
        await _store.Backend.RequeueAsync(pushed.Id, "agent-a", "agent shutting down", None);
        var job = await _store.JobAsync(pushed.Id);
        Assert.Equal(LaunchJobState.Pending, job.State);
        Assert.Equal(pushed.RunId, job.RunId);
        Assert.False(job.Resumed);
        Assert.Null(job.AgentId);
        Assert.Contains(job.Warnings, w => w.Message == "agent shutting down" && w.Stage == FailureStage.Agent);
    }

    [Fact]
    public async Task Requeue_after_start_keeps_the_run_id_and_resumes_it()
    {
        var queue = await _store.QueueAsync("q");
        var started = await StartedAsync(queue, "agent-a", Long);
        await _store.Backend.RequeueAsync(started.Id, "agent-a", "preempted", None);
        var requeued = await _store.JobAsync(started.Id);
        Assert.Equal(LaunchJobState.Pending, requeued.State);
        Assert.True(requeued.Resumed);
        Assert.Null(requeued.Handle);
        Assert.Equal(started.RunId, requeued.RunId);

        var again = await _store.Backend.PopAsync("agent-b", queue, Long, None);
        Assert.Equal(started.Id, again!.Id);
        Assert.Equal(started.RunId, again.RunId);
        Assert.True(again.Resumed);
        Assert.Equal(2, again.Attempts);
    }

    [Fact]
    public async Task Requeue_of_an_item_with_a_stop_request_stops_it()
    {
        var queue = await _store.QueueAsync("q");
        var started = await StartedAsync(queue, "agent-a", Long);
        await _store.Backend.RequestStopAsync(started.Id, None);
        await _store.Backend.RequeueAsync(started.Id, "agent-a", "preempted", None);
        var job = await _store.JobAsync(started.Id);
        Assert.Equal(LaunchJobState.Stopped, job.State);
        Assert.NotNull(job.FinishedAt);
        Assert.Null(await _store.Backend.PopAsync("agent-b", queue, Long, None));
    }

    [Fact]
    public async Task Warnings_accumulate_in_order()
    {
        var queue = await _store.QueueAsync("q");
        var pushed = await _store.PushAsync(queue, Spec("j"));
        await _store.Backend.WarnAsync(pushed.Id, "run", "first", None);
        await _store.Backend.WarnAsync(pushed.Id, "build", "second", None);
        var job = await _store.JobAsync(pushed.Id);
        Assert.Equal(["first", "second"], job.Warnings.Select(w => w.Message));
        Assert.Equal(["run", "build"], job.Warnings.Select(w => w.Stage));
    }

    [Fact]
    public async Task GetJobs_filters_by_queue_state_agent_and_ids_and_limits_to_the_newest()
    {
        var q1 = await _store.QueueAsync("q1");
        var q2 = await _store.QueueAsync("q2");
        var a = await _store.PushAsync(q1, Spec("a"));
        var b = await _store.PushAsync(q1, Spec("b"));
        var c = await _store.PushAsync(q2, Spec("c"));
        await _store.Backend.PopAsync("agent-a", q1, Long, None);

        Assert.Equal([a.Id, b.Id], (await _store.Backend.GetJobsAsync(new JobQuery { Queue = q1 }, None)).Select(j => j.Id));
        Assert.Equal([b.Id, c.Id], (await _store.Backend.GetJobsAsync(new JobQuery { States = [LaunchJobState.Pending] }, None)).Select(j => j.Id));
        Assert.Equal([a.Id], (await _store.Backend.GetJobsAsync(new JobQuery { AgentId = "agent-a" }, None)).Select(j => j.Id));
        Assert.Equal([a.Id, c.Id], (await _store.Backend.GetJobsAsync(new JobQuery { Ids = [c.Id, a.Id] }, None)).Select(j => j.Id));
        Assert.Equal([b.Id, c.Id], (await _store.Backend.GetJobsAsync(new JobQuery { Limit = 2 }, None)).Select(j => j.Id));
    }

    [Fact]
    public async Task Deleting_a_queue_with_active_items_needs_force()
    {
        var queue = await _store.QueueAsync("q");
        var job = await StartedAsync(queue, "agent-a", Long);
        var pending = await _store.PushAsync(queue, Spec("p"));
        var e = await ThrowsLaunchAsync("QueueHasActiveJobs", () => _store.Backend.DeleteQueueAsync(queue, force: false, None));
        Assert.Equal("q", e.Target);
        Assert.NotNull(await _store.Backend.GetQueueAsync(queue, None));

        await _store.Backend.DeleteQueueAsync(queue, force: true, None);
        Assert.Null(await _store.Backend.GetQueueAsync(queue, None));
        Assert.Null(await _store.Backend.GetJobAsync(job.Id, None));
        Assert.Null(await _store.Backend.GetJobAsync(pending.Id, None));
        await ThrowsLaunchAsync("QueueNotFound", () => _store.Backend.DeleteQueueAsync(queue, force: true, None));
    }

    [Fact]
    public async Task A_queue_with_only_pending_or_ended_items_is_deleted_without_force()
    {
        var queue = await _store.QueueAsync("q");
        var done = await StartedAsync(queue, "agent-a", Long);
        await _store.Backend.FinishAsync(done.Id, "agent-a", JobOutcome.Finished(), None);
        await _store.PushAsync(queue, Spec("p"));
        await _store.Backend.DeleteQueueAsync(queue, force: false, None);
        Assert.Null(await _store.Backend.GetQueueAsync(queue, None));
        Assert.Empty(await _store.Backend.GetJobsAsync(new JobQuery(), None));
    }
}
