using System.Diagnostics;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;

namespace WandbLaunch.Engine.DockerTests.Runners;

/// <summary>
/// A stopped local-container job gets its stop signal and the agent's stopped_run_timeout (W&amp;B's
/// <c>agent/agent.py</c>, <c>stopped_run_timeout</c>) before the engine kills it: <c>docker stop -t</c>. Real engine.
/// </summary>
public sealed class LocalContainerStopGraceTests : IAsyncDisposable
{
    private readonly TempStore _store = new("ent");
    private readonly TestAgents _agents = new();

    public async ValueTask DisposeAsync()
    {
        await _agents.DisposeAsync();
        _store.Dispose();
    }

    /// <summary>Starts an agent with <paramref name="stoppedRunTimeout"/> and a container job running <paramref name="script"/>; returns it once it wrote "ready".</summary>
    private async Task<LaunchJob> RunningAsync(int stoppedRunTimeout, string script)
    {
        var token = Guid.NewGuid().ToString("N")[..8];
        var queue = await TestQueues.CreateAsync(_store.Backend, "ent", "containers-" + token, LaunchResource.LocalContainer, null, false, null);
        var environment = new Dictionary<string, string>();
        if (Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } host) environment["DOCKER_HOST"] = host;
        var config = new LaunchAgentConfig { Queues = [queue.Name], Entity = "ent", StoppedRunTimeout = stoppedRunTimeout, Builder = new BuilderSettings { Type = "docker" } };
        _agents.Start(_store.Open(), TestAgents.Options(config, _store.Dir.File("runs-" + token), TestAgents.EnvironmentOf(environment), lease: TimeSpan.FromSeconds(2),
            startTimeout: TimeSpan.FromSeconds(120)));
        var spec = new JsonObject
        {
            ["entity"] = "ent",
            ["project"] = "proj",
            ["docker"] = new JsonObject { ["docker_image"] = TestServices.BaseImage },
            ["overrides"] = new JsonObject { ["entry_point"] = new JsonArray("sh", "-c", script) },
        };
        var pushed = await _store.Backend.PushAsync(queue, new() { Spec = spec }, CancellationToken.None);
        var running = await WaitForJob.StateAsync(_store.Backend, pushed.Id, LaunchJobState.Running, TimeSpan.FromSeconds(120));
        await Eventually.Until(() => File.Exists(running.LogPath) && File.ReadAllText(running.LogPath!).Contains("ready"), "the container to set its trap", TimeSpan.FromSeconds(30));
        return running;
    }

    [DockerFact]
    public async Task A_stopped_container_that_traps_SIGTERM_ends_Stopped_with_its_traps_output()
    {
        var running = await RunningAsync(30, "trap 'echo cleaning up; sleep 1; echo cleaned up; exit 0' TERM; echo ready; while true; do sleep 0.2; done");
        var clock = Stopwatch.StartNew();

        await _store.Backend.RequestStopAsync(running.Id, CancellationToken.None);
        var job = await WaitForJob.EndAsync(_store.Backend, running.Id, TimeSpan.FromSeconds(40));

        var log = File.ReadAllText(job.LogPath!);
        Assert.True(job.State == LaunchJobState.Stopped, $"{job.State}: {job.FailureMessage}\n{log}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"the container took {clock.Elapsed.TotalSeconds:F1} s to end: it was not let end by itself");
        Assert.Contains("cleaned up", log);
        Assert.Contains("killed if it still runs 30 s later", log);
        Assert.Contains("exited with code 0", log);
    }

    [DockerFact]
    public async Task A_stopped_container_that_ignores_SIGTERM_is_killed_once_stopped_run_timeout_has_passed_and_not_before()
    {
        // As PID 1 without a handler, sh ignores SIGTERM.
        var running = await RunningAsync(3, "echo ready; while true; do sleep 0.2; done");
        var clock = Stopwatch.StartNew();

        await _store.Backend.RequestStopAsync(running.Id, CancellationToken.None);
        var job = await WaitForJob.EndAsync(_store.Backend, running.Id, TimeSpan.FromSeconds(40));

        var log = File.ReadAllText(job.LogPath!);
        Assert.True(job.State == LaunchJobState.Stopped, $"{job.State}: {job.FailureMessage}\n{log}");
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(3), $"the container ended {clock.Elapsed.TotalSeconds:F1} s after the stop, before its 3 s grace");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(25), $"the container took {clock.Elapsed.TotalSeconds:F1} s to be killed");
        // SIGKILL: 128 + 9.
        Assert.Contains("exited with code 137", log);
    }
}
