using System.Diagnostics;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Runners.LocalProcess;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Engine.JobTests;

/// <summary>
/// A stopped local-process job gets SIGTERM and the agent's stopped_run_timeout (W&amp;B's <c>agent/agent.py</c>,
/// <c>stopped_run_timeout</c>) to end by itself before SIGKILL; an agent that stops gives its jobs at most
/// <see cref="AgentOptions.MaxExitStopGrace"/> of it.
/// </summary>
public sealed class LocalProcessStopGraceTests : IAsyncLifetime
{
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly Store _store = new();
    private readonly TestAgents _agents = new();
    private QueueKey _queue = null!;

    private string CodeDirectory => _store.Dir.File("code");

    /// <summary>Cleans up on SIGTERM and exits 0.</summary>
    private const string Trapping = "trap 'echo cleaning up; sleep 0.5; echo cleaned up; exit 0' TERM; echo ready; while true; do sleep 0.1; done";

    /// <summary>Ignores SIGTERM (its children inherit the ignored disposition).</summary>
    private const string Ignoring = "trap '' TERM; echo ready; while true; do sleep 0.1; done";

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(CodeDirectory);
        _queue = await _store.QueueAsync("q");
    }

    public async Task DisposeAsync()
    {
        await _agents.DisposeAsync();
        _store.Dispose();
    }

    private RunningAgent StartAgent(int stoppedRunTimeout)
    {
        var config = new LaunchAgentConfig { Queues = [_queue.Name], Entity = Store.Entity, MaxJobs = -1, StoppedRunTimeout = stoppedRunTimeout };
        return _agents.Start(_store.Open(), TestAgents.Options(config, _store.Dir.File("runs"), lease: TimeSpan.FromSeconds(2)));
    }

    private async Task<LaunchJob> RunningAsync(string script)
    {
        var spec = new JsonObject
        {
            ["entity"] = Store.Entity,
            ["project"] = "proj",
            ["uri"] = CodeDirectory,
            ["overrides"] = new JsonObject { ["entry_point"] = new JsonArray("sh", "-c", script) },
        };
        var pushed = await _store.PushAsync(_queue, spec);
        var running = await WaitForJob.StateAsync(_store.Backend, pushed.Id, LaunchJobState.Running);
        await Eventually.Until(() => File.Exists(running.LogPath) && File.ReadAllText(running.LogPath!).Contains("ready"), "the job to set its trap");
        return running;
    }

    [Fact]
    public async Task A_stopped_job_that_traps_SIGTERM_ends_Stopped_with_its_traps_output_without_being_killed()
    {
        StartAgent(stoppedRunTimeout: 30);
        var running = await RunningAsync(Trapping);
        var clock = Stopwatch.StartNew();

        await _store.Backend.RequestStopAsync(running.Id, None);
        var job = await WaitForJob.EndAsync(_store.Backend, running.Id, TimeSpan.FromSeconds(25));

        Assert.Equal(LaunchJobState.Stopped, job.State);
        Assert.Contains("Stop-WandbLaunchJob", job.FailureMessage);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"the job took {clock.Elapsed.TotalSeconds:F1} s to end: it was not let end by itself");
        var log = File.ReadAllText(job.LogPath!);
        Assert.Contains("cleaning up", log);
        Assert.Contains("cleaned up", log);
        Assert.Contains("they get 30 s to end before SIGKILL", log);
        Assert.DoesNotContain("were killed", log);
    }

    [Fact]
    public async Task A_stopped_job_that_ignores_SIGTERM_is_killed_once_stopped_run_timeout_has_passed_and_not_before()
    {
        StartAgent(stoppedRunTimeout: 2);
        var running = await RunningAsync(Ignoring);
        Assert.True(ProcessHandle.TryParse(running.Handle, out var handle));
        var clock = Stopwatch.StartNew();

        await _store.Backend.RequestStopAsync(running.Id, None);
        // Still running a second after the request (SIGTERM is sent within a heartbeat, 0.5 s).
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.False(ProcessState.IsGone(handle.Pid), "the job was killed before its grace ran out");
        var job = await WaitForJob.EndAsync(_store.Backend, running.Id, TimeSpan.FromSeconds(20));

        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(2), $"the job ended {clock.Elapsed.TotalSeconds:F1} s after the stop, before its 2 s grace");
        Assert.Equal(LaunchJobState.Stopped, job.State);
        Assert.True(ProcessState.IsGone(handle.Pid), "the job's process still runs");
        Assert.Contains("ignored SIGTERM for 2 s and were killed", File.ReadAllText(job.LogPath!));
    }

    [Fact]
    public async Task An_agent_that_stops_gives_its_jobs_at_most_ten_seconds_of_a_longer_stopped_run_timeout()
    {
        var agent = StartAgent(stoppedRunTimeout: 120);
        var running = await RunningAsync(Ignoring);
        var clock = Stopwatch.StartNew();

        await agent.Cancellation.CancelAsync();
        await agent.Run.WaitAsync(TimeSpan.FromSeconds(40));

        Assert.InRange(clock.Elapsed, AgentOptions.MaxExitStopGrace, TimeSpan.FromSeconds(30));
        var job = await _store.JobAsync(running.Id);
        Assert.Equal(LaunchJobState.Stopped, job.State);
        Assert.Contains("ignored SIGTERM for 10 s and were killed", File.ReadAllText(job.LogPath!));
    }
}
