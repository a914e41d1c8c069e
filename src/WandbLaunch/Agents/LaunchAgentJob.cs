using System.Management.Automation;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Agents;

/// <summary>
/// A launch agent running as a PowerShell background job. Status lines go to the job's information stream, warnings
/// and errors to its warning and error streams, diagnostics (-Verbose, -Debug, or verbosity in launch-config.yaml) to
/// its verbose and debug streams; Stop-Job stops the agent cleanly (its jobs are stopped and it
/// reports KILLED). One pwsh can host several. A long-running agent does not keep every event: each stream holds at
/// most <see cref="MaxRecords"/> records not yet received (the oldest are dropped, with one warning saying so).
/// </summary>
public sealed class LaunchAgentJob : Job2
{
    private readonly LaunchAgent _agent;
    private readonly AgentEventQueue _events;
    private readonly CancellationTokenSource _stop = new();
    private Task? _run;
    private TerminationSignals.Subscription? _signals;
    private string _status = "Not started";
    private bool _droppedRecords;

    /// <summary>The variable that sets <see cref="MaxRecords"/> (a whole number of at least 10).</summary>
    public const string MaxRecordsVariable = "WANDB_LAUNCH_AGENT_JOB_MAX_RECORDS";

    /// <summary>The default of <see cref="MaxRecords"/>: about a day of a busy agent's status lines.</summary>
    public const int DefaultMaxRecords = 10_000;

    /// <summary>How many records each of the job's streams keeps until Receive-Job takes them.</summary>
    public int MaxRecords { get; init; } = DefaultMaxRecords;

    /// <summary><see cref="MaxRecords"/> from <see cref="MaxRecordsVariable"/> in <paramref name="environment"/>, else the default.</summary>
    internal static int MaxRecordsFrom(Func<string, string?> environment)
    {
        var text = environment(MaxRecordsVariable)?.Trim();
        if (string.IsNullOrEmpty(text)) return DefaultMaxRecords;
        if (int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) && value >= 10) return value;
        throw LaunchException.Invalid("InvalidAgentJobMaxRecords",
            $"{MaxRecordsVariable} is {Engine.Text.Printable.Quote(text)}; it must be a whole number of at least 10 (default {DefaultMaxRecords}).", text);
    }

    internal LaunchAgentJob(string command, string name, LaunchAgent agent, AgentEventQueue events, string jobTypeName = "WandbLaunchAgent")
        : base(command, name)
    {
        _agent = agent;
        _events = events;
        PSJobTypeName = jobTypeName;
        // pwsh exiting with the agent still running: stop it as Stop-Job would, so its jobs are stopped and it
        // records KILLED, instead of vanishing and leaving them to the next agent's lease recovery.
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
    }

    private void OnProcessExit(object? sender, EventArgs e)
    {
        if (JobStateInfo.State != JobState.Running) return;
        _stop.Cancel();
        _run?.Wait(TimeSpan.FromSeconds(10));
    }

    /// <summary>
    /// What the job writes once its agent has stopped on its own or was stopped (Invoke-WandbLaunchJob -AsJob: the launch
    /// job as it ended, and the error of one that did not finish); null for an agent, which writes no output.
    /// </summary>
    internal Func<Task<(object? Output, ErrorRecord? Error)>>? Completion { get; init; }

    /// <summary>The launch job an Invoke-WandbLaunchJob -AsJob runs (Get-WandbLaunchJob -Id, Wait-WandbLaunchJob -Id); null for an agent.</summary>
    public string? LaunchJobId { get; init; }

    /// <summary>The agent's id in the store, once registered.</summary>
    public string? AgentId => _agent.Id;

    /// <summary>Why the agent stopped (its reason and a sentence), once it has.</summary>
    public AgentStop? StopReason => _agent.Stopped;

    /// <summary>Jobs the agent is running now.</summary>
    public int ActiveJobs => _agent.ActiveJobs;

    /// <inheritdoc />
    public override string StatusMessage => _status;

    /// <inheritdoc />
    public override bool HasMoreData => Output.Count > 0 || Error.Count > 0 || Warning.Count > 0 || Information.Count > 0 || Verbose.Count > 0 || Debug.Count > 0;

    /// <inheritdoc />
    public override string Location => Environment.MachineName;

    /// <inheritdoc />
    public override void StartJob()
    {
        if (JobStateInfo.State != JobState.NotStarted) throw new InvalidOperationException("The agent job has already started.");
        SetJobState(JobState.Running);
        _status = "Running";
        // SIGTERM and SIGHUP, which end pwsh, stop the agent first (its jobs stopped, KILLED recorded); SIGINT is
        // the session's Ctrl+C and leaves a background agent alone.
        _signals = TerminationSignals.Subscribe(_agent, interrupt: false);
        var pump = Task.Run(Pump);
        _run = Task.Run(async () =>
        {
            try
            {
                await _agent.RunAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (LaunchException e)
            {
                Error.Add(LaunchErrors.ToRecord(e));
                _events.Complete();
                await pump.ConfigureAwait(false);
                Finish(JobState.Failed, e.Message);
                return;
            }
            catch (Exception e)
            {
                Error.Add(new ErrorRecord(e, "AgentFailed", ErrorCategory.NotSpecified, _agent.Id));
                _events.Complete();
                await pump.ConfigureAwait(false);
                Finish(JobState.Failed, e.Message);
                return;
            }
            _events.Complete();
            await pump.ConfigureAwait(false);
            if (Completion is not null && _agent.Stopped is not { IsFailure: true })
            {
                try
                {
                    var (output, error) = await Completion().ConfigureAwait(false);
                    if (output is not null) Output.Add(PSObject.AsPSObject(output));
                    if (error is not null) Error.Add(error);
                }
                catch (LaunchException e)
                {
                    Error.Add(LaunchErrors.ToRecord(e));
                }
            }
            // The agent decided why it stopped: a store it cannot use fails the job, with the real reason.
            var stopped = _agent.Stopped;
            var status = stopped is null ? "Stopped" : "Stopped because " + stopped.Text;
            if (stopped is { IsFailure: true })
            {
                Error.Add(LaunchErrors.ToRecord(stopped.ToException(_agent.Id)));
                Finish(JobState.Failed, status);
            }
            else Finish(_stop.IsCancellationRequested ? JobState.Stopped : JobState.Completed, status);
        });
    }

    private void Pump()
    {
        foreach (var e in _events.Read(CancellationToken.None))
        {
            AgentEventRecords.Route(e, message => Keep(Warning, new WarningRecord(message)), record => Keep(Error, record), record => Keep(Progress, record),
                status => Keep(Information, new InformationRecord(status.ToString(), Name) { Tags = { "WandbLaunchAgent", status.Kind.ToString() } }),
                message => Keep(Verbose, new VerboseRecord(message)), message => Keep(Debug, new DebugRecord(message)));
        }
    }

    /// <summary>Adds <paramref name="record"/>, dropping the oldest records nobody received once the stream holds <see cref="MaxRecords"/>.</summary>
    private void Keep<T>(PSDataCollection<T> stream, T record)
    {
        stream.Add(record);
        if (stream.Count <= MaxRecords) return;
        while (stream.Count > MaxRecords) stream.RemoveAt(0);
        if (_droppedRecords) return;
        _droppedRecords = true;
        Warning.Add(new WarningRecord(
            $"The agent job keeps at most {MaxRecords} records per stream until Receive-Job takes them ({MaxRecordsVariable}); older ones were dropped. " +
            "Job logs (Get-WandbLaunchJobLog) and the store keep everything about each launch job."));
    }

    private void Finish(JobState state, string status)
    {
        _status = status;
        if (_signals?.ExitCode is not null)
        {
            // SIGTERM or SIGHUP stopped the agent: the process is about to end with the signal's exit code (see
            // TerminationSignals). Finishing the job now would let a waiting `Wait-Job` end pwsh first, with 0.
            _signals.Complete();
            return;
        }
        SetJobState(state);
        _signals?.Dispose();
    }

    /// <inheritdoc />
    public override void StopJob()
    {
        _stop.Cancel();
        _run?.Wait(TimeSpan.FromSeconds(60));
    }

    /// <inheritdoc />
    public override void StopJob(bool force, string reason) => StopJob();

    /// <inheritdoc />
    public override void StartJobAsync()
    {
        StartJob();
        OnStartJobCompleted(new System.ComponentModel.AsyncCompletedEventArgs(null, false, null));
    }

    /// <inheritdoc />
    public override void StopJobAsync()
    {
        _stop.Cancel();
        _ = (_run ?? Task.CompletedTask).ContinueWith(_ => OnStopJobCompleted(new System.ComponentModel.AsyncCompletedEventArgs(null, false, null)), TaskScheduler.Default);
    }

    /// <inheritdoc />
    public override void StopJobAsync(bool force, string reason) => StopJobAsync();

    /// <inheritdoc />
    public override void SuspendJob() => throw new NotSupportedException("A launch agent job cannot be suspended; stop it with Stop-Job.");

    /// <inheritdoc />
    public override void SuspendJob(bool force, string reason) => SuspendJob();

    /// <inheritdoc />
    public override void SuspendJobAsync() => SuspendJob();

    /// <inheritdoc />
    public override void SuspendJobAsync(bool force, string reason) => SuspendJob();

    /// <inheritdoc />
    public override void ResumeJob() => throw new NotSupportedException("A launch agent job cannot be suspended or resumed.");

    /// <inheritdoc />
    public override void ResumeJobAsync() => ResumeJob();

    /// <inheritdoc />
    public override void UnblockJob() => throw new NotSupportedException("A launch agent job never blocks.");

    /// <inheritdoc />
    public override void UnblockJobAsync() => UnblockJob();

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
            _signals?.Dispose();
            if (!IsFinished(JobStateInfo.State)) StopJob();
            _stop.Dispose();
        }
        base.Dispose(disposing);
    }

    private static bool IsFinished(JobState state) => state is JobState.Completed or JobState.Failed or JobState.Stopped or JobState.NotStarted;
}
