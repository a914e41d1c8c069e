using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Cloud.Aws;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Identifiers;

namespace WandbLaunch.Engine.Runners.SageMaker;

/// <summary>How a SageMaker runner paces its DescribeTrainingJob polls and retries.</summary>
public sealed record SageMakerPolling(TimeSpan First, TimeSpan Cap, TimeSpan WhileStopping, AwsRetryPolicy Retry)
{
    /// <summary>
    /// 5 s after the start, doubling while nothing changes up to 30 s (one request per job per 30 s at steady state,
    /// so an agent following 200 jobs sends about 7 a second); every 5 s while stopping, as W&amp;B's runner does.
    /// </summary>
    public static readonly SageMakerPolling Default = new(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(5), AwsRetryPolicy.Standard);

    /// <summary>
    /// Every <paramref name="interval"/>, changes or not and without jitter, as W&amp;B's agent reads every job each
    /// 10 s (<c>agent/agent.py</c>, <c>AGENT_POLLING_INTERVAL</c>); while stopping every 5 s, or the interval when shorter.
    /// </summary>
    public static SageMakerPolling Fixed(TimeSpan interval) =>
        new(interval, interval, interval < Default.WhileStopping ? interval : Default.WhileStopping, AwsRetryPolicy.Standard);

    /// <summary>A fixed interval (<see cref="Fixed"/>): no back-off, no jitter.</summary>
    public bool IsFixed => First == Cap;

    /// <summary>
    /// The longest wait between two listings of a job's CloudWatch log streams while they are missing (its output has
    /// not started): four status intervals, 2 minutes by default, so that 200 such jobs list fewer than 2 a second
    /// (DescribeLogStreams: 5 a second per account and region).
    /// </summary>
    public TimeSpan StreamListingCap => Cap * 4;
}

/// <summary>
/// Runs jobs as SageMaker training jobs, as W&amp;B's SageMakerRunner: STS GetCallerIdentity for the account and
/// partition a role name is completed with, CreateTrainingJob with <see cref="SageMakerRequest"/>, then
/// DescribeTrainingJob until the job ends (<see cref="RunningTrainingJob"/>), StopTrainingJob to stop it. The
/// image must already be in a registry SageMaker can pull from (ECR): the builder pushes it to builder.destination.
/// Region: <c>environment.region</c> of an aws environment, else <c>AWS_REGION</c>, else <c>AWS_DEFAULT_REGION</c>. The handle is
/// <c>&lt;region&gt;/&lt;training job name&gt;</c>. One AWS client per region serves all the agent's jobs there.
/// </summary>
public sealed partial class SageMakerRunner : ILaunchRunner, IDisposable
{
    private readonly Func<string, string?> _environment;
    private readonly SageMakerPolling _polling;
    private readonly ConcurrentDictionary<string, Lazy<AwsClient>> _clients = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task<AwsIdentity>> _identities = new(StringComparer.Ordinal);

    /// <param name="environment">The agent's environment (AWS_* variables).</param>
    /// <param name="polling">Poll and retry pacing; <see cref="SageMakerPolling.Default"/> unless tests say otherwise.</param>
    public SageMakerRunner(Func<string, string?> environment, SageMakerPolling? polling = null)
    {
        _environment = environment;
        _polling = polling ?? SageMakerPolling.Default;
    }

    public string Resource => LaunchResource.SageMaker;

    public bool RequiresImage => true;

    public bool LeavesJobsWhenAgentStops => true;

    [GeneratedRegex("^[a-z]{2}(-[a-z]+)+-[0-9]+$")]
    private static partial Regex RegionPattern();

    /// <summary>W&amp;B's: an aws environment's region, else (boto3's default environment) AWS_REGION; AWS_DEFAULT_REGION too, as the AWS CLI reads it.</summary>
    private static string? ConfiguredRegion(JobContext context) =>
        context.AgentConfig.Environment is { Type: "aws", Region: { Length: > 0 } region } ? region : null;

    private string Region(JobContext context) =>
        ConfiguredRegion(context) is { } configured ? configured
        : _environment("AWS_REGION") is { Length: > 0 } region ? region
        : _environment("AWS_DEFAULT_REGION") is { Length: > 0 } fallback ? fallback
        : throw new JobFailedException(FailureStage.Agent,
            "SageMaker jobs need an AWS region: set environment.type: aws and environment.region in the agent's launch-config.yaml, or AWS_REGION for the agent.");

    internal AwsClient ClientFor(string region) => _clients.GetOrAdd(region, r => new Lazy<AwsClient>(() =>
        new AwsClient(r, AwsCredentialSource.FromEnvironment(_environment), _environment, _polling.Retry))).Value;

    private async Task<AwsIdentity> IdentityAsync(AwsClient client, CancellationToken cancellationToken)
    {
        var pending = _identities.GetOrAdd(client.Region, _ => AwsIdentity.GetAsync(client, CancellationToken.None));
        try
        {
            return await pending.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Errors.LaunchException)
        {
            // Asked again for the next job: the credentials may have been fixed meanwhile.
            _identities.TryRemove(new KeyValuePair<string, Task<AwsIdentity>>(client.Region, pending));
            throw;
        }
    }

    public RenderedRequest Render(JobContext context)
    {
        var region = ConfiguredRegion(context) ?? _environment("AWS_REGION") ?? _environment("AWS_DEFAULT_REGION") ?? "<region from AWS_REGION>";
        var request = SageMakerRequest.Build(context, SageMakerRequest.Placeholder);
        return new RenderedRequest
        {
            Resource = Resource,
            Summary = $"SageMaker CreateTrainingJob {request["TrainingJobName"]} in {region}",
            Text = SageMakerRequest.Show(request, context.Secrets),
        };
    }

    public async Task<IRunningJob> StartAsync(JobContext context, CancellationToken cancellationToken)
    {
        if (context.Code is not null)
        {
            throw new JobFailedException(FailureStage.Agent,
                $"The job runs in its base image {context.ImageUri} with its code mounted, without a build; SageMaker cannot mount code from the agent's host. Set builder.type to docker (or kaniko) with a builder.destination in ECR.");
        }
        var region = Region(context);
        var client = ClientFor(region);
        var log = context.Log;
        AwsIdentity identity;
        try
        {
            identity = await IdentityAsync(client, cancellationToken).ConfigureAwait(false);
        }
        catch (Errors.LaunchException e)
        {
            // AWS refused the credentials, or there are none (AwsCredentialsMissing), or an endpoint variable is no URL.
            throw new JobFailedException(FailureStage.Agent, e.Message, e);
        }
        log.Agent($"AWS account {identity.Account} ({identity.Partition}), {client.Credentials}, region {region}");
        var request = SageMakerRequest.Build(context, new SageMakerRequest.Account(identity.Account, identity.Partition));
        var name = request["TrainingJobName"]!.GetValue<string>();
        await context.Launching().ConfigureAwait(false);
        string arn;
        try
        {
            arn = await SageMakerTrainingJobs.CreateAsync(client, request, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsException e) when (e.ErrorId == "AwsResourceInUse")
        {
            // A create whose answer was lost (and retried), or an earlier attempt of this launch job, made it already:
            // the job's own environment says whose it is.
            var existing = await SageMakerTrainingJobs.DescribeAsync(client, name, cancellationToken).ConfigureAwait(false);
            if (existing is not null && existing.Environment.TryGetValue("WANDB_LAUNCH_TRACE_ID", out var item) && item == context.Job.Id &&
                existing.Environment.TryGetValue("WANDB_RUN_ID", out var run) && run == context.Job.RunId)
            {
                log.Agent($"training job {name} already exists for this launch job ({existing.Status}); following it");
                return new RunningTrainingJob(client, region, name, log, context.Warn, _polling);
            }
            throw new JobFailedException(FailureStage.Run,
                $"{e.Message} Training job names are unique per account and region, also after a job ended: leave TrainingJobName out (the run id is used) or put ${{run_id}} in it.", e);
        }
        catch (AwsException e)
        {
            throw new JobFailedException(e.IsTransient ? FailureStage.Agent : FailureStage.Run, e.Message, e);
        }
        log.Agent($"Run job submitted with arn: {arn}");
        log.Agent($"See training job status at: https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/jobs/{name}");
        return new RunningTrainingJob(client, region, name, log, context.Warn, _polling);
    }

    public async Task<IRunningJob?> AttachAsync(LaunchJob job, JobLog log, CancellationToken cancellationToken)
    {
        // Read before this agent's notes move the log's write time.
        var outputStart = TrainingJobOutput.ReattachStart(log.Path);
        string region, name;
        if (!string.IsNullOrEmpty(job.Handle))
        {
            var parts = job.Handle.Split('/');
            if (parts.Length != 2 || !RegionPattern().IsMatch(parts[0]) || !SageMakerTrainingJobs.TrainingJobNamePattern().IsMatch(parts[1]))
            {
                log.Agent($"the handle {Text.Printable.Quote(job.Handle)} is not <region>/<training job name>; the job cannot be re-attached");
                return null;
            }
            (region, name) = (parts[0], parts[1]);
        }
        else
        {
            // The earlier agent died after deciding to create the job but before recording it: look for it by name.
            var args = job.GetSpec().ResourceArgsFor(Resource);
            region = _environment("AWS_REGION") ?? _environment("AWS_DEFAULT_REGION") ?? "";
            name = JsonTree.TryGetString(args?["TrainingJobName"], out var given) && given.Length > 0 && !given.Contains("${", StringComparison.Ordinal) ? given : RunNames.Of(job.RunId);
            if (!RegionPattern().IsMatch(region) || !SageMakerTrainingJobs.TrainingJobNamePattern().IsMatch(name)) return null;
        }
        var client = ClientFor(region);
        try
        {
            var status = await SageMakerTrainingJobs.DescribeAsync(client, name, cancellationToken).ConfigureAwait(false);
            if (status is null)
            {
                log.Agent($"SageMaker has no training job {name} in {region}; the job cannot be re-attached");
                return null;
            }
            log.Agent($"re-attached to SageMaker training job {name} in {region} ({status.Status})");
        }
        catch (AwsException e) when (!string.IsNullOrEmpty(job.Handle))
        {
            // It may well still run: follow it, and the polls keep trying until AWS answers.
            log.Agent($"{e.Message} Following the job anyway.");
        }
        return new RunningTrainingJob(client, region, name, log, message => log.Agent("warning: " + message), _polling, outputStart);
    }

    public void Dispose()
    {
        foreach (var client in _clients.Values.Where(c => c.IsValueCreated)) client.Value.Dispose();
    }
}
