using System.Globalization;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Engine.Agent;

/// <summary>How an agent runs: its resolved config plus timings.</summary>
public sealed class AgentOptions
{
    public const string StartTimeoutVariable = "WANDB_LAUNCH_START_TIMEOUT";
    public const string LeaseVariable = "WANDB_LAUNCH_LEASE_SECONDS";
    public const string MaxLogBytesVariable = Jobs.CappedLogStream.MaxBytesVariable;
    public const string GitCacheMaxBytesVariable = Code.GitRepositoryCache.MaxBytesVariable;

    public required LaunchAgentConfig Config { get; init; }

    public required string Name { get; init; }

    /// <summary>
    /// The longest an idle agent goes without checking its queues (default 5 s; W&amp;B's agent polls every 10 s).
    /// Changes in the store wake it at once, so this only bounds how late it notices what writes nothing, such as
    /// the lease of a dead agent's job running out.
    /// </summary>
    public TimeSpan PollingInterval { get; init; } = DefaultPollingInterval;

    public static readonly TimeSpan DefaultPollingInterval = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How the agent paces its polls and heartbeats when its backend sends no change signal; null (the default) takes
    /// the backend's (<see cref="ILaunchBackend.Cadence"/>: W&amp;B's 10 s ticks, faster right after work). Tests and
    /// benchmarks set a shorter one.
    /// </summary>
    public PollCadence? Cadence { get; init; }

    /// <summary>How long an item stays leased without a heartbeat; after that another agent may take it over.</summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A job not running this long after the agent took it is failed. Null disables.</summary>
    public TimeSpan? StartTimeout { get; init; } = TimeSpan.FromSeconds(1800);

    /// <summary>
    /// How often an agent holding jobs renews their leases and reads stop requests for them: every second, or a
    /// quarter of a shorter lease.
    /// </summary>
    public TimeSpan HeartbeatInterval => TimeSpan.FromTicks(Math.Min(TimeSpan.TicksPerSecond, Lease.Ticks / 4));

    /// <summary>
    /// How often an agent holding no jobs writes its heartbeat: a third of the lease (10 s by default), often enough
    /// that it is not shown unresponsive (after 30 s) while it lives. It holds no lease to renew; a stop request, a
    /// store write, wakes it through the store's change notification and is read then.
    /// </summary>
    public TimeSpan IdleHeartbeatInterval => TimeSpan.FromTicks(Math.Max(HeartbeatInterval.Ticks, Lease.Ticks / 3));

    /// <summary>
    /// After a job ends on its own, W&amp;B's agent checks that its run started (called wandb.init), waiting this long
    /// before each further check: 1, 2, 4 … 32 s (about a minute in all). Only backends that keep runs are asked.
    /// </summary>
    public IReadOnlyList<TimeSpan> RunCheckDelays { get; init; } = DefaultRunCheckDelays;

    public static readonly IReadOnlyList<TimeSpan> DefaultRunCheckDelays = [.. new[] { 1, 2, 4, 8, 16, 32 }.Select(s => TimeSpan.FromSeconds(s))];

    /// <summary>
    /// How often the agent reports its status line (W&amp;B's <c>print_status</c>, <c>agent/agent.py</c>): every 5 minutes
    /// at <c>verbosity</c> 0, every 20 s above; null follows the config's <c>verbosity</c>.
    /// </summary>
    public TimeSpan? StatusPrintInterval { get; init; }

    internal TimeSpan EffectiveStatusPrintInterval => StatusPrintInterval ?? TimeSpan.FromSeconds(Config.Verbosity == 0 ? 5 * 60 : 20);

    /// <summary>
    /// Read every running SageMaker training job and Vertex AI CustomJob at this fixed interval, as W&amp;B's agent reads
    /// every job each 10 s (<c>agent/agent.py</c>: <c>_check_run_finished</c>, then <c>AGENT_POLLING_INTERVAL</c>).
    /// Null (the default): 5 s after a change, backing off to 30 s while nothing changes, a third of the requests.
    /// </summary>
    public TimeSpan? CloudJobPollingInterval { get; init; }

    /// <summary>How often a running job's run is asked whether it was stopped on the server (W&amp;B's agent: every 10 s).</summary>
    public TimeSpan RunStatusInterval { get; init; } = DefaultRunStatusInterval;

    public static readonly TimeSpan DefaultRunStatusInterval = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a job runs on after its run was seen stopped on the server, for its wandb SDK to end it, before the
    /// agent cancels it: the config's <c>stopped_run_timeout</c> (60 s) unless set here. It is also the grace a stopped
    /// local job gets between SIGTERM (a container's stop signal) and SIGKILL.
    /// </summary>
    public TimeSpan StoppedRunTimeout
    {
        get => _stoppedRunTimeout ?? TimeSpan.FromSeconds(Config.StoppedRunTimeout);
        init => _stoppedRunTimeout = value;
    }

    private readonly TimeSpan? _stoppedRunTimeout;

    /// <summary>
    /// What a local job gets between SIGTERM (a container's stop signal) and SIGKILL when the agent itself stops
    /// (Ctrl+C, a signal, Stop-WandbLaunchAgent): <see cref="StoppedRunTimeout"/>, at most <see cref="MaxExitStopGrace"/>,
    /// so that an agent exits promptly. (W&amp;B's agent leaves its local jobs running on exit: docs/differences-from-wandb.md, Agent exit.)
    /// A stop of the job itself (Stop-WandbLaunchJob, its run stopped on the server) gives the whole StoppedRunTimeout.
    /// </summary>
    public TimeSpan ExitStopGrace => StoppedRunTimeout < MaxExitStopGrace ? StoppedRunTimeout : MaxExitStopGrace;

    public static readonly TimeSpan MaxExitStopGrace = TimeSpan.FromSeconds(10);

    /// <summary>Reads the agent's environment (the variables W&amp;B's agent honours, plus our lease length).</summary>
    public required Func<string, string?> Environment { get; init; }

    /// <summary>Credentials for the destination registry given to the agent directly; otherwise the Docker config file is read.</summary>
    public Registries.RegistryCredential? RegistryCredential { get; init; }

    /// <summary>
    /// When the agent stops, jobs that run on a target of their own (Kubernetes, a container) keep running and are
    /// left to the next agent serving their queue, which re-attaches to them; jobs that had not started yet go back on
    /// their queue. Otherwise (the default) the agent stops every job it runs.
    /// </summary>
    public bool LeaveJobsRunning { get; init; }

    /// <summary>
    /// When the agent stops, stop the jobs of remote targets too (Kubernetes, SageMaker, Vertex AI). By default those are
    /// left running to the next agent, as W&amp;B's agent leaves them (<see cref="Runners.ILaunchRunner.LeavesJobsWhenAgentStops"/>).
    /// </summary>
    public bool StopJobsOnExit { get; init; }

    /// <summary>
    /// Leave a Kubernetes job's additional services (<c>additional_services</c>) on the cluster when the job ends, as
    /// W&amp;B's agent does. By default they are deleted with the job, by their labels.
    /// </summary>
    public bool KeepAdditionalServices { get; init; }

    /// <summary>
    /// The most one job's log keeps on disk (the log plus its rotated older half, <c>&lt;log&gt;.1</c>); the newest
    /// output is kept. Default 100 MiB, or <see cref="MaxLogBytesVariable"/>.
    /// </summary>
    public long MaxLogBytes { get; init; } = Jobs.CappedLogStream.DefaultMaxBytes;

    /// <summary>
    /// The most the cache of repo jobs' checkouts (<c>&lt;cache&gt;/git</c>) holds before its least recently used entries
    /// are removed; 0 turns it off. Default 2 GiB, or <see cref="GitCacheMaxBytesVariable"/>.
    /// </summary>
    public long GitCacheMaxBytes { get; init; } = Code.GitRepositoryCache.DefaultMaxBytes;

    /// <summary>The back-off while the backend fails in a way that passes: a store locked by another process or a full disk, a W&amp;B server down past its retry budget (the agent keeps running meanwhile).</summary>
    public StoreRetryPolicy StoreRetry { get; init; } = StoreRetryPolicy.Default;

    /// <summary>
    /// The least detail of diagnostics the agent reports as <see cref="AgentEventKind.Verbose"/> and
    /// <see cref="AgentEventKind.Debug"/> events (null: none): -Verbose or -Debug when given, else the config's
    /// <c>verbosity</c> (see <see cref="DiagnosticsFor"/>).
    /// </summary>
    public DiagnosticLevel? Diagnostics { get; init; }

    /// <summary>
    /// W&amp;B's <c>verbosity</c> (0 default, 1 verbose, 2 debug) as a diagnostic level, unless the caller asked for one
    /// explicitly (-Verbose, -Debug: <paramref name="explicitLevel"/> set, or <paramref name="explicitOff"/> for -Verbose:$false).
    /// </summary>
    public static DiagnosticLevel? DiagnosticsFor(int verbosity, DiagnosticLevel? explicitLevel, bool explicitOff = false) =>
        explicitLevel ?? (explicitOff ? null : verbosity switch
        {
            >= 2 => DiagnosticLevel.Debug,
            1 => DiagnosticLevel.Verbose,
            _ => null,
        });

    /// <summary>
    /// Set for the agent of a queue-less launch (Invoke-WandbLaunchJob): it serves only that launch job's own queue
    /// (in <see cref="Queues.DirectQueues.Project"/>, whatever the config's queues) and stops once the job has ended.
    /// </summary>
    public DirectJob? Direct { get; init; }

    /// <summary>Where runners put per-run files.</summary>
    public required string WorkDirectory { get; init; }

    /// <summary>Sends the ACR login's requests (Azure AD's and the registry's); tests send them to a stand-in.</summary>
    internal HttpMessageHandler? AzureHandler { get; set; }

    /// <summary>Where the kaniko builder reads the agent pod's namespace (tests point it elsewhere).</summary>
    internal string PodNamespaceFile { get; set; } = Builders.Kaniko.KanikoBuilder.PodNamespaceFile;

    public static TimeSpan? ParseStartTimeout(Func<string, string?> environment)
    {
        var text = environment(StartTimeoutVariable);
        if (string.IsNullOrWhiteSpace(text)) return TimeSpan.FromSeconds(1800);
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
        {
            throw LaunchException.Invalid("InvalidStartTimeout", $"{StartTimeoutVariable} is '{text}'; it must be a number of seconds (0 or less disables the timeout).", text);
        }
        return seconds <= 0 ? null : TimeSpan.FromSeconds(seconds);
    }

    /// <summary>The log cap from <see cref="MaxLogBytesVariable"/> (bytes, or with a K, M or G suffix), else 100 MiB.</summary>
    public static long ParseMaxLogBytes(Func<string, string?> environment) => Jobs.CappedLogStream.ParseMaxBytes(environment);

    /// <summary>The repository cache's bound from <see cref="GitCacheMaxBytesVariable"/> (bytes, or with a K, M or G suffix; 0: off), else 2 GiB.</summary>
    public static long ParseGitCacheMaxBytes(Func<string, string?> environment) => Code.GitRepositoryCache.ParseMaxBytes(environment);

    public static TimeSpan ParseLease(Func<string, string?> environment)
    {
        var text = environment(LeaseVariable);
        if (string.IsNullOrWhiteSpace(text)) return TimeSpan.FromSeconds(30);
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || seconds < 1)
        {
            throw LaunchException.Invalid("InvalidLease", $"{LeaseVariable} is '{text}'; it must be a number of seconds, at least 1.", text);
        }
        return TimeSpan.FromSeconds(seconds);
    }
}
