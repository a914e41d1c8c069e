using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Runners;

/// <summary>
/// A job on a cloud service that is followed by reading its state now and then (SageMaker, Vertex AI): what every such
/// job shares — the started signal, waits that a stop request cuts short, detaching (the job runs on without the
/// agent, so a later agent can re-attach through <see cref="Handle"/>), and notes to the job's log. A subclass reads
/// its service's state in <see cref="FollowAsync"/> and calls <see cref="Begin"/> at the end of its constructor.
/// </summary>
internal abstract class PolledJob : IRunningJob
{
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0);
    private volatile bool _cancelRequested;
    private volatile bool _detached;

    protected PolledJob(string handle, string description, JobLog log, Action<string> warn)
    {
        Handle = handle;
        Description = description;
        Log = log;
        Warn = warn;
    }

    public string Handle { get; }

    public string Description { get; }

    public Task Started { get; private set; } = Task.CompletedTask;

    public Task<JobOutcome> Completion { get; private set; } = Task.FromResult(JobOutcome.Finished());

    public bool CanDetach => true;

    protected JobLog Log { get; }

    protected Action<string> Warn { get; }

    /// <summary>Whether a stop was asked for (<see cref="CancelAsync"/>).</summary>
    protected bool CancelRequested => _cancelRequested;

    /// <summary>Cancelled when the agent detaches: requests in flight should end.</summary>
    protected CancellationToken Stopping => _stop.Token;

    /// <summary>What the job's completion says when the agent stopped following it.</summary>
    protected abstract string DetachedMessage { get; }

    /// <summary>Follows the job until it ends; <see cref="MarkStarted"/> once the service runs it.</summary>
    protected abstract Task<JobOutcome> FollowAsync();

    /// <summary>Starts following; the last statement of a subclass's constructor.</summary>
    protected void Begin()
    {
        Completion = Task.Run(RunAsync);
        Started = Task.WhenAny(_started.Task, Completion);
    }

    protected void MarkStarted() => _started.TrySetResult();

    private async Task<JobOutcome> RunAsync()
    {
        try
        {
            return _detached ? JobOutcome.Stopped(DetachedMessage) : await FollowAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_detached)
        {
            return JobOutcome.Stopped(DetachedMessage);
        }
        catch (Exception e)
        {
            Note($"following {Handle} failed: {e.GetType().Name}: {e.Message}");
            return JobOutcome.Failed(FailureStage.Agent, $"The agent failed while following {Handle}: {e.Message}");
        }
        finally
        {
            _started.TrySetResult();
        }
    }

    /// <summary>Waits <paramref name="wait"/>, less when a stop is asked for; throws when the agent detaches.</summary>
    protected async Task SleepAsync(TimeSpan wait)
    {
        await _wake.WaitAsync(wait, _stop.Token).ConfigureAwait(false);
        if (_detached) throw new OperationCanceledException(_stop.Token);
    }

    /// <summary>Up to 10 % less than <paramref name="wait"/>, so that jobs started together spread out.</summary>
    protected static TimeSpan Jitter(TimeSpan wait) => wait - TimeSpan.FromTicks((long)(wait.Ticks * 0.1 * Random.Shared.NextDouble()));

    /// <summary>Asks for the stop: <see cref="FollowAsync"/> sees <see cref="CancelRequested"/> at once (and asks the service, unless an override already did).</summary>
    public virtual Task CancelAsync(TimeSpan grace)
    {
        MarkCancelRequested();
        Wake();
        return Task.CompletedTask;
    }

    protected void MarkCancelRequested() => _cancelRequested = true;

    /// <summary>Ends the current wait of <see cref="FollowAsync"/> now.</summary>
    protected void Wake() => _wake.Release();

    public async Task DetachAsync()
    {
        _detached = true;
        Note($"stopped following {Handle}; it keeps running");
        await _stop.CancelAsync().ConfigureAwait(false);
        await Completion.ConfigureAwait(false);
    }

    /// <summary>A line in the job's log, also after the log was closed (a detached job's last words).</summary>
    protected void Note(string line)
    {
        try
        {
            Log.Agent(line);
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
