using System.Text.Json.Nodes;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Backends.ContractTests;

/// <summary>Queue items: push, pop order, the lifecycle an agent drives (ack, launching, running, finish) and what it refuses, stop, requeue, remove.</summary>
public abstract partial class LaunchBackendContract<TFactory>
{
    [Fact]
    public async Task A_pushed_item_is_pending_with_its_spec_run_id_and_priority()
    {
        var queue = await QueueAsync("q", prioritization: true);
        var job = await PushAsync(queue, """{"uri": "/tmp/code", "name": "n1", "run_id": "abcd1234"}""", LaunchPriority.High);
        Assert.Equal(LaunchJobState.Pending, job.State);
        Assert.Equal(LaunchPriority.High, job.Priority);
        Assert.Equal("abcd1234", job.RunId);
        Assert.Equal("n1", job.Name);
        Assert.Equal("/tmp/code", job.Source);
        Assert.Equal("q", job.Queue);
        Assert.Equal(Entity, job.Entity);
        Assert.Equal(LaunchResource.LocalProcess, job.Resource);
        Assert.Equal(0, job.Attempts);
        Assert.Null(job.AgentId);
        var reread = await JobAsync(job.Id);
        Assert.Equal(job.SpecJson, reread.SpecJson);
        Assert.Equal(1, (await Backend.GetQueueAsync(queue, None))!.PendingCount);
    }

    [Fact]
    public async Task A_refused_push_stores_nothing()
    {
        var queue = await QueueAsync("q");
        await ThrowsLaunchAsync("MissingJobSource", () => PushAsync(queue, """{"name": "x"}"""));
        await ThrowsLaunchAsync("PrioritizationDisabled", () => PushAsync(queue, Spec("x"), LaunchPriority.Critical));
        await ThrowsLaunchAsync("QueueNotFound", () => PushAsync(Key("nope"), Spec("x")));
        Assert.Empty(await Backend.GetJobsAsync(new JobQuery(), None));
    }

    [Fact]
    public async Task Pop_takes_by_priority_then_FIFO_when_prioritization_is_on()
    {
        var queue = await QueueAsync("q", prioritization: true);
        await PushAsync(queue, Spec("low1"), LaunchPriority.Low);
        await PushAsync(queue, Spec("med1"));
        await PushAsync(queue, Spec("crit1"), LaunchPriority.Critical);
        await PushAsync(queue, Spec("high1"), LaunchPriority.High);
        await PushAsync(queue, Spec("med2"), LaunchPriority.Medium);
        await PushAsync(queue, Spec("crit2"), LaunchPriority.Critical);
        await PushAsync(queue, Spec("low2"), LaunchPriority.Low);
        await PushAsync(queue, Spec("high2"), LaunchPriority.High);
        Assert.Equal(["crit1", "crit2", "high1", "high2", "med1", "med2", "low1", "low2"], await PopAllAsync(queue));
    }

    [Fact]
    public async Task Pop_is_FIFO_when_prioritization_is_off()
    {
        var queue = await QueueAsync("q", prioritization: false);
        await PushAsync(queue, """{"uri": "/tmp/code", "name": "a"}""");
        await PushAsync(queue, """{"uri": "/tmp/code", "name": "b", "priority": "medium"}""");
        await PushAsync(queue, """{"uri": "/tmp/code", "name": "c"}""");
        Assert.Equal(["a", "b", "c"], await PopAllAsync(queue));
    }

    [Fact]
    public async Task Turning_prioritization_off_makes_pop_FIFO_again()
    {
        var queue = await QueueAsync("q", prioritization: true);
        await PushAsync(queue, Spec("low"), LaunchPriority.Low);
        await PushAsync(queue, Spec("crit"), LaunchPriority.Critical);
        await Backend.UpdateQueueAsync(queue, new QueueUpdate { Prioritization = false }, None);
        Assert.Equal(["low", "crit"], await PopAllAsync(queue));
    }

    [Fact]
    public async Task Pop_only_takes_from_the_given_queue_and_an_empty_queue_gives_null()
    {
        var q1 = await QueueAsync("q1");
        var q2 = await QueueAsync("q2");
        await PushAsync(q2, Spec("in-q2"));
        Assert.Null(await Backend.PopAsync("agent-a", q1, Long, None));
        Assert.Equal(["in-q2"], await PopAllAsync(q2));
        await ThrowsLaunchAsync("QueueNotFound", () => Backend.PopAsync("agent-a", Key("missing"), Long, None));
    }

    [Fact]
    public async Task A_popped_item_is_leased_to_the_agent_and_invisible_to_others()
    {
        var queue = await QueueAsync("q");
        var pushed = await PushAsync(queue, Spec("only"));
        var before = DateTimeOffset.UtcNow;
        var job = await Backend.PopAsync("agent-a", queue, TimeSpan.FromSeconds(60), None);
        Assert.NotNull(job);
        Assert.Equal(pushed.Id, job!.Id);
        Assert.Equal(LaunchJobState.Leased, job.State);
        Assert.Equal("agent-a", job.AgentId);
        if (Has(BackendCapability.AttemptCounts)) Assert.Equal(1, job.Attempts);
        Assert.NotNull(job.LeasedAt);
        if (Has(BackendCapability.ShortLeases)) Assert.InRange(job.LeaseExpiresAt!.Value, before.AddSeconds(59), DateTimeOffset.UtcNow.AddSeconds(61));

        Assert.Null(await Backend.PopAsync("agent-b", queue, Long, None));
        Assert.Null(await Factory.Open().PopAsync("agent-c", queue, Long, None));
        var q = await Backend.GetQueueAsync(queue, None);
        Assert.Equal(0, q!.PendingCount);
        Assert.Equal(1, q.ActiveCount);
    }

    [Fact]
    public async Task The_job_lifecycle_ack_running_finish()
    {
        var queue = await QueueAsync("q");
        var pushed = await PushAsync(queue, Spec("j"));
        await Backend.PopAsync("agent-a", queue, Long, None);

        var log = Logs.File("j.log");
        var acked = await Backend.AckAsync(pushed.Id, "agent-a", log, None);
        Assert.Equal(LaunchJobState.Starting, acked.State);
        Assert.Equal(log, acked.LogPath);
        Assert.Null(acked.StartedAt);

        await Backend.MarkRunningAsync(pushed.Id, "agent-a", "pid:42:7", None);
        var running = await JobAsync(pushed.Id);
        Assert.Equal(LaunchJobState.Running, running.State);
        Assert.Equal("pid:42:7", running.Handle);
        Assert.NotNull(running.StartedAt);

        await Backend.FinishAsync(pushed.Id, "agent-a", JobOutcome.Failed(FailureStage.Run, "boom", 3), None);
        var done = await JobAsync(pushed.Id);
        Assert.Equal(LaunchJobState.Failed, done.State);
        if (Has(BackendCapability.EndedItemRecords)) Assert.Equal(3, done.ExitCode);
        Assert.Equal("boom", done.FailureMessage);
        Assert.Equal("run", done.FailureStage);
        Assert.NotNull(done.FinishedAt);
        Assert.Null(done.LeaseExpiresAt);
        if (Has(BackendCapability.EndedItemRecords)) Assert.Equal(running.StartedAt, done.StartedAt);

        // Finished items are no longer the agent's: nothing more can be recorded as if it held them.
        await ThrowsLaunchAsync("JobLeaseLost", () => Backend.FinishAsync(pushed.Id, "agent-a", JobOutcome.Finished(), None));
        await ThrowsLaunchAsync("JobLeaseLost", () => Backend.MarkRunningAsync(pushed.Id, "agent-a", "pid:1:1", None));
        Assert.Throws<ArgumentException>(() => { _ = Backend.FinishAsync(pushed.Id, "agent-a", new JobOutcome(LaunchJobState.Running), None); });
    }

    [SkippableFact]
    public async Task Finish_records_finished_with_exit_code_and_stopped_with_message()
    {
        Needs(BackendCapability.EndedItemRecords);
        var queue = await QueueAsync("q");
        var a = await StartedAsync(queue, "agent-a", Long, "a");
        await Backend.FinishAsync(a.Id, "agent-a", JobOutcome.Finished(), None);
        var finished = await JobAsync(a.Id);
        Assert.Equal(LaunchJobState.Finished, finished.State);
        Assert.Equal(0, finished.ExitCode);
        Assert.Null(finished.FailureMessage);

        var b = await StartedAsync(queue, "agent-a", Long, "b");
        await Backend.FinishAsync(b.Id, "agent-a", JobOutcome.Stopped("asked to"), None);
        var stopped = await JobAsync(b.Id);
        Assert.Equal(LaunchJobState.Stopped, stopped.State);
        Assert.Equal("asked to", stopped.FailureMessage);
    }

    [Fact]
    public async Task Ack_needs_a_leased_item()
    {
        var queue = await QueueAsync("q");
        var pushed = await PushAsync(queue, Spec("j"));
        await ThrowsLaunchAsync("JobLeaseLost", () => Backend.AckAsync(pushed.Id, "agent-a", "/tmp/x.log", None));
        await Backend.PopAsync("agent-a", queue, Long, None);
        await Backend.AckAsync(pushed.Id, "agent-a", "/tmp/x.log", None);
        await ThrowsLaunchAsync("JobLeaseLost", () => Backend.AckAsync(pushed.Id, "agent-a", "/tmp/x.log", None));
    }

    [Fact]
    public async Task Stopping_a_pending_item_stops_it_at_once()
    {
        var queue = await QueueAsync("q");
        var pushed = await PushAsync(queue, Spec("j"));
        var stopped = await Backend.RequestStopAsync(pushed.Id, None);
        Assert.Equal(LaunchJobState.Stopped, stopped.State);
        Assert.True(stopped.StopRequested);
        Assert.NotNull(stopped.FinishedAt);
        Assert.Null(await Backend.PopAsync("agent-a", queue, Long, None));
        await ThrowsLaunchAsync("JobNotFound", () => Backend.RequestStopAsync("item-nope", None));
    }

    [SkippableFact]
    public async Task Stopping_an_active_item_flags_it_for_its_agent()
    {
        Needs(BackendCapability.StopHeldItems);
        var queue = await QueueAsync("q");
        var agent = (await Backend.RegisterAgentAsync(new AgentRegistration
        {
            Name = "a", Entity = Entity, Queues = [queue], ConfigJson = "{}", MaxJobs = -1,
        }, None)).Id;
        var job = await StartedAsync(queue, agent, Long);
        var other = await StartedAsync(queue, agent, Long, "other");
        Assert.False((await Backend.HeartbeatAsync(agent, Long, None)).JobsToStop.Any());

        var flagged = await Backend.RequestStopAsync(job.Id, None);
        Assert.Equal(LaunchJobState.Running, flagged.State);
        Assert.True(flagged.StopRequested);
        var beat = await Backend.HeartbeatAsync(agent, Long, None);
        Assert.Equal([job.Id], beat.JobsToStop);
        Assert.Equal(new[] { job.Id, other.Id }.Order(), beat.HeldJobs.Order());

        // Stopping a finished item changes nothing.
        await Backend.FinishAsync(job.Id, agent, JobOutcome.Stopped("stopped"), None);
        var after = await Backend.RequestStopAsync(job.Id, None);
        Assert.Equal(LaunchJobState.Stopped, after.State);
    }

    [SkippableFact]
    public async Task Remove_deletes_ended_items_and_refuses_pending_or_active_ones()
    {
        Needs(BackendCapability.RemoveFinishedItems);
        var queue = await QueueAsync("q");
        var pending = await PushAsync(queue, Spec("p"));
        var e = await ThrowsLaunchAsync("JobActive", () => Backend.RemoveJobAsync(pending.Id, None));
        Assert.Equal(pending.Id, e.Target);

        var leased = await Backend.PopAsync("agent-a", queue, Long, None);
        await ThrowsLaunchAsync("JobActive", () => Backend.RemoveJobAsync(leased!.Id, None));
        var log = WriteLog("l.log", "output\n");
        File.WriteAllText(log + ".cursor", "0");
        await Backend.AckAsync(leased!.Id, "agent-a", log, None);
        await ThrowsLaunchAsync("JobActive", () => Backend.RemoveJobAsync(leased.Id, None));
        await Backend.MarkRunningAsync(leased.Id, "agent-a", "pid:1:1", None);
        await ThrowsLaunchAsync("JobActive", () => Backend.RemoveJobAsync(leased.Id, None));

        await Backend.FinishAsync(leased.Id, "agent-a", JobOutcome.Finished(), None);
        Assert.True(File.Exists(log), "a refused removal keeps the log");
        await Backend.RemoveJobAsync(leased.Id, None);
        Assert.Null(await Backend.GetJobAsync(leased.Id, None));
        Assert.False(File.Exists(log));
        Assert.False(File.Exists(log + ".cursor"));
        await ThrowsLaunchAsync("JobNotFound", () => Backend.RemoveJobAsync(leased.Id, None));
    }

    [SkippableFact]
    public async Task Deleting_a_queue_deletes_its_jobs_logs()
    {
        Needs(BackendCapability.EndedItemRecords);
        var queue = await QueueAsync("q");
        var pushed = await PushAsync(queue, Spec("p"));
        var leased = await Backend.PopAsync("agent-a", queue, Long, None);
        var log = WriteLog("q.log", "output\n");
        await Backend.AckAsync(leased!.Id, "agent-a", log, None);
        await Backend.FinishAsync(leased.Id, "agent-a", JobOutcome.Finished(), None);
        var other = WriteLog("other.log", "not this queue's\n");

        await Backend.DeleteQueueAsync(queue, force: false, None);

        Assert.Null(await Backend.GetJobAsync(pushed.Id, None));
        Assert.False(File.Exists(log));
        Assert.True(File.Exists(other));
    }

    [SkippableFact]
    public async Task Requeue_before_start_keeps_the_run_id_without_resuming()
    {
        Needs(BackendCapability.RequeueInPlace);
        var queue = await QueueAsync("q");
        var pushed = await PushAsync(queue, Spec("j"));
        await Backend.PopAsync("agent-a", queue, Long, None);
        await Backend.RequeueAsync(pushed.Id, "agent-a", "agent shutting down", None);
        var job = await JobAsync(pushed.Id);
        Assert.Equal(LaunchJobState.Pending, job.State);
        Assert.Equal(pushed.RunId, job.RunId);
        Assert.False(job.Resumed);
        Assert.Null(job.AgentId);
        Assert.Contains(job.Warnings, w => w.Message == "agent shutting down" && w.Stage == FailureStage.Agent);
    }

    [SkippableFact]
    public async Task Requeue_after_start_keeps_the_run_id_and_resumes_it()
    {
        Needs(BackendCapability.RequeueInPlace);
        var queue = await QueueAsync("q");
        var started = await StartedAsync(queue, "agent-a", Long);
        await Backend.RequeueAsync(started.Id, "agent-a", "preempted", None);
        var requeued = await JobAsync(started.Id);
        Assert.Equal(LaunchJobState.Pending, requeued.State);
        Assert.True(requeued.Resumed);
        Assert.Null(requeued.Handle);
        Assert.Equal(started.RunId, requeued.RunId);

        var again = await Backend.PopAsync("agent-b", queue, Long, None);
        Assert.Equal(started.Id, again!.Id);
        Assert.Equal(started.RunId, again.RunId);
        Assert.True(again.Resumed);
        Assert.Equal(2, again.Attempts);
    }

    [SkippableFact]
    public async Task Requeue_of_an_item_with_a_stop_request_stops_it()
    {
        Needs(BackendCapability.StopHeldItems);
        Needs(BackendCapability.RequeueInPlace);
        var queue = await QueueAsync("q");
        var started = await StartedAsync(queue, "agent-a", Long);
        await Backend.RequestStopAsync(started.Id, None);
        await Backend.RequeueAsync(started.Id, "agent-a", "preempted", None);
        var job = await JobAsync(started.Id);
        Assert.Equal(LaunchJobState.Stopped, job.State);
        Assert.NotNull(job.FinishedAt);
        Assert.Null(await Backend.PopAsync("agent-b", queue, Long, None));
    }

    [Fact]
    public async Task Warnings_accumulate_in_order()
    {
        var queue = await QueueAsync("q");
        var pushed = await PushAsync(queue, Spec("j"));
        await Backend.WarnAsync(pushed.Id, "run", "first", None);
        await Backend.WarnAsync(pushed.Id, "build", "second", None);
        var job = await JobAsync(pushed.Id);
        Assert.Equal(["first", "second"], job.Warnings.Select(w => w.Message));
        Assert.Equal(["run", "build"], job.Warnings.Select(w => w.Stage));
    }

    [Fact]
    public async Task GetJobs_filters_by_queue_state_agent_and_ids_and_limits_to_the_newest()
    {
        var q1 = await QueueAsync("q1");
        var q2 = await QueueAsync("q2");
        var a = await PushAsync(q1, Spec("a"));
        var b = await PushAsync(q1, Spec("b"));
        var c = await PushAsync(q2, Spec("c"));
        await Backend.PopAsync("agent-a", q1, Long, None);

        Assert.Equal([a.Id, b.Id], (await Backend.GetJobsAsync(new JobQuery { Queue = q1 }, None)).Select(j => j.Id));
        Assert.Equal([b.Id, c.Id], (await Backend.GetJobsAsync(new JobQuery { States = [LaunchJobState.Pending] }, None)).Select(j => j.Id));
        Assert.Equal([a.Id], (await Backend.GetJobsAsync(new JobQuery { AgentId = "agent-a" }, None)).Select(j => j.Id));
        Assert.Equal([a.Id, c.Id], (await Backend.GetJobsAsync(new JobQuery { Ids = [c.Id, a.Id] }, None)).Select(j => j.Id));
        Assert.Equal([b.Id, c.Id], (await Backend.GetJobsAsync(new JobQuery { Limit = 2 }, None)).Select(j => j.Id));
    }

    [Fact]
    public async Task Deleting_a_queue_with_active_items_needs_force()
    {
        var queue = await QueueAsync("q");
        var job = await StartedAsync(queue, "agent-a", Long);
        var pending = await PushAsync(queue, Spec("p"));
        var e = await ThrowsLaunchAsync("QueueHasActiveJobs", () => Backend.DeleteQueueAsync(queue, force: false, None));
        Assert.Equal("q", e.Target);
        Assert.NotNull(await Backend.GetQueueAsync(queue, None));

        await Backend.DeleteQueueAsync(queue, force: true, None);
        Assert.Null(await Backend.GetQueueAsync(queue, None));
        Assert.Null(await Backend.GetJobAsync(job.Id, None));
        Assert.Null(await Backend.GetJobAsync(pending.Id, None));
        await ThrowsLaunchAsync("QueueNotFound", () => Backend.DeleteQueueAsync(queue, force: true, None));
    }

    [Fact]
    public async Task A_queue_with_only_pending_or_ended_items_is_deleted_without_force()
    {
        var queue = await QueueAsync("q");
        var done = await StartedAsync(queue, "agent-a", Long);
        await Backend.FinishAsync(done.Id, "agent-a", JobOutcome.Finished(), None);
        await PushAsync(queue, Spec("p"));
        await Backend.DeleteQueueAsync(queue, force: false, None);
        Assert.Null(await Backend.GetQueueAsync(queue, None));
        Assert.Empty(await Backend.GetJobsAsync(new JobQuery(), None));
    }

    [Fact]
    public async Task Push_renders_the_template_values_into_the_stored_spec_and_checks_them()
    {
        var queue = await QueueAsync("q", configJson: """{"resource_args": {"local-process": {"env": {"CPUS": "{{cpus}}"}}}}""",
            variablesJson: """{"cpus": {"type": "integer", "minimum": 1, "maximum": 8, "default": 2}}""");

        var given = await PushAsync(queue, Spec("given"), templateValuesJson: """{"cpus": 4}""");
        var defaulted = await PushAsync(queue, Spec("defaulted"));

        var spec = JsonNode.Parse((await JobAsync(given.Id)).SpecJson)!;
        Assert.Equal(4, spec["resource_args"]!["local-process"]!["env"]!["CPUS"]!.GetValue<int>());
        if (Has(BackendCapability.TemplateValuesInSpec)) Assert.Equal(4, spec["template_variables"]!["cpus"]!.GetValue<int>());
        Assert.Equal(2, JsonNode.Parse((await JobAsync(defaulted.Id)).SpecJson)!["resource_args"]!["local-process"]!["env"]!["CPUS"]!.GetValue<int>());
        await ThrowsLaunchAsync("InvalidTemplateValue", () => PushAsync(queue, Spec("too-many"), templateValuesJson: """{"cpus": 99}"""));
        Assert.Equal(2, (await Backend.GetJobsAsync(new JobQuery { Queue = queue }, None)).Count);
    }

    [Fact]
    public async Task Every_push_gets_a_run_id_of_its_own_unless_the_spec_names_one()
    {
        var queue = await QueueAsync("q");
        var a = await PushAsync(queue, Spec("a"));
        var b = await PushAsync(queue, Spec("b"));
        var named = await PushAsync(queue, """{"uri": "/tmp/code", "run_id": "run12345"}""");

        Assert.False(string.IsNullOrEmpty(a.RunId));
        Assert.NotEqual(a.RunId, b.RunId);
        Assert.Equal("run12345", named.RunId);
        Assert.Equal(a.RunId, (await Factory.Open().GetJobAsync(a.Id, None))!.RunId);
    }

    [Fact]
    public async Task Launching_records_the_start_time_while_the_item_stays_starting()
    {
        var queue = await QueueAsync("q");
        var pushed = await PushAsync(queue, Spec("j"));
        await Backend.PopAsync("agent-a", queue, Long, None);
        await Backend.AckAsync(pushed.Id, "agent-a", Logs.File("j.log"), None);
        await Backend.MarkLaunchingAsync(pushed.Id, "agent-a", None);

        var job = await JobAsync(pushed.Id);
        Assert.Equal(LaunchJobState.Starting, job.State);
        Assert.NotNull(job.StartedAt);
        await ThrowsLaunchAsync("JobLeaseLost", () => Backend.MarkLaunchingAsync(pushed.Id, "agent-b", None));
    }

    [Fact]
    public async Task Only_the_holder_can_ack_run_finish_or_requeue_an_item()
    {
        var queue = await QueueAsync("q");
        var pushed = await PushAsync(queue, Spec("j"));
        await Backend.PopAsync("agent-a", queue, Long, None);

        await ThrowsLaunchAsync("JobLeaseLost", () => Backend.AckAsync(pushed.Id, "agent-b", Logs.File("x.log"), None));
        await Backend.AckAsync(pushed.Id, "agent-a", Logs.File("x.log"), None);
        await ThrowsLaunchAsync("JobLeaseLost", () => Backend.MarkRunningAsync(pushed.Id, "agent-b", "pid:1:1", None));
        await Backend.MarkRunningAsync(pushed.Id, "agent-a", "pid:1:1", None);
        await ThrowsLaunchAsync("JobLeaseLost", () => Backend.FinishAsync(pushed.Id, "agent-b", JobOutcome.Finished(), None));
        await ThrowsLaunchAsync("JobLeaseLost", () => Backend.RequeueAsync(pushed.Id, "agent-b", "x", None));

        var job = await JobAsync(pushed.Id);
        Assert.Equal(LaunchJobState.Running, job.State);
        Assert.Equal("agent-a", job.AgentId);
    }
}
