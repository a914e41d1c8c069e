using WandbLaunch.Engine.Cloud.Aws;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Runners.SageMaker;

/// <summary>
/// A SageMaker training job followed with DescribeTrainingJob, as W&amp;B's SagemakerSubmittedRun: InProgress →
/// running, Completed → finished, Stopped → finished (stopped outside the agent) or stopped (by the agent), Failed →
/// failed with SageMaker's FailureReason, Stopping → still running until it ends. Polls back off per job from
/// <see cref="SageMakerPolling.First"/> to <see cref="SageMakerPolling.Cap"/> while nothing changes, with jitter so
/// that many jobs do not poll together. Stopping calls StopTrainingJob and polls until the job has ended. The job
/// runs on without the agent, so a later agent can re-attach through the handle.
/// </summary>
internal sealed class RunningTrainingJob : IRunningJob
{
    private readonly AwsClient _client;
    private readonly string _name;
    private readonly JobLog _log;
    private readonly Action<string> _warn;
    private readonly SageMakerPolling _polling;
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0);
    private volatile bool _cancelRequested;
    private volatile bool _detached;

    public RunningTrainingJob(AwsClient client, string region, string name, JobLog log, Action<string> warn, SageMakerPolling polling)
    {
        _client = client;
        _name = name;
        _log = log;
        _warn = warn;
        _polling = polling;
        Handle = $"{region}/{name}";
        Description = $"SageMaker training job {name} ({region})";
        Completion = Task.Run(MonitorAsync);
        Started = Task.WhenAny(_started.Task, Completion);
    }

    public string Handle { get; }

    public string Description { get; }

    public Task Started { get; }

    public Task<JobOutcome> Completion { get; }

    public bool CanDetach => true;

    private async Task<JobOutcome> MonitorAsync()
    {
        var delay = _polling.First;
        string? last = null;
        string? lastSecondary = null;
        var stopSent = false;
        var faults = 0;
        try
        {
            while (true)
            {
                if (_detached) return JobOutcome.Stopped("The agent let the training job run on without it.");
                if (_cancelRequested && !stopSent)
                {
                    stopSent = true;
                    await StopAsync().ConfigureAwait(false);
                }
                TrainingJobStatus? status;
                try
                {
                    status = await SageMakerTrainingJobs.DescribeAsync(_client, _name, _stop.Token).ConfigureAwait(false);
                    if (faults > 0) _log.Agent("SageMaker answers again");
                    faults = 0;
                }
                catch (Errors.LaunchException e)
                {
                    // The training job runs on whatever the agent's requests meet: report it, keep asking at the slowest pace.
                    if (faults++ == 0) _warn($"DescribeTrainingJob {_name} failed: {e.Message}");
                    else if (faults % 20 == 0) _log.Agent($"DescribeTrainingJob {_name} still fails: {e.Message}");
                    await SleepAsync(_polling.Cap).ConfigureAwait(false);
                    continue;
                }
                if (status is null)
                {
                    return JobOutcome.Failed(FailureStage.Run, $"SageMaker no longer knows training job {_name}.");
                }
                if (status.Status != last || status.SecondaryStatus != lastSecondary)
                {
                    _log.Agent($"Training job {_name} status: {status.Status}{(status.SecondaryStatus is { } s ? $" ({s})" : "")}");
                    if (status.Status != last) delay = _polling.First;
                    (last, lastSecondary) = (status.Status, status.SecondaryStatus);
                }
                switch (status.Status)
                {
                    case "InProgress" or "Stopping":
                        _started.TrySetResult();
                        break;
                    case "Completed":
                        return JobOutcome.Finished();
                    case "Stopped" when stopSent:
                        return JobOutcome.Stopped($"Training job {_name} stopped.");
                    case "Stopped":
                        // W&B's runner counts a job stopped outside the agent (console, CLI) as finished.
                        return new JobOutcome(LaunchJobState.Finished, null, $"Training job {_name} was stopped on SageMaker, outside the agent.");
                    case "Failed":
                        return JobOutcome.Failed(FailureStage.Run, status.FailureReason is { Length: > 0 } reason ? reason : $"Training job {_name} failed without a FailureReason.");
                }
                var wait = status.Status == "Stopping" || _cancelRequested ? _polling.WhileStopping : delay;
                await SleepAsync(Jitter(wait)).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(_polling.Cap.Ticks, delay.Ticks * 2));
            }
        }
        catch (OperationCanceledException) when (_detached)
        {
            return JobOutcome.Stopped("The agent let the training job run on without it.");
        }
        finally
        {
            _started.TrySetResult();
        }
    }

    private async Task StopAsync()
    {
        _log.Agent($"stopping training job {_name} (StopTrainingJob)");
        try
        {
            await SageMakerTrainingJobs.StopAsync(_client, _name, _stop.Token).ConfigureAwait(false);
        }
        catch (AwsException e) when (e.ErrorId == "AwsValidationFailed")
        {
            // Already ending or ended ("The request was rejected because the training job is in status Stopped."): the polls see how.
            _log.Agent($"StopTrainingJob {_name}: {e.AwsMessage}");
        }
        catch (Errors.LaunchException e)
        {
            _warn($"StopTrainingJob {_name} failed: {e.Message}");
        }
    }

    /// <summary>Up to 10% less than <paramref name="wait"/>, so that jobs started together spread out.</summary>
    private static TimeSpan Jitter(TimeSpan wait) => wait - TimeSpan.FromTicks((long)(wait.Ticks * 0.1 * Random.Shared.NextDouble()));

    /// <summary>Waits, or less when a stop is asked for.</summary>
    private async Task SleepAsync(TimeSpan wait)
    {
        try
        {
            await _wake.WaitAsync(wait, _stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!_detached)
        {
        }
    }

    public Task CancelAsync()
    {
        _cancelRequested = true;
        _wake.Release();
        return Task.CompletedTask;
    }

    public async Task DetachAsync()
    {
        _detached = true;
        await _stop.CancelAsync().ConfigureAwait(false);
        await Completion.ConfigureAwait(false);
    }
}
