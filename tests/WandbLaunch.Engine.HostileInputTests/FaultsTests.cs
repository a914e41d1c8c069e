using Microsoft.Data.Sqlite;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Engine.HostileInputTests;

/// <summary>
/// Faults of the store under a running agent: another process holding the lock past the busy timeout, a queue removed,
/// the store file deleted or replaced, a full disk. The agent keeps going where it can, and when it stops, it says why.
/// </summary>
public sealed class FaultsTests
{
    private static readonly TimeSpan ShortBusyTimeout = TimeSpan.FromMilliseconds(200);

    private static Task Until(Func<bool> condition, string what, int seconds = 20) => Eventually.Until(condition, what, TimeSpan.FromSeconds(seconds));

    [Fact]
    public async Task A_store_locked_past_the_busy_timeout_makes_the_agent_wait_warn_once_and_keep_its_job()
    {
        await using var harness = new FaultsAgentHarness();
        var queue = await harness.QueueAsync("q");
        var agent = harness.StartAgent([queue.Name], lease: TimeSpan.FromSeconds(20), busyTimeout: ShortBusyTimeout);
        var job = await harness.SubmitAsync(queue, "sh", "-c", "sleep 1.5; echo finished-under-lock");
        await WaitForJob.StateAsync(harness.Backend, job.Id, LaunchJobState.Running, TimeSpan.FromSeconds(20));

        // Another process's connection: BEGIN EXCLUSIVE shuts out every writer for 4 s, 20 times the busy timeout;
        // the job ends meanwhile, so recording its end must wait too.
        await using (var other = new SqliteConnection($"Data Source={harness.DbPath};Pooling=False"))
        {
            await other.OpenAsync();
            using (var begin = other.CreateCommand())
            {
                begin.CommandText = "BEGIN EXCLUSIVE";
                await begin.ExecuteNonQueryAsync();
            }
            await Task.Delay(TimeSpan.FromSeconds(4));
            Assert.False(agent.Run.IsCompleted, "the agent stopped while the store was locked:\n" + agent.Events);
            using var commit = other.CreateCommand();
            commit.CommandText = "COMMIT";
            await commit.ExecuteNonQueryAsync();
        }

        var ended = await WaitForJob.EndAsync(harness.Backend, job.Id, TimeSpan.FromSeconds(30));
        Assert.Equal(LaunchJobState.Finished, ended.State);
        await Until(() => agent.Events.Any(e => e.Message.StartsWith("The store can be used again")), "the agent to say the store is usable again");
        Assert.Single(agent.Events.All, e => e.Kind == AgentEventKind.Warning && e.Message.Contains("StoreBusy"));
        Assert.DoesNotContain(agent.Events.All, e => e.Kind == AgentEventKind.Error);

        // Still serving.
        var second = await harness.SubmitAsync(queue, "true");
        Assert.Equal(LaunchJobState.Finished, (await WaitForJob.EndAsync(harness.Backend, second.Id, TimeSpan.FromSeconds(20))).State);
        Assert.False(agent.Run.IsCompleted);
    }

    [Fact]
    public async Task A_removed_queue_is_reported_once_the_others_are_served_and_removing_the_last_stops_the_agent_saying_so()
    {
        await using var harness = new FaultsAgentHarness();
        var a = await harness.QueueAsync("a");
        var b = await harness.QueueAsync("b");
        var agent = harness.StartAgent([a.Name, b.Name]);
        await Until(() => agent.Agent.Id is not null, "the agent to register");

        await harness.Backend.DeleteQueueAsync(a, force: true, CancellationToken.None);
        await Until(() => agent.Events.Any(e => e.Kind == AgentEventKind.Warning && e.Message.Contains("Queue a was removed")), "the removal warning");
        var job = await harness.SubmitAsync(b, "true");
        Assert.Equal(LaunchJobState.Finished, (await WaitForJob.EndAsync(harness.Backend, job.Id, TimeSpan.FromSeconds(20))).State);
        await Task.Delay(500);
        Assert.Single(agent.Events.All, e => e.Message.Contains("Queue a was removed"));
        Assert.False(agent.Run.IsCompleted);

        await harness.Backend.DeleteQueueAsync(b, force: true, CancellationToken.None);
        await agent.Run.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(AgentStopReason.AllQueuesRemoved, agent.Agent.Stopped!.Reason);
        Assert.Contains(agent.Events.All, e => e.Message.Contains("stopped because all its queues were removed"));
        Assert.Equal(AgentStatus.Killed, (await harness.Backend.GetAgentAsync(agent.Agent.Id!, CancellationToken.None))!.Status);
    }

    [Fact]
    public async Task A_deleted_store_stops_the_agent_and_its_jobs_with_the_real_reason()
    {
        await using var harness = new FaultsAgentHarness();
        var queue = await harness.QueueAsync("q");
        var agent = harness.StartAgent([queue.Name]);
        var pidFile = harness.Dir.File("pid");
        var job = await harness.SubmitAsync(queue, "sh", "-c", $"echo $$ > '{pidFile}'; exec sleep 1000");
        await WaitForJob.StateAsync(harness.Backend, job.Id, LaunchJobState.Running, TimeSpan.FromSeconds(20));
        await Until(() => File.Exists(pidFile) && File.ReadAllText(pidFile).Trim().Length > 0, "the job's pid");
        var pid = int.Parse(File.ReadAllText(pidFile));

        foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(harness.DbPath + suffix);

        await agent.Run.WaitAsync(TimeSpan.FromSeconds(40));
        Assert.Equal(AgentStopReason.StoreDeleted, agent.Agent.Stopped!.Reason);
        var summary = agent.Events.All.Last();
        Assert.Contains("stopped because its store", summary.Message);
        Assert.Contains("was deleted", summary.Message);
        Assert.DoesNotContain("Ctrl+C", summary.Message);
        Assert.True(ProcessState.IsGone(pid), "the job's process outlived its agent");
    }

    [Fact]
    public async Task A_store_replaced_by_another_file_stops_the_agent_with_the_real_reason()
    {
        await using var harness = new FaultsAgentHarness();
        var queue = await harness.QueueAsync("q");
        var agent = harness.StartAgent([queue.Name]);
        await Until(() => agent.Agent.Id is not null, "the agent to register");

        var copy = harness.DbPath + ".restored";
        File.Copy(harness.DbPath, copy);
        File.Move(copy, harness.DbPath, overwrite: true);

        await agent.Run.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(AgentStopReason.StoreReplaced, agent.Agent.Stopped!.Reason);
        Assert.Contains("replaced by another file", agent.Events.All.Last().Message);
    }

    [TmpfsFact]
    public async Task A_full_disk_under_the_store_is_waited_out_with_one_warning()
    {
        using var mount = TmpfsMount.TryCreate(Path.Combine(Path.GetTempPath(), "wbl-full-" + Guid.NewGuid().ToString("N")), "4m", out var why)
            ?? throw new InvalidOperationException(why);
        await using var harness = new FaultsAgentHarness(mount.Path);
        var queue = await harness.QueueAsync("q");
        var agent = harness.StartAgent([queue.Name], lease: TimeSpan.FromSeconds(30));
        await Until(() => agent.Agent.Id is not null, "the agent to register");
        var filler = Path.Combine(mount.Path, "filler");
        FaultsLogTests.FillDisk(filler);
        // Writes that need a new page now fail with SQLITE_FULL: a push of a large spec is one, the agent's heartbeats follow.
        var refused = await Assert.ThrowsAnyAsync<Errors.LaunchException>(() => harness.SubmitAsync(queue, "echo", new string('x', 200_000)));
        Assert.True(refused.ErrorId == "StoreFull", refused.ErrorId + ": " + refused.Message + " / " + (refused.InnerException as SqliteException)?.SqliteExtendedErrorCode);
        await Until(() => agent.Events.Any(e => e.Kind == AgentEventKind.Warning && e.Message.Contains("StoreFull")) || agent.Run.IsCompleted,
            "the agent to meet the full disk", 30);
        Assert.False(agent.Run.IsCompleted, agent.Events.ToString());

        File.Delete(filler);
        await Until(() => agent.Events.Any(e => e.Message.StartsWith("The store can be used again")), "the agent to carry on", 30);
        var job = await harness.SubmitAsync(queue, "true");
        Assert.Equal(LaunchJobState.Finished, (await WaitForJob.EndAsync(harness.Backend, job.Id, TimeSpan.FromSeconds(20))).State);
        Assert.Single(agent.Events.All, e => e.Kind == AgentEventKind.Warning && e.Message.Contains("StoreFull"));
    }

    [Fact]
    public async Task A_cancelled_agent_and_one_stopped_by_a_signal_give_their_own_reasons()
    {
        await using var harness = new FaultsAgentHarness();
        var queue = await harness.QueueAsync("q");
        var cancelled = harness.StartAgent([queue.Name]);
        var signalled = harness.StartAgent([queue.Name]);
        await Until(() => cancelled.Agent.Id is not null && signalled.Agent.Id is not null, "the agents to register");

        cancelled.Cancellation.Cancel();
        signalled.Agent.RequestStop(AgentStopReason.Signal, "it received SIGTERM");
        await Task.WhenAll(cancelled.Run, signalled.Run).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(AgentStopReason.Cancelled, cancelled.Agent.Stopped!.Reason);
        Assert.Equal(AgentStopReason.Signal, signalled.Agent.Stopped!.Reason);
        Assert.Contains("stopped because it received SIGTERM", signalled.Events.All.Last().Message);
        Assert.Equal(AgentStatus.Killed, (await harness.Backend.GetAgentAsync(signalled.Agent.Id!, CancellationToken.None))!.Status);
    }
}
