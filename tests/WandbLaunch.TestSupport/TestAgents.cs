using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.TestSupport;

/// <summary>
/// The one harness that starts real <see cref="LaunchAgent"/>s in tests and stops them: each test project's harness
/// (store, queues, servers) hands it a backend and options; disposing stops every agent it started.
/// </summary>
public sealed class TestAgents : IAsyncDisposable
{
    private readonly List<RunningAgent> _agents = [];

    /// <summary>
    /// Options with the tests' defaults: fast polling, a short lease, a start timeout that slow machines meet, and an
    /// environment of only what the test gives (never the test process's own).
    /// </summary>
    public static AgentOptions Options(LaunchAgentConfig config, string workDirectory, Func<string, string?>? environment = null, string name = "test-agent",
        TimeSpan? lease = null, TimeSpan? pollingInterval = null, TimeSpan? startTimeout = null, bool leaveJobsRunning = false, long? maxLogBytes = null,
        DiagnosticLevel? diagnostics = null, IReadOnlyList<TimeSpan>? runCheckDelays = null, TimeSpan? runStatusInterval = null,
        PollCadence? cadence = null, StoreRetryPolicy? storeRetry = null, bool stopJobsOnExit = false, TimeSpan? statusPrintInterval = null, bool keepAdditionalServices = false, DirectJob? direct = null,
        TimeSpan? cloudJobPollingInterval = null) => new()
    {
        Config = config,
        Name = name,
        PollingInterval = pollingInterval ?? TimeSpan.FromMilliseconds(250),
        Lease = lease ?? TimeSpan.FromSeconds(5),
        StartTimeout = startTimeout ?? TimeSpan.FromSeconds(60),
        Environment = environment ?? (_ => null),
        WorkDirectory = workDirectory,
        LeaveJobsRunning = leaveJobsRunning,
        StopJobsOnExit = stopJobsOnExit,
        KeepAdditionalServices = keepAdditionalServices,
        MaxLogBytes = maxLogBytes ?? AgentOptions.ParseMaxLogBytes(_ => null), // the default cap: no variable sets one
        Diagnostics = diagnostics,
        RunCheckDelays = runCheckDelays ?? AgentOptions.DefaultRunCheckDelays,
        RunStatusInterval = runStatusInterval ?? AgentOptions.DefaultRunStatusInterval,
        Cadence = cadence,
        StoreRetry = storeRetry ?? StoreRetryPolicy.Default,
        StatusPrintInterval = statusPrintInterval,
        Direct = direct,
        CloudJobPollingInterval = cloudJobPollingInterval,
    };

    /// <summary>An agent's environment that holds exactly <paramref name="variables"/>.</summary>
    public static Func<string, string?> EnvironmentOf(IReadOnlyDictionary<string, string>? variables) =>
        variables is null ? _ => null : name => variables.TryGetValue(name, out var value) ? value : null;

    /// <summary>
    /// Starts an agent on <paramref name="backend"/> and runs it until it is stopped or this harness is disposed.
    /// </summary>
    /// <param name="events">Where it reports; a recorder of its own when not given (several agents may share one).</param>
    /// <param name="runners">Its runners; the module's default registry when not given.</param>
    /// <param name="ownsBackend">Dispose <paramref name="backend"/> with the agent (a backend of its own, as another process has).</param>
    /// <param name="abandonOnDispose">Never wait for it on dispose: it stands for a killed process.</param>
    public RunningAgent Start(ILaunchBackend backend, AgentOptions options, RecordingAgentEvents? events = null, RunnerRegistry? runners = null,
        bool ownsBackend = false, bool abandonOnDispose = false)
    {
        events ??= new RecordingAgentEvents();
        var agent = new LaunchAgent(backend, options, events, runners);
        var cancellation = new CancellationTokenSource();
        var running = new RunningAgent(agent, Task.Run(() => agent.RunAsync(cancellation.Token)), cancellation, events, backend, ownsBackend, abandonOnDispose);
        lock (_agents) _agents.Add(running);
        return running;
    }

    public async ValueTask DisposeAsync()
    {
        RunningAgent[] agents;
        lock (_agents) agents = [.. _agents];
        foreach (var agent in agents) await agent.Cancellation.CancelAsync();
        foreach (var agent in agents) await agent.DisposeAsync();
    }
}

/// <summary>An agent a test started, with what it reports and the task that runs it.</summary>
public sealed class RunningAgent : IAsyncDisposable
{
    private readonly bool _ownsBackend;
    private readonly bool _abandon;

    internal RunningAgent(LaunchAgent agent, Task run, CancellationTokenSource cancellation, RecordingAgentEvents events, ILaunchBackend backend,
        bool ownsBackend, bool abandon)
    {
        Agent = agent;
        Run = run;
        Cancellation = cancellation;
        Events = events;
        Backend = backend;
        _ownsBackend = ownsBackend;
        _abandon = abandon;
    }

    public LaunchAgent Agent { get; }

    /// <summary>The agent's run: completes when it stops, faulted when it failed.</summary>
    public Task Run { get; }

    /// <summary>Cancelling it stops the agent as Ctrl+C does.</summary>
    public CancellationTokenSource Cancellation { get; }

    public RecordingAgentEvents Events { get; }

    public ILaunchBackend Backend { get; }

    /// <summary>The agent's id, once it has registered.</summary>
    public string? Id => Agent.Id;

    /// <summary>Waits until the agent has registered and returns its id (rethrowing if it failed first).</summary>
    public async Task<string> IdAsync()
    {
        await Eventually.Until(() => Agent.Id is not null || Run.IsCompleted, "the agent to register");
        if (Run.IsFaulted) await Run;
        return Agent.Id!;
    }

    /// <summary>Stops the agent as Ctrl+C does and waits until it has stopped.</summary>
    public async Task StopAsync()
    {
        await Cancellation.CancelAsync();
        await Run.WaitAsync(TimeSpan.FromSeconds(30));
    }

    public async ValueTask DisposeAsync()
    {
        await Cancellation.CancelAsync();
        if (!_abandon)
        {
            try
            {
                await Run.WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (Exception)
            {
                // The test that owns it has asserted what it needed.
            }
        }
        if (_ownsBackend) Backend.Dispose();
    }
}
