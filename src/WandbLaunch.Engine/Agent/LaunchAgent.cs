using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Engine.Agent;

/// <summary>
/// A launch agent: registers, then loops — check the stop flag, take items round-robin from its queues while below
/// max_jobs, run each as a task (start → run → finish), renew its leases, report POLLING/RUNNING — until cancelled
/// or asked to stop, then stops its jobs and reports KILLED. An idle agent waits on the store's change signal, so
/// a new item starts at once rather than on the next poll.
/// </summary>
public sealed class LaunchAgent
{
    /// <summary>A preempted job is re-queued (same run id, resumed) after each of its first this many attempts, then failed.</summary>
    public const int MaxPreemptions = 5;

    private readonly ILaunchBackend _backend;
    private readonly AgentOptions _options;
    private readonly IAgentEvents _events;
    private readonly RunnerRegistry _runners;
    private readonly Lazy<Docker.DockerEngine> _docker;
    private volatile Secrets.SecretRedactor _secrets;
    private Builders.IImageBuilder? _builder;
    private readonly ConcurrentDictionary<string, TrackedJob> _jobs = new();
    private readonly object _signalLock = new();
    private TaskCompletionSource _jobEnded = NewSignal();
    private int _finished;
    private int _failed;
    private int _left;

    public LaunchAgent(ILaunchBackend backend, AgentOptions options, IAgentEvents events, RunnerRegistry? runners = null)
    {
        _backend = backend;
        _options = options;
        _events = events;
        _docker = new Lazy<Docker.DockerEngine>(() => Docker.DockerEngine.Connect(options.Environment));
        _runners = runners ?? RunnerRegistry.Default(_docker, Credential, options.Environment);
        _secrets = Secrets.SecretRedactor.FromEnvironment(options.Environment, options.RegistryCredential);
    }

    /// <summary>The builder the agent uses for jobs that run in an image (chosen when the queues are resolved).</summary>
    public string? BuilderType => _builder?.Type;

    private Registries.RegistryCredential? Credential(string registry) =>
        Registries.RegistryCredential.Resolve(registry, _options.RegistryCredential, _options.Config.Builder.Destination, _options.Environment);

    /// <summary>The agent's id once registered.</summary>
    public string? Id { get; private set; }

    public int ActiveJobs => _jobs.Count;

    private int MaxJobs => _options.Config.MaxJobs;

    private bool HasCapacity => MaxJobs == -1 || _jobs.Count < MaxJobs;

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Checks everything the agent needs before it registers: queues exist and have a runner.</summary>
    public async Task<IReadOnlyList<LaunchQueue>> ResolveQueuesAsync(CancellationToken cancellationToken)
    {
        var config = _options.Config;
        if (config.Queues.Count == 0)
        {
            throw LaunchException.Invalid("NoQueues",
                "The agent has no queues to poll. Give -Queue, or set queues in launch-config.yaml (New-WandbLaunchAgentConfig -Queue ...).");
        }
        var entity = config.Entity ?? _backend.DefaultEntity;
        var queues = new List<LaunchQueue>();
        foreach (var name in config.Queues)
        {
            var queue = await _backend.GetQueueAsync(new QueueKey(entity, Storage.LaunchDefaults.Project, name), cancellationToken).ConfigureAwait(false)
                ?? throw new QueueNotFoundException(
                    $"The agent cannot poll queue '{name}': there is no such queue in {entity}/{Storage.LaunchDefaults.Project} ({_backend.Location}). Create it with New-WandbLaunchQueue.",
                    name);
            _runners.For(queue.Resource);
            queues.Add(queue);
        }
        if (_builder is null && queues.Any(q => _runners.For(q.Resource).RequiresImage))
        {
            _builder = await Builders.BuilderFactory.CreateAsync(config.Builder, config.Environment, _options.Environment, _docker, Credential, cancellationToken).ConfigureAwait(false);
        }
        return queues;
    }

    /// <summary>Why the agent stopped, once it has (null while it runs).</summary>
    public AgentStop? Stopped { get; private set; }

    private CancellationTokenSource? _stopSource;
    private AgentStop? _requestedStop;

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
        using var stopSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Volatile.Write(ref _stopSource, stopSource);
        if (Volatile.Read(ref _requestedStop) is not null) stopSource.Cancel();
        var token = stopSource.Token;
        var queues = await ResolveQueuesAsync(token).ConfigureAwait(false);
        var keys = queues.Select(q => new QueueKey(q.Entity, q.Project, q.Name)).ToList();
        var info = await _backend.RegisterAgentAsync(new AgentRegistration
        {
            Name = _options.Name,
            Entity = _options.Config.Entity ?? _backend.DefaultEntity,
            Queues = keys,
            ConfigJson = JsonTree.ToJson(_options.Config.GetDocument()),
            MaxJobs = MaxJobs,
        }, token).ConfigureAwait(false);
        Id = info.Id;
        Storage.PrivateFiles.EnsureDirectory(_backend.LogDirectory);
        Storage.PrivateFiles.EnsureDirectory(_options.WorkDirectory);
        Report(AgentEventKind.Status,
            $"Agent {_options.Name} ({Id}) polling {string.Join(", ", queues.Select(q => q.Name))} in {_backend.Location}; max jobs {(MaxJobs == -1 ? "unlimited" : MaxJobs)}" +
            (_builder is null ? "" : $"; builder {_builder.Type}"));

        AgentStop? stop = null;
        var leaveJobs = _options.LeaveJobsRunning;
        var status = AgentStatus.Polling;
        var faults = new StoreFaults(_options.StoreRetry, (kind, message) => Report(kind, message));
        var recovered = false;
        var nextHeartbeat = DateTime.UtcNow + _options.HeartbeatInterval;
        var nextRecovery = DateTime.UtcNow + _options.Lease;
        var next = 0;
        try
        {
            while (!token.IsCancellationRequested && stop is null)
            {
                try
                {
                    if (!recovered)
                    {
                        await RecoverOrphansAsync(keys, token).ConfigureAwait(false);
                        recovered = true;
                    }
                    // Idle, the heartbeat is rare: a stop request (a store write, which woke this loop) is read here instead.
                    if (DateTime.UtcNow < nextHeartbeat && _jobs.IsEmpty && await StopRequestedAsync(token).ConfigureAwait(false))
                    {
                        nextHeartbeat = DateTime.UtcNow;
                    }
                    if (DateTime.UtcNow >= nextHeartbeat)
                    {
                        await _backend.CheckStoreFileAsync(token).ConfigureAwait(false);
                        var beat = await _backend.HeartbeatAsync(Id, _options.Lease, token).ConfigureAwait(false);
                        nextHeartbeat = DateTime.UtcNow + (beat.HeldJobs.Count == 0 && _jobs.IsEmpty ? _options.IdleHeartbeatInterval : _options.HeartbeatInterval);
                        if (beat.StopRequested)
                        {
                            stop = new AgentStop(AgentStopReason.StopRequested, "a stop was requested (Stop-WandbLaunchAgent)");
                            leaveJobs |= beat.LeaveJobsRunning;
                            break;
                        }
                        ApplyHeartbeat(beat);
                    }
                    if (DateTime.UtcNow >= nextRecovery)
                    {
                        await RecoverOrphansAsync(keys, token).ConfigureAwait(false);
                        nextRecovery = DateTime.UtcNow + _options.Lease;
                    }

                    while (HasCapacity && !token.IsCancellationRequested && keys.Count > 0)
                    {
                        LaunchJob? job = null;
                        for (var i = 0; i < keys.Count && job is null; i++)
                        {
                            var index = (next + i) % keys.Count;
                            try
                            {
                                job = await _backend.PopAsync(Id, keys[index], _options.Lease, token).ConfigureAwait(false);
                            }
                            catch (QueueNotFoundException)
                            {
                                QueueRemoved(keys, index);
                                i--;
                                continue;
                            }
                            if (job is not null) next = (index + 1) % keys.Count;
                        }
                        if (job is null) break;
                        Track(job, running: null);
                    }
                    if (keys.Count == 0)
                    {
                        stop = new AgentStop(AgentStopReason.AllQueuesRemoved, "all its queues were removed");
                        break;
                    }

                    // Holding jobs now: their leases are renewed every HeartbeatInterval from here on.
                    if (!_jobs.IsEmpty) nextHeartbeat = Earliest(nextHeartbeat, DateTime.UtcNow + _options.HeartbeatInterval);
                    var newStatus = _jobs.IsEmpty ? AgentStatus.Polling : AgentStatus.Running;
                    if (newStatus != status)
                    {
                        await _backend.SetAgentStatusAsync(Id, newStatus, token).ConfigureAwait(false);
                        status = newStatus;
                    }
                    faults.Succeeded();
                }
                catch (StoreException e) when (!token.IsCancellationRequested && e.IsTransient)
                {
                    // Locked by another process, a full disk, a file it may not write for now: the agent keeps its
                    // jobs and tries again, warning once per episode.
                    if (await FatalStoreFaultAsync(e) is { } fatal)
                    {
                        stop = fatal;
                        break;
                    }
                    await faults.WaitAsync(e, token).ConfigureAwait(false);
                    nextHeartbeat = DateTime.UtcNow;
                    continue;
                }
                catch (StoreException e) when (!token.IsCancellationRequested)
                {
                    stop = await FatalStoreFaultAsync(e) ?? new AgentStop(AgentStopReason.StoreFailed, $"the store failed ({e.ErrorId}): {e.Message}");
                    break;
                }

                Task ended;
                lock (_signalLock) ended = _jobEnded.Task;
                var wait = Min(_options.PollingInterval, nextHeartbeat - DateTime.UtcNow);
                // While full, only a job ending (or a heartbeat) matters; otherwise any change to the store.
                var change = HasCapacity ? _backend.WaitForChangeAsync(wait, token) : Task.Delay(wait, token);
                await Task.WhenAny(change, ended).ConfigureAwait(false);
            }
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

    /// <summary>A store error that retrying cannot mend: the file was deleted or replaced (the real cause behind other errors), or it is damaged.</summary>
    private async Task<AgentStop?> FatalStoreFaultAsync(StoreException e)
    {
        try
        {
            await _backend.CheckStoreFileAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (StoreException gone) when (gone.IsGone)
        {
            Report(AgentEventKind.Error, gone.Message);
            return StoreGone(gone.Fault, gone.Fault == StoreFault.Deleted ? $"its store '{_backend.Location}' was deleted" : $"its store '{_backend.Location}' was replaced by another file");
        }
        if (e.IsGone)
        {
            Report(AgentEventKind.Error, e.Message);
            return StoreGone(e.Fault, e.Message);
        }
        if (!e.IsTransient) Report(AgentEventKind.Error, e.Message);
        return null;
    }

    private static AgentStop StoreGone(StoreFault fault, string text) =>
        new(fault == StoreFault.Deleted ? AgentStopReason.StoreDeleted : AgentStopReason.StoreReplaced, text);

    private readonly HashSet<string> _removedQueues = [];

    /// <summary>One of the agent's queues is gone: it keeps serving the others, and says so once.</summary>
    private void QueueRemoved(List<QueueKey> keys, int index)
    {
        var key = keys[index];
        keys.RemoveAt(index);
        if (!_removedQueues.Add(key.Name)) return;
        Report(AgentEventKind.Warning, keys.Count == 0
            ? $"Queue {key.Name} was removed from {key.Entity}/{key.Project}; it was the agent's last queue, so the agent stops"
            : $"Queue {key.Name} was removed from {key.Entity}/{key.Project}; the agent keeps serving {string.Join(", ", keys.Select(k => k.Name))}", queue: key.Name);
    }

    private static DateTime Earliest(DateTime a, DateTime b) => a < b ? a : b;

    /// <summary>A read, no write: whether Stop-WandbLaunchAgent asked this agent to stop (or its record is gone, which the heartbeat reports).</summary>
    private async Task<bool> StopRequestedAsync(CancellationToken cancellationToken)
    {
        var self = await _backend.GetAgentAsync(Id!, cancellationToken).ConfigureAwait(false);
        return self is null || self.StopRequested;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? (a < TimeSpan.Zero ? TimeSpan.Zero : a) : (b < TimeSpan.Zero ? TimeSpan.Zero : b);

    private void ApplyHeartbeat(Heartbeat beat)
    {
        foreach (var id in beat.JobsToStop)
        {
            if (_jobs.TryGetValue(id, out var tracked)) tracked.Stop("Stopped on request (Stop-WandbLaunchJob).");
        }
        var held = beat.HeldJobs.ToHashSet();
        foreach (var (id, tracked) in _jobs)
        {
            if (!held.Contains(id) && tracked.Acknowledged)
            {
                Report(AgentEventKind.Warning, $"{id}: another agent took this job over (this agent missed its lease); stopping the local copy", id);
                tracked.Lose();
            }
        }
    }

    private async Task RecoverOrphansAsync(IReadOnlyList<QueueKey> keys, CancellationToken cancellationToken)
    {
        var orphans = await _backend.ClaimOrphansAsync(Id!, keys, _options.Lease, cancellationToken).ConfigureAwait(false);
        foreach (var orphan in orphans)
        {
            var runner = _runners.For(orphan.Resource);
            var logPath = LogPathOf(orphan);
            // The re-attached job keeps writing to this log (its output, its end), so it stays open until the job ends.
            var log = new JobLog(logPath, SecretsOf(orphan), _options.MaxLogBytes);
            IRunningJob? running;
            try
            {
                // The runner looks first: the log's last write tells it when the earlier agent stopped recording.
                running = await runner.AttachAsync(orphan, log, cancellationToken).ConfigureAwait(false);
                var previous = orphan.PreviousAgentId is { } p ? await _backend.GetAgentAsync(p, cancellationToken).ConfigureAwait(false) : null;
                log.Agent($"agent {Id} took over this job from agent {orphan.PreviousAgentId}, " +
                          (previous?.Status == AgentStatus.Killed ? "which stopped and left it running" : "which stopped responding"));
            }
            catch (LaunchException e)
            {
                log.Agent($"re-attaching failed: {e.Message}");
                running = null;
            }
            catch
            {
                log.Dispose();
                throw;
            }
            if (running is null && orphan.StartedAt is null)
            {
                log.Dispose();
                // It never reached its target (its agent died while fetching code or building), and the runner has
                // made sure nothing of it still runs: it goes back on its queue to run in full.
                await _backend.RequeueAsync(orphan.Id, Id!,
                    $"The agent that took this job ({orphan.PreviousAgentId}) stopped responding before the job started; it was put back on its queue.",
                    cancellationToken).ConfigureAwait(false);
                Report(AgentEventKind.Job, $"{orphan.Id} [{orphan.Queue}] put back on its queue: its agent died before starting it", orphan.Id, orphan.Queue);
                continue;
            }
            if (running is null)
            {
                log.Dispose();
                var message = $"The agent running this job ({orphan.PreviousAgentId}) stopped responding while the job was {orphan.State.ToString().ToLowerInvariant()}, " +
                              $"and {orphan.Resource} jobs cannot be re-attached; submit it again to re-run it.";
                await _backend.FinishAsync(orphan.Id, Id!, JobOutcome.Failed(FailureStage.Agent, message), cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref _failed);
                Report(AgentEventKind.Job, $"{orphan.Id} [{orphan.Queue}] failed (agent): its agent died and it cannot be re-attached", orphan.Id, orphan.Queue);
                continue;
            }
            Report(AgentEventKind.Job, $"{orphan.Id} [{orphan.Queue}] re-attached ({running.Description})", orphan.Id, orphan.Queue);
            Track(orphan, running, log);
        }
    }

    private void Track(LaunchJob job, IRunningJob? running, JobLog? log = null)
    {
        var tracked = new TrackedJob(job);
        _jobs[job.Id] = tracked;
        tracked.Task = Task.Run(() => RunJobAsync(tracked, running, log));
    }

    /// <summary>The agent stops and leaves a running job on its target: its lease ends now, so the next agent re-attaches.</summary>
    private async Task LeaveRunningAsync(TrackedJob tracked, LaunchJob job, IRunningJob running, JobLog log)
    {
        await Persist(() => _backend.ReleaseAsync(job.Id, Id!, CancellationToken.None)).ConfigureAwait(false);
        CodeDirectory.RemoveRunDirectory(_options.WorkDirectory, job.RunId, log.Agent);
        log.Agent($"agent {Id} stopped following the job, because {tracked.LeaveReason}; {running.Description} keeps running, and the next agent serving queue {job.Queue} re-attaches to it");
        Interlocked.Increment(ref _left);
        Report(AgentEventKind.Job, $"{job.Id} [{job.Queue}] left running ({running.Description}) for the next agent", job.Id, job.Queue);
    }

    private async Task MarkRunningWhenStartedAsync(TrackedJob tracked, LaunchJob job, IRunningJob running)
    {
        await running.Started.ConfigureAwait(false);
        // Ended, stopped or left again before it ran: its target's verdict, not "running", is what counts.
        if (running.Completion.IsCompleted || tracked.StopReason is not null || tracked.Lost) return;
        try
        {
            await Persist(() => _backend.MarkRunningAsync(job.Id, Id!, running.Handle, CancellationToken.None)).ConfigureAwait(false);
            Report(AgentEventKind.Job, $"{job.Id} [{job.Queue}] running ({running.Description})", job.Id, job.Queue);
        }
        catch (LaunchException)
        {
            // It ended or was taken over meanwhile; its end is recorded where it is followed.
        }
    }

    /// <summary>Runs a job to its end; a re-attached job comes with its running handle and the log it writes to.</summary>
    private async Task RunJobAsync(TrackedJob tracked, IRunningJob? running, JobLog? attachedLog)
    {
        var job = tracked.Job;
        var logPath = LogPathOf(job);
        JobOutcome? outcome = null;
        try
        {
            using var log = attachedLog ?? new JobLog(logPath, SecretsOf(job), _options.MaxLogBytes);
            try
            {
                if (running is null)
                {
                    job = await Persist(() => _backend.AckAsync(job.Id, Id!, logPath, CancellationToken.None)).ConfigureAwait(false);
                    tracked.Acknowledged = true;
                    log.Agent($"agent {_options.Name} ({Id}) took the job from queue {job.Queue} (attempt {job.Attempts}, run id {job.RunId})");
                    Report(AgentEventKind.Job, $"{job.Id} [{job.Queue}] starting: {job.Source} (run {job.RunId}{(job.Attempts > 1 ? $", attempt {job.Attempts}" : "")})", job.Id, job.Queue);
                    running = await StartAsync(tracked, job, log).ConfigureAwait(false);
                    if (tracked.LeaveRunning && tracked.Cancellation.IsCancellationRequested && running.CanDetach && !running.Started.IsCompleted)
                    {
                        // The agent stopped while the job waited on its target (a pending pod): it keeps its place there.
                        await running.DetachAsync().ConfigureAwait(false);
                        await LeaveRunningAsync(tracked, job, running, log).ConfigureAwait(false);
                        return;
                    }
                    await Persist(() => _backend.MarkRunningAsync(job.Id, Id!, running.Handle, CancellationToken.None)).ConfigureAwait(false);
                    Report(AgentEventKind.Job, $"{job.Id} [{job.Queue}] running ({running.Description})", job.Id, job.Queue);
                }
                else
                {
                    tracked.Acknowledged = true;
                    // Re-attached before it ran (its agent died or left it while it was starting): Running once its target says so.
                    if (job.State != LaunchJobState.Running) _ = MarkRunningWhenStartedAsync(tracked, job, running);
                }
                using (tracked.Cancellation.Token.Register(() => _ = tracked.LeaveRunning && running.CanDetach ? running.DetachAsync() : running.CancelAsync()))
                {
                    outcome = await running.Completion.ConfigureAwait(false);
                }
                if (tracked.LeaveRunning && running.CanDetach)
                {
                    await LeaveRunningAsync(tracked, job, running, log).ConfigureAwait(false);
                    return;
                }
                if (tracked.StopReason is { } why && outcome.State == LaunchJobState.Stopped) outcome = JobOutcome.Stopped(why);
            }
            catch (OperationCanceledException) when (tracked.LeaveRunning && running is null && tracked.Acknowledged)
            {
                // Stopped before the job ran on its target: nothing of it runs any more, so it goes back on its queue.
                var why = $"The agent stopped before the job started, because {tracked.LeaveReason}; it was put back on its queue.";
                log.Agent(why);
                await Persist(() => _backend.RequeueAsync(job.Id, Id!, why, CancellationToken.None)).ConfigureAwait(false);
                CodeDirectory.RemoveRunDirectory(_options.WorkDirectory, job.RunId, log.Agent);
                Report(AgentEventKind.Job, $"{job.Id} [{job.Queue}] put back on its queue: the agent stopped before it started", job.Id, job.Queue);
                return;
            }
            catch (JobFailedException e)
            {
                outcome = JobOutcome.Failed(e.Stage, e.Message);
            }
            catch (OperationCanceledException) when (tracked.Cancellation.IsCancellationRequested)
            {
                outcome = JobOutcome.Stopped(tracked.StopReason ?? "Stopped.");
            }
            catch (JobLeaseLostException)
            {
                tracked.Lose();
            }
            catch (LaunchException e)
            {
                outcome = JobOutcome.Failed(FailureStage.Agent, e.Message);
            }
            catch (Exception e)
            {
                outcome = JobOutcome.Failed(FailureStage.Agent, $"The agent failed while running the job: {e.GetType().Name}: {e.Message}");
            }
            if (tracked.Lost || outcome is null) return;
            // What is stored and reported never carries a secret, whatever message a runner or an exception built,
            // nor raw control characters from the job's output it quotes (its lines are kept).
            outcome = outcome with { Message = Printed(SecretsOf(job).RedactOrNull(outcome.Message)) };
            if (outcome.State == LaunchJobState.Preempted)
            {
                if (job.Attempts <= MaxPreemptions)
                {
                    var why = $"Preempted on attempt {job.Attempts}: {outcome.Message} Re-queued with the same run id ({job.RunId}), to resume with WANDB_RESUME=allow.";
                    log.Agent(why);
                    await Persist(() => _backend.RequeueAsync(job.Id, Id!, why, CancellationToken.None)).ConfigureAwait(false);
                    CodeDirectory.RemoveRunDirectory(_options.WorkDirectory, job.RunId, log.Agent);
                    Report(AgentEventKind.Warning, $"{job.Id} [{job.Queue}] preempted on attempt {job.Attempts}; re-queued", job.Id, job.Queue);
                    return;
                }
                outcome = JobOutcome.Failed(FailureStage.Run,
                    $"The job was preempted on each of its {job.Attempts} attempts; preempted jobs are re-queued at most {MaxPreemptions} times. Last time: {outcome.Message}");
            }
            log.Agent(Describe(outcome));
            await Persist(() => _backend.FinishAsync(job.Id, Id!, outcome, CancellationToken.None)).ConfigureAwait(false);
            CodeDirectory.RemoveRunDirectory(_options.WorkDirectory, job.RunId, log.Agent);
            if (outcome.State == LaunchJobState.Finished) Interlocked.Increment(ref _finished);
            else Interlocked.Increment(ref _failed);
            Report(outcome.State == LaunchJobState.Failed ? AgentEventKind.Warning : AgentEventKind.Job,
                $"{job.Id} [{job.Queue}] {Describe(outcome)}", job.Id, job.Queue);
        }
        catch (JobLeaseLostException e)
        {
            Report(AgentEventKind.Warning, $"{job.Id}: {e.Message}", job.Id, job.Queue);
        }
        catch (Exception e)
        {
            Report(AgentEventKind.Error, $"{job.Id}: could not record the job's outcome: {e.Message}", job.Id, job.Queue);
        }
        finally
        {
            _jobs.TryRemove(job.Id, out _);
            tracked.Cancellation.Dispose();
            TaskCompletionSource signal;
            lock (_signalLock)
            {
                signal = _jobEnded;
                _jobEnded = NewSignal();
            }
            signal.TrySetResult();
        }
    }

    private async Task<IRunningJob> StartAsync(TrackedJob tracked, LaunchJob job, JobLog log)
    {
        var runner = _runners.For(job.Resource);
        using var start = CancellationTokenSource.CreateLinkedTokenSource(tracked.Cancellation.Token);
        if (_options.StartTimeout is { } timeout) start.CancelAfter(timeout);
        IRunningJob? running = null;
        try
        {
            string? image = null;
            if (runner.RequiresImage)
            {
                var spec = job.GetSpec();
                image = await _builder!.BuildAsync(new Builders.BuildRequest
                {
                    Job = job,
                    Spec = spec,
                    ResourceArgs = JobContextFactory.Create(job, _options, log).ResourceArgs,
                    Settings = _options.Config.Builder,
                    WorkDirectory = _options.WorkDirectory,
                    Log = log,
                    Warn = message => Warn(tracked, log, message, FailureStage.Build),
                    Progress = (activity, status, percent) => _events.Report(new AgentEvent(DateTimeOffset.Now, AgentEventKind.Progress, status, job.Id, job.Queue)
                    {
                        Activity = activity,
                        Percent = percent,
                    }),
                }, start.Token).ConfigureAwait(false);
                Report(AgentEventKind.Job, $"{job.Id} [{job.Queue}] image {image}", job.Id, job.Queue);
            }
            var context = JobContextFactory.Create(job, _options, log, image,
                () => _backend.MarkLaunchingAsync(job.Id, Id!, CancellationToken.None), message => Warn(tracked, log, message));
            running = await runner.StartAsync(context, start.Token).ConfigureAwait(false);
            await running.Started.WaitAsync(start.Token).ConfigureAwait(false);
            return running;
        }
        catch (OperationCanceledException) when (running is not null && tracked.LeaveRunning && running.CanDetach && tracked.Cancellation.IsCancellationRequested)
        {
            // Stopped by an agent that leaves its jobs: the caller detaches it where it waits.
            return running;
        }
        catch (OperationCanceledException)
        {
            // Timed out or stopped while starting: what was started must not be left running unwatched.
            if (running is not null)
            {
                await running.CancelAsync().ConfigureAwait(false);
                await Task.WhenAny(running.Completion, Task.Delay(TimeSpan.FromSeconds(30))).ConfigureAwait(false);
            }
            if (tracked.Cancellation.IsCancellationRequested) throw;
            throw new JobFailedException(FailureStage.Agent,
                $"The job did not start within {_options.StartTimeout!.Value.TotalSeconds:0} s ({AgentOptions.StartTimeoutVariable}); it was cancelled." +
                (tracked.LastWarning is { } warning ? $" It was waiting because: {warning}" : ""));
        }
    }

    /// <summary>A builder's or runner's warning: recorded on the job with its stage, written to its log, reported, and kept for a start timeout's message.</summary>
    private void Warn(TrackedJob tracked, JobLog log, string message, string stage = FailureStage.Run)
    {
        var job = tracked.Job;
        message = Printed(SecretsOf(job).Redact(message))!;
        tracked.LastWarning = message;
        try
        {
            log.Agent("warning: " + message);
        }
        catch (ObjectDisposedException)
        {
        }
        Report(AgentEventKind.Warning, $"{job.Id} [{job.Queue}] {message}", job.Id, job.Queue);
        _ = RecordWarningAsync();

        async Task RecordWarningAsync()
        {
            try
            {
                await _backend.WarnAsync(job.Id, stage, message, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                Report(AgentEventKind.Error, $"{job.Id}: could not record a warning: {e.Message}", job.Id, job.Queue);
            }
        }
    }

    private static string Describe(JobOutcome outcome) => outcome.State switch
    {
        LaunchJobState.Finished => "finished" + (outcome.ExitCode is { } c ? $" (exit code {c})" : ""),
        LaunchJobState.Failed => $"failed ({outcome.Stage}): {FirstLine(outcome.Message)}",
        LaunchJobState.Stopped => "stopped: " + outcome.Message,
        _ => outcome.State.ToString().ToLowerInvariant(),
    };

    private string LogPathOf(LaunchJob job) => JobLogPath.Of(job, _backend.LogDirectory);

    private static string FirstLine(string? text) => text?.Split('\n')[0] ?? "";

    private static string? Printed(string? message) => message is null ? null : Text.Printable.EscapeControls(message, keepTab: true, keepNewlines: true);

    /// <summary>The agent's secrets and the job's own (a spec's <c>_wandb_api_key</c>).</summary>
    /// <remarks>
    /// Read again for each job: the agent's environment may change while it runs (a key set after it started
    /// reaches the jobs, so it must be known here too). Events use the last one read.
    /// </remarks>
    private Secrets.SecretRedactor SecretsOf(LaunchJob job)
    {
        _secrets = Secrets.SecretRedactor.FromEnvironment(_options.Environment, _options.RegistryCredential);
        return _secrets.WithSpec(job.GetSpec());
    }

    private async Task ShutdownAsync(AgentStop stop, bool leaveJobs)
    {
        Stopped = stop;
        if (Id is null) return;
        var reason = stop.Text;
        if (leaveJobs)
        {
            if (!_jobs.IsEmpty) Report(AgentEventKind.Status, $"Leaving {_jobs.Count} job(s) to the next agent because {reason} (jobs that cannot run without it are stopped)");
            foreach (var tracked in _jobs.Values) tracked.Leave(reason);
        }
        else
        {
            if (!_jobs.IsEmpty) Report(AgentEventKind.Status, $"Stopping {_jobs.Count} running job(s) because {reason}");
            foreach (var tracked in _jobs.Values) tracked.Stop($"The agent stopped while the job ran, because {reason}.");
        }
        var tasks = _jobs.Values.Select(t => t.Task).Where(t => t is not null).Cast<Task>().ToArray();
        await Task.WhenAny(Task.WhenAll(tasks), Task.Delay(TimeSpan.FromSeconds(30))).ConfigureAwait(false);
        try
        {
            await StoreFaults.RetryAsync(() => _backend.SetAgentStatusAsync(Id, AgentStatus.Killed, CancellationToken.None), _options.StoreRetry, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        catch (LaunchException e)
        {
            Report(AgentEventKind.Error, $"Could not record the agent as stopped: {e.Message}");
        }
        Report(stop.IsFailure ? AgentEventKind.Error : AgentEventKind.Status, $"Agent {_options.Name} ({Id}) stopped because {reason}: {_finished} job(s) finished, {_failed} failed or stopped" +
                                      (_left > 0 ? $", {_left} left running for the next agent" : ""));
    }

    /// <summary>A job's write to the store, tried again while the store is locked or full (for up to 10 minutes), so a busy store does not lose the job's record.</summary>
    private Task Persist(Func<Task> write) => StoreFaults.RetryAsync(write, _options.StoreRetry, TimeSpan.FromMinutes(10));

    private Task<T> Persist<T>(Func<Task<T>> write) => StoreFaults.RetryAsync(write, _options.StoreRetry, TimeSpan.FromMinutes(10));

    private void Report(AgentEventKind kind, string message, string? jobId = null, string? queue = null) =>
        _events.Report(new AgentEvent(DateTimeOffset.Now, kind, _secrets.Redact(message), jobId, queue));

    /// <summary>A job this agent holds.</summary>
    private sealed class TrackedJob(LaunchJob job)
    {
        public LaunchJob Job { get; } = job;

        public CancellationTokenSource Cancellation { get; } = new();

        public Task? Task { get; set; }

        public volatile bool Acknowledged;

        /// <summary>The last warning a runner reported for the job.</summary>
        public volatile string? LastWarning;

        public string? StopReason { get; private set; }

        public bool Lost { get; private set; }

        private volatile string? _leaveReason;

        /// <summary>Why the agent stopped, when it leaves its jobs (null otherwise).</summary>
        public string? LeaveReason => _leaveReason;

        /// <summary>The agent stops leaving its jobs running: this one is detached if it can be.</summary>
        public bool LeaveRunning => _leaveReason is not null;

        public void Stop(string reason)
        {
            StopReason ??= reason;
            TryCancel();
        }

        /// <summary>
        /// The agent stops and leaves its jobs: a job that can run without it is detached, one still starting goes back
        /// on its queue, and any other is stopped with <paramref name="reason"/>.
        /// </summary>
        public void Leave(string reason)
        {
            _leaveReason = reason;
            Stop($"The agent stopped while the job ran, because {reason}.");
        }

        public void Lose()
        {
            Lost = true;
            TryCancel();
        }

        private void TryCancel()
        {
            try
            {
                Cancellation.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The job already ended.
            }
        }
    }
}
