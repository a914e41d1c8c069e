using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Wandb;
using WandbLaunch.Tests.WandbServer;

namespace WandbLaunch.Engine.Tests.Agent;

/// <summary>
/// The agent's pace on a W&amp;B server (the stand-in), where every check is a request: idle, it pops and heartbeats
/// at the cadence's steady rate; right after work it polls fast; stopPolling reaches it within a heartbeat. The
/// cadences here are shorter than W&amp;B's 10 s so that the tests take seconds (the benchmark uses the real one).
/// </summary>
[Collection(ProcessEnvironmentCollection.Name)]
public sealed class WandbCadenceTests : IAsyncLifetime
{
    private const string Entity = "alice";
    private readonly WandbStandIn _server = new();
    private readonly TempDirectory _dir = new();
    private readonly EnvironmentVariableScope _home;
    private readonly TestAgents _agents = new();
    private readonly FakeRunner _runner = new();
    private ILaunchBackend _backend = null!;
    private QueueKey _queue = null!;

    public WandbCadenceTests() => _home = new EnvironmentVariableScope("HOME", _dir.Path); // job logs go under ~/.config

    public async Task InitializeAsync()
    {
        var key = _server.AddUser(Entity);
        _backend = await LaunchBackends.ConnectAsync(new WandbConnection(_server.Url, WandbApiKey.Of(key, "test")) { Entity = Entity }, CancellationToken.None);
        _queue = await TestQueues.CreateAsync(_backend, Entity, "q");
    }

    public async Task DisposeAsync()
    {
        await _agents.DisposeAsync();
        _server.Dispose();
        _home.Dispose();
        _dir.Dispose();
    }

    private RunningAgent StartAgent(PollCadence cadence)
    {
        var config = new LaunchAgentConfig { Queues = [_queue.Name], Entity = Entity, MaxJobs = 1 };
        // A long polling interval and lease: only the cadence can make it poll or beat often.
        var options = TestAgents.Options(config, _dir.File("runs"), pollingInterval: TimeSpan.FromSeconds(60), lease: TimeSpan.FromSeconds(60));
        return _agents.Start(_backend, new AgentOptions
        {
            Config = options.Config, Name = options.Name, PollingInterval = options.PollingInterval, Lease = options.Lease,
            StartTimeout = options.StartTimeout, Environment = options.Environment, WorkDirectory = options.WorkDirectory, Cadence = cadence,
        }, runners: new RunnerRegistry([_runner]));
    }

    private int Count(IEnumerable<GraphQLCall> calls, string field) => calls.Count(c => c.Fields.Contains(field));

    private Task PushAsync(string name) =>
        _backend.PushAsync(_queue, new PushRequest { Spec = TestSpecs.Set(TestSpecs.LocalProcess(_dir.Path, ["true"]), "name", name) }, CancellationToken.None);

    [Fact]
    public void PollIntervalIsFastRightAfterWorkAndTheIdleOneAfterFourIdleIntervals()
    {
        var cadence = PollCadence.Wandb;
        Assert.Equal(cadence.Fast, cadence.PollInterval(TimeSpan.Zero));
        Assert.Equal(TimeSpan.FromSeconds(1), cadence.PollInterval(TimeSpan.FromSeconds(4)));
        Assert.Equal(cadence.Idle, cadence.PollInterval(cadence.Idle * 4));
        Assert.Equal(cadence.Idle, cadence.PollInterval(TimeSpan.FromHours(1)));
        Assert.Equal(TimeSpan.FromSeconds(10), cadence.Idle);
    }

    [Fact]
    public async Task AnIdleAgentPopsAndBeatsAtTheSteadyRateOnly()
    {
        var cadence = new PollCadence { Idle = TimeSpan.FromMilliseconds(500), Fast = TimeSpan.FromMilliseconds(50), Heartbeat = TimeSpan.FromMilliseconds(500) };
        var agent = StartAgent(cadence);
        await agent.IdAsync();
        await Task.Delay(cadence.Idle * 4 + TimeSpan.FromSeconds(1)); // past the fast polls after its start
        _server.ClearCalls();
        var window = TimeSpan.FromSeconds(4);
        await Task.Delay(window);
        var calls = _server.Calls;
        var steps = (int)(window / cadence.Idle); // 8 ticks of W&B's agent in the window
        var pops = Count(calls, "popFromRunQueue");
        var reads = Count(calls, "launchAgent");
        var updates = Count(calls, "updateLaunchAgent");
        Assert.InRange(pops, steps / 2, steps + 1);
        Assert.InRange(reads, steps / 2, steps + 1);
        Assert.InRange(updates, 1, steps / 2 + 1); // every second heartbeat, as W&B's agent
        Assert.Equal(pops + reads + updates, calls.Count); // nothing else
    }

    [Fact]
    public async Task APushRightAfterAJobEndedIsTakenWithinTheFastPolls()
    {
        var cadence = new PollCadence { Idle = TimeSpan.FromSeconds(60), Fast = TimeSpan.FromMilliseconds(100), Heartbeat = TimeSpan.FromSeconds(60) };
        var agent = StartAgent(cadence);
        await agent.IdAsync();
        await PushAsync("first");
        await Eventually.Until(() => _runner.Starts.Count == 1 && _runner.Running == 0 && agent.Agent.ActiveJobs == 0, "the first job ran and ended");
        await Task.Delay(TimeSpan.FromMilliseconds(400));
        var pushed = DateTime.UtcNow;
        await PushAsync("second");
        // Idle, the agent would poll only after 60 s; right after a job ended it polls within a quarter of the time since.
        await Eventually.Until(() => _runner.Starts.Count == 2, "the second job started", TimeSpan.FromSeconds(10));
        Assert.True(DateTime.UtcNow - pushed < TimeSpan.FromSeconds(3), $"taken after {(DateTime.UtcNow - pushed).TotalSeconds:0.0} s");
    }

    [Fact]
    public async Task StopPollingReachesAnIdleAgentWithinAHeartbeat()
    {
        var cadence = new PollCadence { Idle = TimeSpan.FromSeconds(60), Fast = TimeSpan.FromSeconds(60), Heartbeat = TimeSpan.FromMilliseconds(500) };
        var agent = StartAgent(cadence);
        _server.StopPolling(await agent.IdAsync());
        var stopped = await Task.WhenAny(agent.Run, Task.Delay(TimeSpan.FromSeconds(5)));
        Assert.Same(agent.Run, stopped);
        Assert.Equal(AgentStopReason.StopRequested, agent.Agent.Stopped?.Reason);
    }
}
