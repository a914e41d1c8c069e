using System.Collections.Concurrent;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners;

namespace WandbLaunch.TestSupport;

/// <summary>What a <see cref="FakeRunner"/> does with one launch job.</summary>
public sealed record FakeRun
{
    /// <summary>How long the target takes to report the job running.</summary>
    public TimeSpan StartAfter { get; init; }

    /// <summary>How long the job runs once started; null runs until cancelled.</summary>
    public TimeSpan? EndAfter { get; init; } = TimeSpan.Zero;

    /// <summary>How the job ends after <see cref="EndAfter"/>.</summary>
    public JobOutcome EndWith { get; init; } = JobOutcome.Finished();

    /// <summary>When set, starting fails with a <see cref="JobFailedException"/> at this stage.</summary>
    public string? FailAtStart { get; init; }

    /// <summary>Whether the job keeps running on its target without its agent (and can be re-attached through its handle).</summary>
    public bool CanDetach { get; init; } = true;

    public static FakeRun Succeed(int afterMs = 0) => new() { EndAfter = TimeSpan.FromMilliseconds(afterMs) };

    public static FakeRun Fail(int afterMs = 0, string message = "The job exited with code 1.") =>
        new() { EndAfter = TimeSpan.FromMilliseconds(afterMs), EndWith = JobOutcome.Failed(FailureStage.Run, message, 1) };

    public static FakeRun Preempt(int afterMs = 0) =>
        new() { EndAfter = TimeSpan.FromMilliseconds(afterMs), EndWith = JobOutcome.Preempted("The node was reclaimed.") };

    public static FakeRun Hang() => new() { EndAfter = null };

    public static FakeRun FailStart(string stage, string message = "The target refused the job.") => new() { FailAtStart = stage, EndWith = JobOutcome.Failed(stage, message) };
}

/// <summary>What a <see cref="FakeRunner"/> was asked to start.</summary>
public sealed record FakeStart(string JobId, string RunId, int Attempts, bool Resumed, string? Name, IReadOnlyDictionary<string, string> Environment);

/// <summary>
/// A runner without processes or containers, for testing the agent's logic: each launch job does what the
/// <see cref="FakeRun"/> scripted for its spec's <c>name</c> (or <see cref="Default"/>): succeed, fail, hang or be
/// preempted after some time, or fail to start. Its "target" outlives the agent that started it, so a later agent
/// re-attaches to it through its handle. It records what it was asked and how many jobs ran at once.
/// </summary>
public sealed class FakeRunner(string resource = LaunchResource.LocalProcess) : ILaunchRunner
{
    private readonly ConcurrentDictionary<string, FakeRun[]> _scripts = new();
    private readonly ConcurrentDictionary<string, FakeTarget> _targets = new();
    private int _running;
    private int _peak;

    public string Resource { get; } = resource;

    public bool RequiresImage => false;

    /// <summary>What a launch job whose name has no script does.</summary>
    public FakeRun Default { get; set; } = FakeRun.Succeed();

    /// <summary>Every start, in order.</summary>
    public ConcurrentQueue<FakeStart> Starts { get; } = new();

    /// <summary>Every handle an agent tried to re-attach, in order.</summary>
    public ConcurrentQueue<string?> Attaches { get; } = new();

    /// <summary>Ids of the launch jobs whose target was asked to cancel.</summary>
    public ConcurrentQueue<string> Cancels { get; } = new();

    /// <summary>Launch jobs running on the fake target now.</summary>
    public int Running => Volatile.Read(ref _running);

    /// <summary>The most launch jobs that ran on the fake target at once.</summary>
    public int Peak => Volatile.Read(ref _peak);

    /// <summary>
    /// The script for launch jobs whose spec's <c>name</c> is <paramref name="name"/>: the first run for attempt 1, the
    /// second for attempt 2 (a re-queued job), and the last for every later attempt.
    /// </summary>
    public void Script(string name, params FakeRun[] runs) => _scripts[name] = runs;

    public RenderedRequest Render(JobContext context) =>
        new() { Resource = Resource, Summary = $"fake {context.Job.Name}", Text = $"fake run of {context.Job.Id}" };

    public async Task<IRunningJob> StartAsync(JobContext context, CancellationToken cancellationToken)
    {
        var job = context.Job;
        Starts.Enqueue(new FakeStart(job.Id, job.RunId, job.Attempts, job.Resumed, job.Name, context.Environment));
        // As careless engine code might: the agent's diagnostics must carry this, and redact the job's API key from it.
        EngineLog.Verbose("fake-runner", () => $"starting {job.Id} with {string.Join(" ", context.Environment.Select(v => v.Key + "=" + v.Value))}");
        var run = job.Name is { } name && _scripts.TryGetValue(name, out var scripted) ? scripted[Math.Clamp(job.Attempts - 1, 0, scripted.Length - 1)] : Default;
        if (run.FailAtStart is { } stage) throw new JobFailedException(stage, run.EndWith.Message ?? "The target refused the job.");
        await context.Launching().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return new FakeRunningJob(Launch(job.Id, run), run.CanDetach);
    }

    /// <summary>A job running on the fake target that no agent follows (its agent died): a later agent finds it by <see cref="FakeRunningJob.Handle"/>.</summary>
    public string Orphan(string jobId, FakeRun run) => Launch(jobId, run).Handle;

    public Task<IRunningJob?> AttachAsync(LaunchJob job, JobLog log, CancellationToken cancellationToken)
    {
        Attaches.Enqueue(job.Handle);
        return Task.FromResult<IRunningJob?>(job.Handle is { } handle && _targets.TryGetValue(handle, out var target) && !target.Ended.IsCompleted
            ? new FakeRunningJob(target, canDetach: true)
            : null);
    }

    private FakeTarget Launch(string jobId, FakeRun run)
    {
        var running = Interlocked.Increment(ref _running);
        for (var peak = Peak; running > peak && Interlocked.CompareExchange(ref _peak, running, peak) != peak; peak = Peak)
        {
        }
        var target = new FakeTarget(jobId, run, this);
        _targets[target.Handle] = target;
        return target;
    }

    /// <summary>The job on its fake target: starts, runs and ends on timers, whoever follows it.</summary>
    private sealed class FakeTarget
    {
        private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource<JobOutcome> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly FakeRunner _runner;

        public FakeTarget(string jobId, FakeRun run, FakeRunner runner)
        {
            JobId = jobId;
            _runner = runner;
            _ = RunAsync(run);
        }

        public string JobId { get; }

        public string Handle { get; } = "fake:" + Guid.NewGuid().ToString("N");

        public Task Started => _started.Task;

        public Task<JobOutcome> Ended => _ended.Task;

        public void Cancel()
        {
            _runner.Cancels.Enqueue(JobId);
            _started.TrySetResult();
            End(JobOutcome.Stopped("Cancelled on the fake target."));
        }

        /// <summary>Counted out before anyone following the job hears of its end, so that <see cref="Peak"/> never lags.</summary>
        private void End(JobOutcome outcome)
        {
            if (Interlocked.Exchange(ref _ending, 1) != 0) return;
            Interlocked.Decrement(ref _runner._running);
            _ended.SetResult(outcome);
        }

        private int _ending;

        private async Task RunAsync(FakeRun run)
        {
            if (run.StartAfter > TimeSpan.Zero) await Task.WhenAny(Task.Delay(run.StartAfter), Ended).ConfigureAwait(false);
            _started.TrySetResult();
            if (run.EndAfter is not { } after) return;
            if (after > TimeSpan.Zero) await Task.WhenAny(Task.Delay(after), Ended).ConfigureAwait(false);
            End(run.EndWith);
        }
    }

    /// <summary>An agent's view of a fake target: ends with the target, or when the agent detaches.</summary>
    private sealed class FakeRunningJob(FakeTarget target, bool canDetach) : IRunningJob
    {
        private readonly TaskCompletionSource<JobOutcome> _detached = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Handle => target.Handle;

        public string Description => "fake " + target.JobId;

        public Task Started => target.Started;

        public Task<JobOutcome> Completion => Task.WhenAny(target.Ended, _detached.Task).Unwrap();

        public Task CancelAsync(TimeSpan grace)
        {
            target.Cancel();
            return Task.CompletedTask;
        }

        public bool CanDetach => canDetach;

        public Task DetachAsync()
        {
            _detached.TrySetResult(JobOutcome.Stopped("The agent stopped following the job."));
            return Task.CompletedTask;
        }
    }
}
