using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Backends.ContractTests;

/// <summary>
/// Leases: an item whose lease runs out before its agent acknowledged it goes back on its queue (the next pop is
/// attempt + 1); one that was started becomes an orphan that the next agent claims with its handle (or fails).
/// </summary>
public abstract partial class LaunchBackendContract<TFactory>
{
    [SkippableFact]
    public async Task An_expired_lease_on_an_unstarted_item_returns_it_to_pending_and_attempts_count_pops()
    {
        Needs(BackendCapability.ShortLeases);
        var queue = await QueueAsync("q");
        var pushed = await PushAsync(queue, Spec("only"));
        var first = await Backend.PopAsync("agent-a", queue, Short, None);
        Assert.Equal(1, first!.Attempts);

        await Factory.PassTimeAsync(first.LeaseExpiresAt!.Value);
        var second = await Factory.Open().PopAsync("agent-b", queue, Short, None);
        Assert.NotNull(second);
        Assert.Equal(pushed.Id, second.Id);
        Assert.Equal("agent-b", second.AgentId);
        Assert.Equal(2, second.Attempts);
        Assert.Equal(pushed.RunId, second.RunId);

        await Factory.PassTimeAsync(second.LeaseExpiresAt!.Value);
        var third = await Backend.PopAsync("agent-c", queue, Long, None);
        Assert.Equal(pushed.Id, third!.Id);
        Assert.Equal(3, third.Attempts);
        Assert.Equal(pushed.RunId, third.RunId);
    }

    [SkippableFact]
    public async Task An_expired_unstarted_lease_reads_as_pending_once_released_by_an_orphan_claim()
    {
        Needs(BackendCapability.ShortLeases);
        Needs(BackendCapability.ReattachRecords);
        var queue = await QueueAsync("q");
        var pushed = await PushAsync(queue, Spec("only"));
        var leased = await Backend.PopAsync("agent-a", queue, Short, None);

        await Factory.PassTimeAsync(leased!.LeaseExpiresAt!.Value);
        Assert.Empty(await Backend.ClaimOrphansAsync("agent-x", [queue], Long, None));
        var released = await JobAsync(pushed.Id);
        Assert.Equal(LaunchJobState.Pending, released.State);
        Assert.Null(released.AgentId);
        Assert.Null(released.LeaseExpiresAt);
        Assert.Equal(pushed.RunId, released.RunId);
    }

    [SkippableFact]
    public async Task An_agent_whose_item_was_taken_over_gets_JobLeaseLost()
    {
        Needs(BackendCapability.ShortLeases);
        var queue = await QueueAsync("q");
        var pushed = await PushAsync(queue, Spec("j"));
        var leased = await Backend.PopAsync("agent-a", queue, Short, None);
        await Factory.PassTimeAsync(leased!.LeaseExpiresAt!.Value);
        var taken = await Backend.PopAsync("agent-b", queue, Long, None);
        Assert.Equal(pushed.Id, taken!.Id);

        await ThrowsLaunchAsync("JobLeaseLost", () => Backend.AckAsync(pushed.Id, "agent-a", Logs.File("x.log"), None));
        await ThrowsLaunchAsync("JobLeaseLost", () => Backend.MarkRunningAsync(pushed.Id, "agent-a", "pid:1:1", None));
        await ThrowsLaunchAsync("JobLeaseLost", () => Backend.FinishAsync(pushed.Id, "agent-a", JobOutcome.Finished(), None));
        await ThrowsLaunchAsync("JobLeaseLost", () => Backend.RequeueAsync(pushed.Id, "agent-a", "x", None));

        // The holder is unaffected.
        await Backend.AckAsync(pushed.Id, "agent-b", Logs.File("x.log"), None);
        await Backend.MarkRunningAsync(pushed.Id, "agent-b", "pid:1:1", None);
        await Backend.FinishAsync(pushed.Id, "agent-b", JobOutcome.Finished(), None);
        Assert.Equal(LaunchJobState.Finished, (await JobAsync(pushed.Id)).State);
    }

    [SkippableFact]
    public async Task ClaimOrphans_takes_only_started_items_with_expired_leases_in_the_given_queues()
    {
        Needs(BackendCapability.ShortLeases);
        Needs(BackendCapability.ReattachRecords);
        var q1 = await QueueAsync("q1");
        var q2 = await QueueAsync("q2");

        var starting = await PushAsync(q1, Spec("starting"));
        await Backend.PopAsync("dead", q1, Short, None);
        await Backend.AckAsync(starting.Id, "dead", Logs.File("s.log"), None);
        var running = await StartedAsync(q1, "dead", Short, "running");
        var leasedOnly = await PushAsync(q1, Spec("leased"));
        await Backend.PopAsync("dead", q1, Short, None);
        var alive = await StartedAsync(q1, "alive", Long, "alive");
        var finished = await StartedAsync(q1, "dead", Short, "finished");
        await Backend.FinishAsync(finished.Id, "dead", JobOutcome.Finished(), None);
        var otherQueue = await StartedAsync(q2, "dead", Short, "other-queue");
        var pending = await PushAsync(q1, Spec("pending"));

        await LetLeasesExpireAsync("dead");

        var claimed = await Factory.Open().ClaimOrphansAsync("rescuer", [q1, Key("no-such-queue")], TimeSpan.FromSeconds(60), None);
        Assert.Equal(new[] { starting.Id, running.Id }.Order(), claimed.Select(j => j.Id).Order());
        foreach (var job in claimed)
        {
            Assert.Equal("rescuer", job.AgentId);
            Assert.Equal("dead", job.PreviousAgentId);
            Assert.True(job.LeaseExpiresAt > DateTimeOffset.UtcNow.AddSeconds(50));
        }
        // Acknowledged but never launched: the rescuer may put it back; launched: it may have run, and it has a handle.
        var claimedStarting = claimed.Single(j => j.Id == starting.Id);
        Assert.Equal(LaunchJobState.Starting, claimedStarting.State);
        Assert.Null(claimedStarting.StartedAt);
        var claimedRunning = claimed.Single(j => j.Id == running.Id);
        Assert.Equal(LaunchJobState.Running, claimedRunning.State);
        Assert.Equal("pid:1:1", claimedRunning.Handle);
        Assert.NotNull(claimedRunning.StartedAt);

        Assert.Equal(LaunchJobState.Pending, (await JobAsync(leasedOnly.Id)).State);
        Assert.Equal("alive", (await JobAsync(alive.Id)).AgentId);
        Assert.Equal(LaunchJobState.Finished, (await JobAsync(finished.Id)).State);
        Assert.Equal("dead", (await JobAsync(otherQueue.Id)).AgentId);
        Assert.Equal(LaunchJobState.Pending, (await JobAsync(pending.Id)).State);

        // Claimed once: a second claim finds nothing while the rescuer's lease runs.
        Assert.Empty(await Backend.ClaimOrphansAsync("another", [q1], Long, None));
    }

    [SkippableFact]
    public async Task A_released_job_is_claimed_by_the_next_agent_at_once_with_its_handle()
    {
        Needs(BackendCapability.ReattachRecords);
        var queue = await QueueAsync("q");
        var started = await StartedAsync(queue, "leaving", Long);
        Assert.Empty(await Backend.ClaimOrphansAsync("next", [queue], Long, None));

        await ThrowsLaunchAsync("JobLeaseLost", () => Backend.ReleaseAsync(started.Id, "someone-else", None));
        await Backend.ReleaseAsync(started.Id, "leaving", None);

        var claimed = Assert.Single(await Factory.Open().ClaimOrphansAsync("next", [queue], Long, None));
        Assert.Equal(started.Id, claimed.Id);
        Assert.Equal(LaunchJobState.Running, claimed.State);
        Assert.Equal("pid:1:1", claimed.Handle);
        Assert.Equal("leaving", claimed.PreviousAgentId);
        Assert.Equal(started.RunId, claimed.RunId);
        Assert.Equal("next", (await JobAsync(started.Id)).AgentId);
    }

    [SkippableFact]
    public async Task A_stopped_item_whose_lease_expires_before_it_starts_becomes_stopped_not_pending()
    {
        Needs(BackendCapability.ShortLeases);
        var queue = await QueueAsync("q");
        var pushed = await PushAsync(queue, Spec("j"));
        var leased = await Backend.PopAsync("agent-a", queue, Short, None);
        var flagged = await Backend.RequestStopAsync(pushed.Id, None);
        Assert.Equal(LaunchJobState.Leased, flagged.State);
        Assert.True(flagged.StopRequested);

        await Factory.PassTimeAsync(leased!.LeaseExpiresAt!.Value);
        Assert.Null(await Backend.PopAsync("agent-b", queue, Long, None));
        var job = await JobAsync(pushed.Id);
        Assert.Equal(LaunchJobState.Stopped, job.State);
        Assert.NotNull(job.FinishedAt);
        Assert.Null(job.AgentId);
    }

    [SkippableFact]
    public async Task Heartbeat_renews_the_leases_of_the_agent_items_only()
    {
        Needs(BackendCapability.ShortLeases);
        var queue = await QueueAsync("q");
        var info = await RegisterAsync(queue);
        var mine = await PushAsync(queue, Spec("mine"));
        var theirs = await PushAsync(queue, Spec("theirs"));
        await Backend.PopAsync(info.Id, queue, TimeSpan.FromMilliseconds(200), None);
        var other = await Backend.PopAsync("agent-other", queue, TimeSpan.FromMilliseconds(200), None);
        Assert.Equal(theirs.Id, other!.Id);

        var beat = await Backend.HeartbeatAsync(info.Id, TimeSpan.FromSeconds(60), None);
        Assert.Equal([mine.Id], beat.HeldJobs);
        Assert.Empty(beat.JobsToStop);
        Assert.False(beat.StopRequested);
        Assert.True((await JobAsync(mine.Id)).LeaseExpiresAt > DateTimeOffset.UtcNow.AddSeconds(50));
        Assert.Equal(1, (await Backend.GetAgentAsync(info.Id, None))!.ActiveJobs);

        // Once the original 200 ms have passed, the renewed item stays with its agent; the other one is free.
        await Factory.PassTimeAsync(other.LeaseExpiresAt!.Value);
        var next = await Factory.Open().PopAsync("agent-third", queue, Long, None);
        Assert.Equal(theirs.Id, next!.Id);
        Assert.Null(await Backend.PopAsync("agent-third", queue, Long, None));
        Assert.Equal(info.Id, (await JobAsync(mine.Id)).AgentId);
    }
}
