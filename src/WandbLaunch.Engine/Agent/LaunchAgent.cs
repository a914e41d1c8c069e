using WandbLaunch.Engine.Agent.Runs;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.FileSystem;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Engine.Agent;

/// <summary>
/// A launch agent: the root that wires its parts and owns its own lifecycle. It resolves its queues, registers, then
/// loops — <see cref="OrphanWatchdog"/> (claim orphans once per lease period), <see cref="LeaseKeeper"/> (heartbeat,
/// stop requests), <see cref="Dispatcher"/> (pop within max_jobs, each launch job run by a <see cref="JobRun"/>),
/// report POLLING/RUNNING — waiting on the store's change signal or a launch job's end, until cancelled or asked to
/// stop; then it stops or leaves its launch jobs, reports KILLED and its end summary. Everything the engine reports
/// while the agent works reaches the agent's event stream (<see cref="AgentDiagnostics"/>).
/// </summary>
public sealed class LaunchAgent
{
    /// <summary>A preempted job is re-queued (same run id, resumed) after each of its first this many attempts, then failed.</summary>
    public const int MaxPreemptions = 5;

    private readonly AgentContext _agent;
    private CancellationTokenSource? _stopSource;
    private AgentStop? _requestedStop;

    public LaunchAgent(ILaunchBackend backend, AgentOptions options, IAgentEvents events, RunnerRegistry? runners = null) =>
        _agent = new AgentContext(backend, options, events, runners);

    /// <summary>The builder the agent uses for jobs that run in an image (chosen when the queues are resolved).</summary>
    public string? BuilderType => _agent.Builder?.Type;

    /// <summary>The agent's id once registered.</summary>
    public string? Id => _agent.Id;

    public int ActiveJobs => _agent.Jobs.Count;

    /// <summary>Why the agent stopped, once it has (null while it runs).</summary>
    public AgentStop? Stopped { get; private set; }

    private AgentOptions Options => _agent.Options;

    private ILaunchBackend Backend => _agent.Backend;

    /// <summary>Checks everything the agent needs before it registers: queues exist and have a runner.</summary>
    public async Task<IReadOnlyList<LaunchQueue>> ResolveQueuesAsync(CancellationToken cancellationToken)
    {
        // No EngineLog.Use here: called by the starting cmdlet (before -WhatIf's answer), its reads report to that
        // cmdlet; called from RunAsync, they report to the agent's own stream.
        var config = Options.Config;
        if (Options.Direct is { } direct)
        {
            // A queue-less launch's agent serves the launch job's own queue, in the reserved project no other agent polls.
            var own = await Backend.GetQueueAsync(direct.Queue, cancellationToken).ConfigureAwait(false) ?? throw QueueNotFoundException.For(direct.Queue);
            await UseBuilderForAsync([own], cancellationToken).ConfigureAwait(false);
            return [own];
        }
        if (config.Queues.Count == 0)
        {
            throw LaunchException.Invalid("NoQueues",
                "The agent has no queues to poll. Give -Queue, or set queues in launch-config.yaml (New-WandbLaunchAgentConfig -Queue ...).");
        }
        var entity = config.Entity ?? Backend.DefaultEntity;
        var queues = new List<LaunchQueue>();
        foreach (var name in config.Queues)
        {
            var queue = await Backend.GetQueueAsync(new QueueKey(entity, LaunchDefaults.Project, name), cancellationToken).ConfigureAwait(false)
                ?? throw new QueueNotFoundException(
                    $"The agent cannot poll queue '{name}': there is no such queue in {entity}/{LaunchDefaults.Project} ({Backend.Location}). Create it with New-WandbLaunchQueue.",
                    name);
            _agent.Runners.For(queue.Resource);
            queues.Add(queue);
        }
        await UseBuilderForAsync(queues, cancellationToken).ConfigureAwait(false);
        return queues;
    }

    /// <summary>Checks that each queue's resource has a runner, and chooses the builder when one of them runs images.</summary>
    private async Task UseBuilderForAsync(IReadOnlyList<LaunchQueue> queues, CancellationToken cancellationToken)
    {
        if (_agent.Builder is null && queues.Any(q => _agent.Runners.For(q.Resource).RequiresImage))
        {
            var config = Options.Config;
            _agent.Builder = await Builders.BuilderFactory.CreateAsync(config.Builder, config.Environment, Options.Environment, _agent.Docker, _agent.Credential, cancellationToken, Options.PodNamespaceFile).ConfigureAwait(false);
            AgentContext.Verbose($"builder {_agent.Builder.Type}");
        }
    }

    /// <summary>
    /// Stops the agent as cancelling its token would, recording <paramref name="reason"/> as why (a signal, for one):
    /// it stops or leaves its jobs, releases its leases and reports KILLED. Safe from any thread, before or while it runs.
    /// </summary>
    public void RequestStop(AgentStopReason reason, string text)
    {
        Interlocked.CompareExchange(ref _requestedStop, new AgentStop(reason, text), null);
        try
        {
            Volatile.Read(ref _stopSource)?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // It has already stopped.
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var diagnostics = EngineLog.Use(_agent.Diagnostics);
        using var stopSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Volatile.Write(ref _stopSource, stopSource);
        if (Volatile.Read(ref _requestedStop) is not null) stopSource.Cancel();
        var token = stopSource.Token;
        IReadOnlyList<LaunchQueue> queues;
        try
        {
            queues = await ResolveQueuesAsync(token).ConfigureAwait(false);
        }
        catch (Exception) when (Options.Direct is { } direct)
        {
            // Nothing else will ever run a queue-less launch's job: when its agent cannot start (no Docker engine for the
            // builder, say), the job is stopped rather than left pending, and the error says why.
            await AbandonDirectJobAsync(direct).ConfigureAwait(false);
            throw;
        }
        var keys = queues.Select(q => new QueueKey(q.Entity, q.Project, q.Name)).ToList();
        var info = await Backend.RegisterAgentAsync(new AgentRegistration
        {
            Name = Options.Name,
            Entity = Options.Config.Entity ?? Backend.DefaultEntity,
            Queues = keys,
            ConfigJson = JsonTree.ToJson(Options.Config.GetDocument()),
            MaxJobs = _agent.MaxJobs,
        }, token).ConfigureAwait(false);
        _agent.Id = info.Id;
        PrivateFiles.EnsureDirectory(Backend.LogDirectory);
        PrivateFiles.EnsureDirectory(Options.WorkDirectory);
        AgentContext.Verbose($"registered as agent {info.Id} in {Backend.Location}; polling queue(s) {string.Join(", ", keys.Select(k => k.Name))} " +
                             (_agent.Cadence is { } cadence
                                 ? $"every {cadence.Idle.TotalSeconds:0.##} s when idle, from every {cadence.Fast.TotalSeconds:0.##} s right after work; heartbeat every {cadence.Heartbeat.TotalSeconds:0.##} s"
                                 : $"on every store change and at least every {Options.PollingInterval.TotalSeconds:0.##} s; lease {Options.Lease.TotalSeconds:0.##} s"));
        if (Options.Direct is { } directJob)
        {
            _agent.Report(AgentEventKind.Status,
                $"Running launch job {directJob.JobId} on {queues[0].Resource} without a queue, as agent {Options.Name} ({Id}) in {Backend.Location}" +
                (_agent.Builder is null ? "" : $"; builder {_agent.Builder.Type}"), directJob.JobId);
        }
        else _agent.Report(AgentEventKind.Status,
            $"Agent {Options.Name} ({Id}) polling {string.Join(", ", queues.Select(q => q.Name))} in {Backend.Location}; max jobs {(_agent.MaxJobs == -1 ? "unlimited" : _agent.MaxJobs)}" +
            (_agent.Builder is null ? "" : $"; builder {_agent.Builder.Type}"));

        AgentStop? stop = null;
        var leaveJobs = Options.LeaveJobsRunning;
        try
        {
            (stop, var leave) = await LoopAsync(keys, token).ConfigureAwait(false);
            leaveJobs |= leave;
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        finally
        {
            stop ??= Volatile.Read(ref _requestedStop) ?? new AgentStop(AgentStopReason.Cancelled, "it was cancelled (Ctrl+C or Stop-Job)");
            Volatile.Write(ref _stopSource, null);
            await ShutdownAsync(stop, leaveJobs).ConfigureAwait(false);
        }
    }

    /// <summary>W&amp;B's status line (<c>agent/agent.py</c> <c>print_status</c>), with "unlimited" for max_jobs -1.</summary>
    private string StatusLine(IReadOnlyList<QueueKey> keys)
    {
        var running = _agent.Jobs.Count;
        var polling = _agent.HasCapacity ? $"polling on queues {string.Join(",", keys.Select(k => k.Name))}, " : "";
        return $"agent {Options.Name} {polling}running {running} out of a maximum of {(_agent.MaxJobs == -1 ? "unlimited" : _agent.MaxJobs)} jobs";
    }

    /// <summary>The agent's loop; returns why it stopped on its own (null when cancelled) and whether a stop request asked it to leave its jobs.</summary>
    private async Task<(AgentStop? Stop, bool LeaveJobs)> LoopAsync(IReadOnlyList<QueueKey> keys, CancellationToken token)
    {
        var dispatcher = new Dispatcher(_agent, keys);
        var leases = new LeaseKeeper(_agent);
        var watchdog = new OrphanWatchdog(_agent);
        var faults = new BackendFaults(Options.StoreRetry, Backend.Location, (kind, message) => _agent.Report(kind, message));
        var status = AgentStatus.Polling;
        var statusPrinted = DateTime.UtcNow;
        while (!token.IsCancellationRequested)
        {
            if (DateTime.UtcNow - statusPrinted > Options.EffectiveStatusPrintInterval)
            {
                _agent.Report(AgentEventKind.Status, StatusLine(keys));
                statusPrinted = DateTime.UtcNow;
            }
            try
            {
                await watchdog.ClaimIfDueAsync(dispatcher.Queues, token).ConfigureAwait(false);
                if (await leases.BeatIfDueAsync(token).ConfigureAwait(false) is { } request)
                {
                    return (new AgentStop(AgentStopReason.StopRequested, "a stop was requested (Stop-WandbLaunchAgent)"), request.LeaveJobsRunning);
                }
                if (!await dispatcher.FillAsync(token).ConfigureAwait(false))
                {
                    return (new AgentStop(AgentStopReason.AllQueuesRemoved, "all its queues were removed"), false);
                }
                if (Options.Direct is { } direct && _agent.Jobs.IsEmpty && await DirectJobEndedAsync(direct, token).ConfigureAwait(false))
                {
                    return (new AgentStop(AgentStopReason.JobEnded, $"its launch job {direct.JobId} ended"), false);
                }
                if (!_agent.Jobs.IsEmpty) leases.Holding();
                var newStatus = _agent.Jobs.IsEmpty ? AgentStatus.Polling : AgentStatus.Running;
                if (newStatus != status)
                {
                    await Backend.SetAgentStatusAsync(_agent.Id!, newStatus, token).ConfigureAwait(false);
                    AgentContext.Verbose($"status {newStatus.ToString().ToUpperInvariant()} ({_agent.Jobs.Count} launch job(s))");
                    status = newStatus;
                }
                faults.Succeeded();
            }
            catch (LaunchException e) when (!token.IsCancellationRequested && e.IsTransient)
            {
                // Locked by another process, a full disk, a file it may not write for now, a W&B server down for
                // longer than its retry budget: the agent keeps its jobs and tries again, warning once per episode.
                if (e is StoreException store && await FatalStoreFaultAsync(store).ConfigureAwait(false) is { } fatal) return (fatal, false);
                await faults.WaitAsync(e, token).ConfigureAwait(false);
                leases.Soon();
                continue;
            }
            catch (StoreException e) when (!token.IsCancellationRequested)
            {
                return (await FatalStoreFaultAsync(e).ConfigureAwait(false) ?? new AgentStop(AgentStopReason.StoreFailed, $"the store failed ({e.ErrorId}): {e.Message}") { Cause = e }, false);
            }
            catch (LaunchException e) when (!token.IsCancellationRequested)
            {
                // Retrying would get the same answer (a rejected API key, an answer the agent cannot read): the agent
                // stops, saying why, rather than hammering the server or failing with an unhandled error.
                _agent.Report(AgentEventKind.Error, $"{e.Message} ({e.ErrorId})");
                return (new AgentStop(AgentStopReason.BackendFailed, $"{Backend.Location} failed ({e.ErrorId}): {e.Message}") { Cause = e }, false);
            }

            var ended = _agent.Jobs.NextEnd;
            var wait = Min(dispatcher.UntilNextPoll, leases.UntilNext);
            // While full, only a job ending (or a heartbeat) matters; otherwise any change to the store.
            var change = _agent.HasCapacity ? Backend.WaitForChangeAsync(wait, token) : Task.Delay(wait, token);
            await Task.WhenAny(change, ended).ConfigureAwait(false);
            if (ended.IsCompleted) dispatcher.JobEnded();
        }
        return (null, false);
    }

    private async Task AbandonDirectJobAsync(DirectJob direct)
    {
        try
        {
            await Backend.RequestStopAsync(direct.JobId, CancellationToken.None).ConfigureAwait(false);
        }
        catch (LaunchException e)
        {
            AgentContext.Verbose($"could not stop launch job {direct.JobId}: {e.Message}");
        }
    }

    /// <summary>Whether a queue-less launch's job has ended (a preempted one is back on its queue, and runs again).</summary>
    private async Task<bool> DirectJobEndedAsync(DirectJob direct, CancellationToken token)
    {
        var job = await Backend.GetJobAsync(direct.JobId, token).ConfigureAwait(false);
        return job is null || Engine.Jobs.LaunchJobStates.IsTerminal(job.State);
    }

    /// <summary>A store error that retrying cannot mend: the file was deleted or replaced (the real cause behind other errors), or it is damaged.</summary>
    private async Task<AgentStop?> FatalStoreFaultAsync(StoreException e)
    {
        try
        {
            await Backend.CheckStoreFileAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (StoreException gone) when (gone.IsGone)
        {
            _agent.Report(AgentEventKind.Error, gone.Message);
            return StoreGone(gone.Fault, gone.Fault == StoreFault.Deleted ? $"its store '{Backend.Location}' was deleted" : $"its store '{Backend.Location}' was replaced by another file");
        }
        if (e.IsGone)
        {
            _agent.Report(AgentEventKind.Error, e.Message);
            return StoreGone(e.Fault, e.Message);
        }
        if (!e.IsTransient) _agent.Report(AgentEventKind.Error, e.Message);
        return null;
    }

    private static AgentStop StoreGone(StoreFault fault, string text) =>
        new(fault == StoreFault.Deleted ? AgentStopReason.StoreDeleted : AgentStopReason.StoreReplaced, text);

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? (a < TimeSpan.Zero ? TimeSpan.Zero : a) : (b < TimeSpan.Zero ? TimeSpan.Zero : b);

    private bool LeavesByDefault(JobRun run)
    {
        try
        {
            return _agent.Runners.For(run.Job.Resource).LeavesJobsWhenAgentStops;
        }
        catch (LaunchException)
        {
            return false;
        }
    }

    private async Task ShutdownAsync(AgentStop stop, bool leaveJobs)
    {
        Stopped = stop;
        if (Id is null) return;
        var reason = stop.Text;
        var jobs = _agent.Jobs;
        // As W&B's agent, jobs on remote targets run on and are left to the next agent, unless told otherwise.
        var all = jobs.All.ToList();
        // Nothing would re-attach to a queue-less launch's job, so it is always stopped with its agent (W&B's interrupt ends the run).
        var left = all.Where(run => Options.Direct is null && (leaveJobs || (!Options.StopJobsOnExit && LeavesByDefault(run)))).ToList();
        var stopped = all.Except(left).ToList();
        if (left.Count > 0) _agent.Report(AgentEventKind.Status, $"Leaving {left.Count} job(s) to the next agent because {reason} (jobs that cannot run without it are stopped)");
        if (stopped.Count > 0) _agent.Report(AgentEventKind.Status, $"Stopping {stopped.Count} running job(s) because {reason}");
        foreach (var run in left) run.Leave(reason);
        foreach (var run in stopped) run.Stop($"The agent stopped while the job ran, because {reason}.", Options.ExitStopGrace);
        var tasks = jobs.All.Select(t => t.Task).Where(t => t is not null).Cast<Task>().ToArray();
        await Task.WhenAny(Task.WhenAll(tasks), Task.Delay(TimeSpan.FromSeconds(30))).ConfigureAwait(false);
        try
        {
            await BackendFaults.RetryAsync(() => Backend.SetAgentStatusAsync(Id, AgentStatus.Killed, CancellationToken.None), Options.StoreRetry, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        catch (LaunchException e)
        {
            _agent.Report(AgentEventKind.Error, $"Could not record the agent as stopped: {e.Message}");
        }
        _agent.Report(stop.IsFailure ? AgentEventKind.Error : AgentEventKind.Status, $"Agent {Options.Name} ({Id}) stopped because {reason}: {_agent.Finished} job(s) finished, {_agent.Failed} failed or stopped" +
                                      (_agent.Left > 0 ? $", {_agent.Left} left running for the next agent" : ""));
    }
}
