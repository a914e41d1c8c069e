using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.HostileInputTests;

/// <summary>
/// Stopping a local-process job ends everything it started: background children, grandchildren, a child that
/// ignores SIGTERM, and a daemon that left the job's session with setsid() of its own.
/// </summary>
public sealed class FaultsProcessGroupTests
{
    /// <summary>
    /// Starts `sleep 1000` children four ways, writes their pids to a file, then waits: a background child, a
    /// grandchild in a background subshell, a child that ignores SIGTERM, and a double-forked daemon in a session of its own.
    /// </summary>
    private static string[] Spawner(string pidFile) =>
    [
        "sh", "-c",
        $"""
        sleep 1000 & echo $! >> '{pidFile}'
        ( sleep 1000 & echo $! >> '{pidFile}'; wait ) &
        ( trap '' TERM; exec sleep 1000 ) & echo $! >> '{pidFile}'
        ( setsid sh -c 'sleep 1000 & echo $! >> "$0"; exit 0' '{pidFile}' & ) 
        sleep 0.3; echo spawned; wait
        """,
    ];

    private static async Task<int[]> PidsAsync(string pidFile)
    {
        await Eventually.Until(() => File.Exists(pidFile) && File.ReadAllLines(pidFile).Length >= 4, "the job to start its children");
        var pids = File.ReadAllLines(pidFile).Select(int.Parse).ToArray();
        Assert.All(pids, pid => Assert.False(ProcessState.IsGone(pid), $"child {pid} should run before the stop"));
        return pids;
    }

    [Fact]
    public async Task Stopping_a_job_ends_its_children_grandchildren_and_daemons()
    {
        await using var harness = new FaultsAgentHarness();
        var queue = await harness.QueueAsync("q");
        harness.StartAgent([queue.Name]);
        var pidFile = harness.Dir.File("pids");
        var job = await harness.SubmitAsync(queue, Spawner(pidFile));
        await WaitForJob.StateAsync(harness.Backend, job.Id, LaunchJobState.Running, TimeSpan.FromSeconds(20));
        var pids = await PidsAsync(pidFile);

        await harness.Backend.RequestStopAsync(job.Id, CancellationToken.None);
        var ended = await WaitForJob.EndAsync(harness.Backend, job.Id, TimeSpan.FromSeconds(30));

        Assert.Equal(LaunchJobState.Stopped, ended.State);
        // Ended by the time the job is recorded as stopped, not eventually.
        Assert.All(pids, pid => Assert.True(ProcessState.IsGone(pid), $"process {pid} of the stopped job still runs"));
    }

    [Fact]
    public async Task Stopping_the_agent_ends_every_process_of_its_jobs()
    {
        await using var harness = new FaultsAgentHarness();
        var queue = await harness.QueueAsync("q");
        var agent = harness.StartAgent([queue.Name]);
        var pidFile = harness.Dir.File("pids");
        var job = await harness.SubmitAsync(queue, Spawner(pidFile));
        await WaitForJob.StateAsync(harness.Backend, job.Id, LaunchJobState.Running, TimeSpan.FromSeconds(20));
        var pids = await PidsAsync(pidFile);

        agent.Cancellation.Cancel();
        await agent.Run.WaitAsync(TimeSpan.FromSeconds(40));

        Assert.Equal(LaunchJobState.Stopped, (await harness.Backend.GetJobAsync(job.Id, CancellationToken.None))!.State);
        Assert.All(pids, pid => Assert.True(ProcessState.IsGone(pid), $"process {pid} of the agent's job still runs"));
    }

    [Fact]
    public async Task A_job_runs_in_a_session_of_its_own_with_its_pid_kept()
    {
        await using var harness = new FaultsAgentHarness();
        var queue = await harness.QueueAsync("q");
        harness.StartAgent([queue.Name]);
        var job = await harness.SubmitAsync(queue, "sh", "-c", "echo \"pid=$$ $(cut -d' ' -f5,6 /proc/$$/stat)\"");
        var ended = await WaitForJob.EndAsync(harness.Backend, job.Id, TimeSpan.FromSeconds(20));
        Assert.Equal(LaunchJobState.Finished, ended.State);
        var line = File.ReadLines(ended.LogPath!).Single(l => l.StartsWith("pid="));
        var parts = line[4..].Split(' ');
        // The recorded pid is the job's, and it leads its own process group and session.
        Assert.Equal(parts[0], parts[1]);
        Assert.Equal(parts[0], parts[2]);
        Assert.Contains(parts[0], ended.Handle);
    }

    [Fact]
    public async Task A_missing_entry_point_still_fails_naming_it()
    {
        await using var harness = new FaultsAgentHarness();
        var queue = await harness.QueueAsync("q");
        harness.StartAgent([queue.Name]);
        var job = await harness.SubmitAsync(queue, "no-such-program-wbl-faults");
        var ended = await WaitForJob.EndAsync(harness.Backend, job.Id, TimeSpan.FromSeconds(20));
        Assert.Equal(LaunchJobState.Failed, ended.State);
        Assert.Contains("Could not start 'no-such-program-wbl-faults'", ended.FailureMessage);
    }
}
