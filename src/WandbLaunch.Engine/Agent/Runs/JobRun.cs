using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Runners;

namespace WandbLaunch.Engine.Agent.Runs;

/// <summary>
/// One launch job in its agent, from the pop (or the re-attach) to its end: a state machine over
/// <see cref="JobRunState"/>. It moves Popped → Acked → [Building →] Launching → Running (or Attached → Running);
/// whatever happens on the way — the job ends on its target, fails at a stage, is stopped, preempted, left running
/// or taken over — is turned into one <see cref="JobEnd"/> in <see cref="Decide"/>, which the
/// <see cref="JobEndWriter"/> writes once, in <see cref="RunAsync"/>.
/// </summary>
internal sealed class JobRun
{
    private readonly AgentContext _agent;
    private IRunningJob? _running;
    private JobLog? _attachedLog;

    /// <summary>The log this run writes, so that reading its tail first writes the output still batched in memory.</summary>
    private JobLog? _log;
    private int _state;
    private volatile string? _leaveReason;
    private volatile string? _stopReason;
    private volatile bool _lost;

    /// <summary>The grace <see cref="Stop"/> was given, in ticks; -1 when none (stopped_run_timeout then).</summary>
    private long _stopGraceTicks = -1;

    /// <summary>A launch job the agent popped from a queue.</summary>
    public JobRun(AgentContext agent, LaunchJob job)
    {
        _agent = agent;
        Job = job;
        _state = (int)JobRunState.Popped;
    }

    /// <summary>A launch job the agent took over from another agent, with its re-attached target and the log it writes to.</summary>
    public JobRun(AgentContext agent, LaunchJob job, IRunningJob running, JobLog log)
    {
        _agent = agent;
        Job = job;
        _running = running;
        _attachedLog = log;
        _state = (int)JobRunState.Attached;
    }

    public LaunchJob Job { get; private set; }

    public JobRunState State => (JobRunState)Volatile.Read(ref _state);

    public CancellationTokenSource Cancellation { get; } = new();

    public Task? Task { get; set; }

    /// <summary>Acknowledged in the store (or re-attached), so that the heartbeat's list of held jobs speaks for it.</summary>
    public bool Acknowledged => State is not JobRunState.Popped;

    /// <summary>The last warning a runner or builder reported for the job, named if it then fails to start in time.</summary>
    public volatile string? LastWarning;

    /// <summary>Why the agent stopped, when it leaves its jobs (null otherwise).</summary>
    public string? LeaveReason => _leaveReason;

    /// <summary>The agent stops leaving its jobs running: this one is detached if it can be.</summary>
    private bool LeaveRunning => _leaveReason is not null;

    /// <summary>
    /// Stops the job (Stop-WandbLaunchJob, its run stopped on the server, the agent stopping); <paramref name="reason"/>
    /// becomes its outcome's message. A local job gets <paramref name="grace"/> between SIGTERM and SIGKILL: by default
    /// the agent's stopped_run_timeout (<see cref="AgentOptions.StoppedRunTimeout"/>).
    /// </summary>
    public void Stop(string reason, TimeSpan? grace = null)
    {
        if (Interlocked.CompareExchange(ref _stopReason, reason, null) is null && grace is { } g) Interlocked.Exchange(ref _stopGraceTicks, g.Ticks);
        TryCancel();
    }

    /// <summary>What a stop gives the job between its stop signal and the kill: what <see cref="Stop"/> was given, else stopped_run_timeout.</summary>
    private TimeSpan StopGrace => Interlocked.Read(ref _stopGraceTicks) is var ticks and >= 0 ? TimeSpan.FromTicks(ticks) : _agent.Options.StoppedRunTimeout;

    /// <summary>
    /// The agent stops and leaves its jobs: a job that can run without it is detached, one still starting goes back
    /// on its queue, and any other is stopped with <paramref name="reason"/>.
    /// </summary>
    public void Leave(string reason)
    {
        _leaveReason = reason;
        Stop($"The agent stopped while the job ran, because {reason}.", _agent.Options.ExitStopGrace);
    }

    /// <summary>
    /// Another agent holds the job now: this agent stops following it and writes nothing. A job that runs without its
    /// agent (a container, a pod) is detached, not cancelled, since the other agent has re-attached to it; any other is
    /// cancelled (the other agent could not re-attach it, and has made sure it no longer runs).
    /// </summary>
    public void Lose()
    {
        _lost = true;
        TryCancel();
    }

    /// <summary>States only move forward: a late "running" from a re-attached job's target never undoes its end.</summary>
    private void MoveTo(JobRunState next)
    {
        int previous;
        do
        {
            previous = Volatile.Read(ref _state);
            if (previous >= (int)next) return;
        }
        while (Interlocked.CompareExchange(ref _state, (int)next, previous) != previous);
        AgentContext.Debug(() => $"{Job.Id}: {(JobRunState)previous} → {next}");
    }

    /// <summary>Runs the launch job to its end and writes that end, once.</summary>
    public async Task RunAsync()
    {
        var job = Job;
        try
        {
            using var log = _attachedLog ?? new JobLog(_agent.LogPathOf(job), _agent.SecretsOf(job), _agent.Options.MaxLogBytes);
            _log = log;
            JobEnd end;
            try
            {
                end = await FollowAsync(log).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                end = Decide(e);
            }
            if (_lost) end = new JobEnd.Lost();
            MoveTo(JobRunState.Ending);
            await _agent.Ends.WriteAsync(Job, end, log).ConfigureAwait(false);
        }
        catch (JobLeaseLostException e)
        {
            _agent.Report(AgentEventKind.Warning, $"{job.Id}: {e.Message}", job.Id, job.Queue);
        }
        catch (Exception e)
        {
            _agent.Report(AgentEventKind.Error, $"{job.Id}: could not record the job's outcome: {e.Message}", job.Id, job.Queue);
        }
        finally
        {
            MoveTo(JobRunState.Ended);
            Cancellation.Dispose();
        }
    }

    /// <summary>The forward path: ack, build, launch, follow; returns how the job ended on its target (or that it was left running).</summary>
    private async Task<JobEnd> FollowAsync(JobLog log)
    {
        var job = Job;
        var running = _running;
        if (running is null)
        {
            var logPath = _agent.LogPathOf(job);
            job = Job = await _agent.Persist(() => _agent.Backend.AckAsync(job.Id, _agent.Id!, logPath, CancellationToken.None)).ConfigureAwait(false);
            MoveTo(JobRunState.Acked);
            log.Agent($"agent {_agent.Options.Name} ({_agent.Id}) took the job from queue {job.Queue} (attempt {job.Attempts}, run id {job.RunId})");
            _agent.Report(AgentEventKind.Job, $"{job.Id} [{job.Queue}] starting: {job.Source} (run {job.RunId}{(job.Attempts > 1 ? $", attempt {job.Attempts}" : "")})", job.Id, job.Queue);
            running = _running = await StartAsync(log).ConfigureAwait(false);
            if (LeaveRunning && Cancellation.IsCancellationRequested && running.CanDetach && !running.Started.IsCompleted)
            {
                // The agent stopped while the job waited on its target (a pending pod): it keeps its place there.
                await running.DetachAsync().ConfigureAwait(false);
                return new JobEnd.Release(running.Description, _leaveReason!);
            }
            await _agent.Persist(() => _agent.Backend.MarkRunningAsync(job.Id, _agent.Id!, running.Handle, CancellationToken.None)).ConfigureAwait(false);
            MoveTo(JobRunState.Running);
            AgentContext.Verbose($"{job.Id} running, handle {running.Handle}");
            _agent.Report(AgentEventKind.Job, $"{job.Id} [{job.Queue}] running ({running.Description})", job.Id, job.Queue);
        }
        else if (job.State == LaunchJobState.Running)
        {
            MoveTo(JobRunState.Running);
        }
        else
        {
            // Re-attached before it ran (its agent died or left it while it was starting): Running once its target says so.
            _ = MarkRunningWhenStartedAsync(running);
        }
        JobOutcome outcome;
        // Left or lost to another agent (which follows it now), a job that runs without its agent is only let go.
        using (Cancellation.Token.Register(() => _ = (LeaveRunning || _lost) && running.CanDetach ? running.DetachAsync() : running.CancelAsync(StopGrace)))
        using (var watching = CancellationTokenSource.CreateLinkedTokenSource(Cancellation.Token))
        {
            var watch = WatchRunStoppedAsync(watching.Token);
            try
            {
                outcome = await running.Completion.ConfigureAwait(false);
            }
            finally
            {
                watching.Cancel();
                await watch.ConfigureAwait(false);
            }
        }
        if (LeaveRunning && running.CanDetach) return new JobEnd.Release(running.Description, _leaveReason!);
        if (_stopReason is { } why && outcome.State == LaunchJobState.Stopped) outcome = JobOutcome.Stopped(why);
        var end = Settle(outcome);
        // A job stopped by the agent or a user is not checked: its stop, not its run, explains its end.
        return _stopReason is null && !_lost && end is JobEnd.Finish finish ? await CheckRunStartedAsync(finish).ConfigureAwait(false) : end;
    }

    /// <summary>W&amp;B's agent fails a job whose run never called wandb.init with these messages.</summary>
    public const string NoInitMessage = "The submitted job exited successfully but failed to call wandb.init";

    public const string NotStartedMessage = "The submitted run was not successfully started";

    /// <summary>
    /// The check W&amp;B's agent makes after a job ends on its own: its run exists and is not pending, asked again after
    /// each of <see cref="AgentOptions.RunCheckDelays"/>. A run that never started fails the job at stage run with
    /// W&amp;B's message and the end of the job's output as its error log; one that did reports its end itself.
    /// Backends that keep no runs answer nothing, and the outcome stands.
    /// </summary>
    private async Task<JobEnd> CheckRunStartedAsync(JobEnd.Finish finish)
    {
        var job = Job;
        var delays = _agent.Options.RunCheckDelays;
        string? logTail = null;
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                var started = await _agent.Backend.RunStartedAsync(job, Cancellation.Token).ConfigureAwait(false);
                if (started is null) return finish;
                if (started.Value)
                {
                    AgentContext.Verbose($"{job.Id}: its run {job.RunId} started");
                    return finish with { Outcome = finish.Outcome with { ReportedByRun = true } };
                }
                // Read now, as W&B's agent does on the first miss: a target may clean its logs up meanwhile.
                logTail ??= ReadLogTail(_agent.LogPathOf(job));
                if (attempt >= delays.Count) break;
                AgentContext.Debug(() => $"{job.Id}: its run {job.RunId} has not started; asking again in {delays[attempt].TotalSeconds:0.##} s");
                await System.Threading.Tasks.Task.Delay(delays[attempt], Cancellation.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (Cancellation.IsCancellationRequested)
        {
            return finish;
        }
        catch (LaunchException e)
        {
            _agent.Report(AgentEventKind.Warning, $"{job.Id}: could not check that its run {job.RunId} started: {e.Message}", job.Id, job.Queue);
            return finish;
        }
        var message = finish.Outcome.State == LaunchJobState.Finished ? NoInitMessage : NotStartedMessage;
        return new JobEnd.Finish(JobOutcome.Failed(FailureStage.Run, message, finish.Outcome.ExitCode) with { ErrorLog = logTail });
    }

    /// <summary>
    /// Every <see cref="AgentOptions.RunStatusInterval"/>, whether the job's run was stopped on the server; from the first
    /// time it was, the job gets <see cref="AgentOptions.StoppedRunTimeout"/> to end by itself before the agent stops it.
    /// </summary>
    private async Task WatchRunStoppedAsync(CancellationToken cancellationToken)
    {
        var job = Job;
        DateTime? seen = null;
        try
        {
            while (true)
            {
                await System.Threading.Tasks.Task.Delay(_agent.Options.RunStatusInterval, cancellationToken).ConfigureAwait(false);
                bool? stopped;
                try
                {
                    stopped = await _agent.Backend.RunStoppedAsync(job, cancellationToken).ConfigureAwait(false);
                }
                catch (LaunchException e)
                {
                    AgentContext.Verbose($"{job.Id}: could not read whether its run was stopped: {e.Message}");
                    continue;
                }
                if (stopped is null) return;
                if (stopped is not true) continue;
                if (seen is null)
                {
                    seen = DateTime.UtcNow;
                    AgentContext.Verbose($"{job.Id}: its run {job.RunId} was stopped on the server; the job gets {_agent.Options.StoppedRunTimeout.TotalSeconds:0.##} s to end");
                }
                else if (DateTime.UtcNow - seen > _agent.Options.StoppedRunTimeout)
                {
                    Stop($"Its run {job.RunId} was stopped on the server, and the job did not end within {_agent.Options.StoppedRunTimeout.TotalSeconds:0.##} s (stopped_run_timeout).");
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>The end of a job's log (already redacted), for a W&amp;B item's error log.</summary>
    private string? ReadLogTail(string path, int maxBytes = 64 << 10)
    {
        try
        {
            _log?.Flush();
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var length = (int)Math.Min(stream.Length, maxBytes);
            stream.Seek(-length, SeekOrigin.End);
            var buffer = new byte[length];
            stream.ReadExactly(buffer);
            return System.Text.Encoding.UTF8.GetString(buffer);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The transitions out of the forward path: what each way of leaving it means for the job.</summary>
    private JobEnd Decide(Exception e) => e switch
    {
        // Stopped before the job ran on its target: nothing of it runs any more, so it goes back on its queue.
        OperationCanceledException when LeaveRunning && _running is null && Acknowledged => new JobEnd.Requeue(
            $"The agent stopped before the job started, because {_leaveReason}; it was put back on its queue.",
            "put back on its queue: the agent stopped before it started"),
        JobFailedException failed => new JobEnd.Finish(JobOutcome.Failed(failed.Stage, failed.Message) with { ErrorLog = ErrorLogOf(failed) }),
        OperationCanceledException when Cancellation.IsCancellationRequested => new JobEnd.Finish(JobOutcome.Stopped(_stopReason ?? "Stopped.")),
        JobLeaseLostException => new JobEnd.Lost(),
        LaunchException launch => new JobEnd.Finish(JobOutcome.Failed(FailureStage.Agent, launch.Message) with { ErrorLog = ErrorLogOf(launch) }),
        _ => new JobEnd.Finish(JobOutcome.Failed(FailureStage.Agent, $"The agent failed while running the job: {e.GetType().Name}: {e.Message}") with { ErrorLog = ErrorLogOf(e) }),
    };

    /// <summary>What W&amp;B's agent uploads as error.log for an exception (its traceback): the exception, then the end of the job's log.</summary>
    private string ErrorLogOf(Exception e) => $"{e.GetType().Name}: {e.Message}\n" + (ReadLogTail(_agent.LogPathOf(Job)) is { Length: > 0 } tail ? $"\n--- end of the job's log ---\n{tail}" : "");

    /// <summary>A preempted job is re-queued with the same run id after each of its first <see cref="LaunchAgent.MaxPreemptions"/> attempts, then failed.</summary>
    private JobEnd Settle(JobOutcome outcome)
    {
        if (outcome.State != LaunchJobState.Preempted) return new JobEnd.Finish(outcome);
        var job = Job;
        var message = JobEndWriter.Printed(_agent.SecretsOf(job).RedactOrNull(outcome.Message));
        if (job.Attempts <= LaunchAgent.MaxPreemptions)
        {
            return new JobEnd.Requeue(
                $"Preempted on attempt {job.Attempts}: {message} Re-queued with the same run id ({job.RunId}), to resume with WANDB_RESUME=allow.",
                $"preempted on attempt {job.Attempts}; re-queued", AgentEventKind.Warning);
        }
        return new JobEnd.Finish(JobOutcome.Failed(FailureStage.Run,
            $"The job was preempted on each of its {job.Attempts} attempts; preempted jobs are re-queued at most {LaunchAgent.MaxPreemptions} times. Last time: {message}"));
    }

    private async Task<IRunningJob> StartAsync(JobLog log)
    {
        var job = Job;
        var runner = _agent.Runners.For(job.Resource);
        using var start = CancellationTokenSource.CreateLinkedTokenSource(Cancellation.Token);
        IRunningJob? running = null;
        try
        {
            WandbJobs.ResolvedJob? resolved = null;
            if (job.GetSpec() is { JobArtifactName: not null } original)
            {
                MoveTo(JobRunState.Building);
                resolved = await ResolveAsync(job, original, runner.RequiresImage, log).ConfigureAwait(false);
                // Built and launched from the lowered spec; the stored launch job keeps the spec as submitted.
                job = job with { LaunchSpec = resolved.Spec };
            }
            string? image = null;
            MountedCode? code = null;
            var resourceArgs = runner.RequiresImage ? JobContextFactory.Create(job, _agent.Options, log).ResourceArgs : null;
            if (resourceArgs is not null && resolved is not null &&
                Builders.JobBaseImage.For(resolved, _agent.Builder!.Type, resourceArgs, job.GetSpec()) is var (baseImage, chosenForNoop))
            {
                image = baseImage;
                code = JobContextFactory.MountedCodeOf(resolved, chosenForNoop, _agent.Backend);
                log.Agent(chosenForNoop
                    ? $"No builder configured. Using base image: {baseImage} (the job's code mounted at {Builders.JobBaseImage.CodeMountDirectory})"
                    : $"the job runs in its base image {baseImage}, its code mounted at {Builders.JobBaseImage.CodeMountDirectory}: no build");
                _agent.Report(AgentEventKind.Job, $"{job.Id} [{job.Queue}] image {image} (base image, code mounted)", job.Id, job.Queue);
            }
            else if (resourceArgs is not null)
            {
                MoveTo(JobRunState.Building);
                var spec = job.GetSpec();
                var builder = _agent.Builder!;
                AgentContext.Verbose($"{job.Id}: building with {builder.Type}");
                var buildJob = job;
                image = await builder.BuildAsync(new Builders.BuildRequest
                {
                    Job = job,
                    Spec = spec,
                    WandbJob = resolved,
                    ResourceArgs = resourceArgs,
                    Settings = _agent.Options.Config.Builder,
                    WorkDirectory = _agent.Options.WorkDirectory,
                    Log = log,
                    Warn = message => Warn(log, message, FailureStage.Build),
                    Progress = (activity, status, percent) => _agent.Report(new AgentEvent(DateTimeOffset.Now, AgentEventKind.Progress, status, buildJob.Id, buildJob.Queue)
                    {
                        Activity = activity,
                        Percent = percent,
                    }),
                }, Cancellation.Token).ConfigureAwait(false);
                AgentContext.Verbose($"{job.Id}: built {image}");
                _agent.Report(AgentEventKind.Job, $"{job.Id} [{job.Queue}] image {image}", job.Id, job.Queue);
            }
            // As in W&B's agent, the start timeout counts from the launch: fetching code and building are not in it.
            if (_agent.Options.StartTimeout is { } timeout) start.CancelAfter(timeout);
            MoveTo(JobRunState.Launching);
            var launching = job;
            var context = JobContextFactory.Create(launching, _agent.Options, log, image,
                () => _agent.Backend.MarkLaunchingAsync(launching.Id, _agent.Id!, CancellationToken.None), message => Warn(log, message), code);
            AgentContext.Verbose($"{job.Id}: launching on {runner.Resource}");
            running = await runner.StartAsync(context, start.Token).ConfigureAwait(false);
            await running.Started.WaitAsync(start.Token).ConfigureAwait(false);
            return running;
        }
        catch (OperationCanceledException) when (running is not null && LeaveRunning && running.CanDetach && Cancellation.IsCancellationRequested)
        {
            // Stopped by an agent that leaves its jobs: the caller detaches it where it waits.
            return running;
        }
        catch (OperationCanceledException)
        {
            // Timed out or stopped while starting: what was started must not be left running unwatched.
            if (running is not null)
            {
                await running.CancelAsync(StopGrace).ConfigureAwait(false);
                await System.Threading.Tasks.Task.WhenAny(running.Completion, System.Threading.Tasks.Task.Delay(TimeSpan.FromSeconds(30))).ConfigureAwait(false);
            }
            if (Cancellation.IsCancellationRequested) throw;
            throw new JobFailedException(FailureStage.Agent,
                $"The job did not start within {_agent.Options.StartTimeout!.Value.TotalSeconds:0} s ({AgentOptions.StartTimeoutVariable}); it was cancelled." +
                (LastWarning is { } warning ? $" It was waiting because: {warning}" : ""));
        }
    }

    /// <summary>
    /// Resolves the spec's W&amp;B job (see <see cref="WandbJobs.JobResolver"/>) from the backend's artifacts, with the
    /// agent's caches (files and repositories) and its opt-in to local git remotes; for a runner that runs an image,
    /// with W&amp;B's entry point inside an image built from <c>Dockerfile.wandb</c> beside it.
    /// </summary>
    private async Task<WandbJobs.ResolvedJob> ResolveAsync(LaunchJob job, Specs.LaunchSpec original, bool inImage, JobLog log)
    {
        var environment = _agent.Options.Environment;
        var files = Artifacts.ArtifactFiles.FromEnvironment(environment);
        var repositories = new Code.GitRepositoryCache(files.CacheDirectory, _agent.Options.GitCacheMaxBytes);
        var resolver = new WandbJobs.JobResolver(_agent.Backend.Artifacts, files, Code.GitCheckout.AllowsLocal(environment), repositories);
        AgentContext.Verbose($"{job.Id}: resolving job {original.JobArtifactName}");
        var resolved = await resolver.ResolveAsync(original, _agent.Options.WorkDirectory, job.RunId, job.Id, log, Cancellation.Token).ConfigureAwait(false);
        _agent.Report(AgentEventKind.Job, $"{job.Id} [{job.Queue}] job {resolved.Requested} is {resolved.Version} ({WandbJobs.JobDefinition.SourceTypeName(resolved.Definition.SourceType)})", job.Id, job.Queue);
        if (inImage && Builders.BuildPlanner.EntryPointInImage(resolved, original) is { } entryPoint)
        {
            var spec = resolved.Spec.Clone();
            spec.Overrides.EntryPoint = entryPoint;
            resolved = resolved with { Spec = spec };
        }
        return resolved;
    }

    private async Task MarkRunningWhenStartedAsync(IRunningJob running)
    {
        await running.Started.ConfigureAwait(false);
        // Ended, stopped or left again before it ran: its target's verdict, not "running", is what counts.
        if (running.Completion.IsCompleted || _stopReason is not null || _lost) return;
        var job = Job;
        try
        {
            await _agent.Persist(() => _agent.Backend.MarkRunningAsync(job.Id, _agent.Id!, running.Handle, CancellationToken.None)).ConfigureAwait(false);
            MoveTo(JobRunState.Running);
            _agent.Report(AgentEventKind.Job, $"{job.Id} [{job.Queue}] running ({running.Description})", job.Id, job.Queue);
        }
        catch (LaunchException)
        {
            // It ended or was taken over meanwhile; its end is recorded where it is followed.
        }
    }

    /// <summary>A builder's or runner's warning: recorded on the job with its stage, written to its log, reported, and kept for a start timeout's message.</summary>
    private void Warn(JobLog log, string message, string stage = FailureStage.Run)
    {
        var job = Job;
        message = JobEndWriter.Printed(_agent.SecretsOf(job).Redact(message))!;
        LastWarning = message;
        try
        {
            log.Agent("warning: " + message);
        }
        catch (ObjectDisposedException)
        {
        }
        _agent.Report(AgentEventKind.Warning, $"{job.Id} [{job.Queue}] {message}", job.Id, job.Queue);
        _ = RecordWarningAsync();

        async Task RecordWarningAsync()
        {
            try
            {
                await _agent.Backend.WarnAsync(job.Id, stage, message, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                _agent.Report(AgentEventKind.Error, $"{job.Id}: could not record a warning: {e.Message}", job.Id, job.Queue);
            }
        }
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
