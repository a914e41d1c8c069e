using WandbLaunch.Engine.Cloud.Aws;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Runners.SageMaker;

/// <summary>
/// A SageMaker training job followed with DescribeTrainingJob, as W&amp;B's SagemakerSubmittedRun: InProgress →
/// running, Completed → finished, Stopped → finished (stopped outside the agent) or stopped (by the agent), Failed →
/// failed with SageMaker's FailureReason, Stopping → still running until it ends. Polls back off per job from
/// <see cref="SageMakerPolling.First"/> to <see cref="SageMakerPolling.Cap"/> while nothing changes, with jitter so
/// that many jobs do not poll together. At each poll, and once more when it ended, the job's output is copied from
/// CloudWatch Logs into the job log (<see cref="TrainingJobOutput"/>); a failure names its last lines. Stopping calls StopTrainingJob and polls until the job has ended. The job
/// runs on without the agent, so a later agent can re-attach through the handle.
/// </summary>
internal sealed class RunningTrainingJob : PolledJob
{
    private readonly AwsClient _client;
    private readonly string _name;
    private readonly SageMakerPolling _polling;
    private readonly TrainingJobOutput _output;

    // outputStart: where a re-attached job's output is read from (TrainingJobOutput.ReattachStart); null for the head.
    public RunningTrainingJob(AwsClient client, string region, string name, JobLog log, Action<string> warn, SageMakerPolling polling, long? outputStart = null)
        : base($"{region}/{name}", $"SageMaker training job {name} ({region})", log, warn)
    {
        _client = client;
        _name = name;
        _polling = polling;
        _output = new TrainingJobOutput(client, name, log, warn, outputStart, polling.First, polling.StreamListingCap);
        Begin();
    }

    protected override string DetachedMessage => "The agent let the training job run on without it.";

    protected override async Task<JobOutcome> FollowAsync()
    {
        var delay = _polling.First;
        string? last = null;
        string? lastSecondary = null;
        var stopSent = false;
        var faults = 0;
        while (true)
        {
            if (CancelRequested && !stopSent)
            {
                stopSent = true;
                await StopAsync().ConfigureAwait(false);
            }
            TrainingJobStatus? status;
            try
            {
                status = await SageMakerTrainingJobs.DescribeAsync(_client, _name, Stopping).ConfigureAwait(false);
                if (faults > 0) Log.Agent("SageMaker answers again");
                faults = 0;
            }
            catch (Errors.LaunchException e)
            {
                // The training job runs on whatever the agent's requests meet: report it, keep asking at the slowest pace.
                if (faults++ == 0) Warn($"DescribeTrainingJob {_name} failed: {e.Message}");
                else if (faults % 20 == 0) Log.Agent($"DescribeTrainingJob {_name} still fails: {e.Message}");
                await SleepAsync(_polling.Cap).ConfigureAwait(false);
                continue;
            }
            if (status is null)
            {
                return JobOutcome.Failed(FailureStage.Run, $"SageMaker no longer knows training job {_name}.");
            }
            if (status.Status != last || status.SecondaryStatus != lastSecondary)
            {
                Log.Agent($"Training job {_name} status: {status.Status}{(status.SecondaryStatus is { } s ? $" ({s})" : "")}");
                if (status.Status != last) delay = _polling.First;
                (last, lastSecondary) = (status.Status, status.SecondaryStatus);
            }
            var ended = status.Status is not ("InProgress" or "Stopping");
            if (!ended) MarkStarted();
            // The job's output is read at each poll; once more after it ended, for what it wrote last.
            await _output.ReadAsync(status.InstanceCount, ended, Stopping).ConfigureAwait(false);
            switch (status.Status)
            {
                case "InProgress" or "Stopping":
                    break;
                case "Completed":
                    return JobOutcome.Finished();
                case "Stopped" when stopSent:
                    return JobOutcome.Stopped($"Training job {_name} stopped.");
                case "Stopped":
                    // W&B's runner counts a job stopped outside the agent (console, CLI) as finished.
                    return new JobOutcome(LaunchJobState.Finished, null, $"Training job {_name} was stopped on SageMaker, outside the agent.");
                case "Failed":
                    return JobOutcome.Failed(FailureStage.Run,
                        Log.WithLastOutput(status.FailureReason is { Length: > 0 } reason ? reason : $"Training job {_name} failed without a FailureReason."));
            }
            var wait = status.Status == "Stopping" || CancelRequested ? _polling.WhileStopping : delay;
            await SleepAsync(_polling.IsFixed ? wait : Jitter(wait)).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(_polling.Cap.Ticks, delay.Ticks * 2));
        }
    }

    private async Task StopAsync()
    {
        Log.Agent($"stopping training job {_name} (StopTrainingJob)");
        try
        {
            await SageMakerTrainingJobs.StopAsync(_client, _name, Stopping).ConfigureAwait(false);
        }
        catch (AwsException e) when (e.ErrorId == "AwsValidationFailed")
        {
            // Already ending or ended ("The request was rejected because the training job is in status Stopped."): the polls see how.
            Log.Agent($"StopTrainingJob {_name}: {e.AwsMessage}");
        }
        catch (Errors.LaunchException e)
        {
            Warn($"StopTrainingJob {_name} failed: {e.Message}");
        }
    }
}
