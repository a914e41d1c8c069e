using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Engine.Services;

/// <summary>
/// A queue-less launch (Invoke-WandbLaunchJob; W&amp;B's <c>wandb launch</c> without <c>-q</c>: <c>cli/cli.py</c>
/// <c>launch</c>, <c>sdk/launch/_launch.py</c> <c>_launch</c>): the job runs at once on the named resource
/// (<c>local-container</c> by default). It is checked as a submit is (nothing is recorded when it is refused), recorded
/// in a queue of its own in the reserved project (<see cref="DirectQueues"/>) so that it shows like any other launch job,
/// then run by an agent that serves only that queue (<see cref="AgentOptions.Direct"/>: the same code path as every
/// agent's — build, run, logs, leases, Stop-WandbLaunchJob from another session) and stops when the job has ended.
/// On a W&amp;B server connection the backend is a <see cref="DirectLaunchBackend"/>: the job is recorded in the local
/// store, nothing is queued on the server, and the run reports to the server.
/// </summary>
public sealed class DirectLaunch
{
    private readonly ILaunchBackend _backend;
    private readonly Func<string, string?> _environment;

    public DirectLaunch(ILaunchBackend backend, Func<string, string?>? environment = null)
    {
        _backend = backend;
        _environment = environment ?? Environment.GetEnvironmentVariable;
    }

    /// <summary>
    /// The agent config a queue-less launch runs with: the launch config at <paramref name="path"/> (default
    /// launch-config.yaml), one job at a time, and, as in W&amp;B's direct launch, the spec's own top-level <c>builder</c>
    /// and <c>registry</c> blocks in place of the file's (<c>agent/agent.py</c> <c>construct_agent_configs</c>, then
    /// <c>utils.py</c> <c>resolve_build_and_registry_config</c>: a block the spec gives replaces the file's whole). The
    /// spec's <c>builder.base_image</c> is the job's base image (W&amp;B's -B), not a builder setting, so it is left out.
    /// The blocks are checked as the config file's are.
    /// </summary>
    public static LaunchAgentConfig AgentConfig(string? path, SubmitOptions options, Func<string, string?> environment)
    {
        var settings = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        if (JobSubmission.GivenSpec(options) is { } spec)
        {
            if (spec["builder"] is JsonObject builder)
            {
                var block = (JsonObject)builder.DeepClone();
                block.Remove("base_image");
                if (block.Count > 0) settings["builder"] = block;
            }
            if (spec["registry"] is { } registry) settings["registry"] = registry.DeepClone();
        }
        return AgentConfigResolver.Resolve(path, environment, new AgentConfigResolver.Overrides { MaxJobs = 1, Settings = settings.Count > 0 ? settings : null });
    }

    /// <summary>
    /// Checks a queue-less launch request and renders what its agent would run with <paramref name="config"/>,
    /// recording nothing. The resource is <paramref name="resource"/>, else the spec's <c>resource</c>, else
    /// <c>local-container</c>, as in W&amp;B's <c>_launch</c>.
    /// </summary>
    /// <param name="options">The request, as Submit-WandbLaunchJob's parameters give it, without a queue.</param>
    /// <param name="resource">-Resource (W&amp;B's -r), or null.</param>
    /// <param name="config">The agent config the run uses (builder, registry, environment).</param>
    /// <param name="preview">Render as a preview does (the image tag of local code predicted, a W&amp;B job described).</param>
    /// <param name="cancellationToken">Cancels the check.</param>
    public async Task<SubmissionPreview> CheckAsync(SubmitOptions options, string? resource, LaunchAgentConfig config, bool preview, CancellationToken cancellationToken)
    {
        // W&B: "--priority flag requires --queue to be set", "'--set-var' flag requires queue to be set",
        // "Build flag requires a queue to be set" (cli.py); Invoke-WandbLaunchJob offers none of them.
        if (options.Queue is not null || options.QueueName is not null || options.Priority is not null || options.TemplateValues is not null || options.Build)
        {
            throw LaunchException.Invalid("QueueOptionWithoutQueue",
                "A queue, a priority, template variables and -Build need a queue: submit with Submit-WandbLaunchJob instead.");
        }
        var name = LaunchResource.Normalize(resource ?? JobSubmission.GivenResource(options) ?? LaunchResource.LocalContainer);
        var key = DirectQueues.NewKey(options.Entity ?? _backend.DefaultEntity);
        var queue = new LaunchQueue
        {
            QueueId = "(not stored yet)",
            Name = key.Name,
            Entity = key.Entity,
            Project = key.Project,
            Resource = name,
            Access = QueueAccess.User,
            CreatedBy = Environment.UserName,
            Store = _backend.Location,
        };
        // W&B's construct_launch_spec: -r becomes the spec's resource.
        return await new JobSubmission(_backend, _environment).CheckForQueueAsync(options with { Resource = name }, key, queue, config, preview, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Records a request <see cref="CheckAsync"/> passed: its own queue, and the launch job in it (pending). The queue is
    /// removed again when the push fails, so a refused request leaves nothing behind.
    /// </summary>
    public async Task<LaunchJob> RecordAsync(SubmissionPreview request, CancellationToken cancellationToken)
    {
        DirectQueues.RequireDirect(request.Key);
        await _backend.CreateQueueAsync(new QueueDefinition
        {
            Name = request.Key.Name,
            Entity = request.Key.Entity,
            Project = request.Key.Project,
            Resource = request.Queue.Resource,
            Access = QueueAccess.User,
            CreatedBy = Environment.UserName,
        }, cancellationToken).ConfigureAwait(false);
        try
        {
            return await new JobSubmission(_backend, _environment).SubmitAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            await RemoveQueueAsync(request.Key).ConfigureAwait(false);
            throw;
        }
        catch (OperationCanceledException)
        {
            await RemoveQueueAsync(request.Key).ConfigureAwait(false);
            throw;
        }
    }

    private async Task RemoveQueueAsync(QueueKey key)
    {
        try
        {
            await _backend.DeleteQueueAsync(key, force: false, CancellationToken.None).ConfigureAwait(false);
        }
        catch (LaunchException e)
        {
            EngineLogVerbose($"could not remove the unused queue {key.Name}: {e.Message}");
        }
    }

    /// <summary>What the agent of <paramref name="job"/> is told: serve its queue only, and stop when it has ended.</summary>
    public static DirectJob AgentTarget(LaunchJob job) => new(new QueueKey(job.Entity, job.Project, job.Queue), job.Id);

    /// <summary>The launch job as its agent left it, and the error a run that did not finish is reported with.</summary>
    public async Task<(LaunchJob Job, LaunchException? Error)> EndAsync(string jobId, CancellationToken cancellationToken)
    {
        var job = await _backend.GetJobAsync(jobId, cancellationToken).ConfigureAwait(false)
                  ?? throw LaunchException.NotFound("JobNotFound", $"The launch job {jobId} is no longer in {_backend.Location} (it was removed).", jobId);
        return (job, ErrorFor(job));
    }

    /// <summary>
    /// W&amp;B's direct launch exits 1 when the run ends failed, stopped or preempted (<c>cli.py</c>: "Launched run
    /// exited with non-zero status"); here that is an error with the state's id, after the job is written.
    /// </summary>
    public static LaunchException? ErrorFor(LaunchJob job) => job.State switch
    {
        LaunchJobState.Failed => new LaunchException("LaunchJobFailed", LaunchErrorCategory.InvalidOperation,
            $"The launch job {job.Id} failed{(job.FailureStage is { } stage ? $" at stage {stage}" : "")}" +
            (job.FailureMessage is { } message ? $": {message}" : job.ExitCode is { } code ? $" (exit code {code})." : "."), job.Id)
        {
            RecommendedAction = $"Read its output with Get-WandbLaunchJobLog -Id {job.Id}.",
        },
        LaunchJobState.Stopped => new LaunchException("LaunchJobStopped", LaunchErrorCategory.OperationStopped,
            $"The launch job {job.Id} was stopped{(job.FailureMessage is { } reason ? $": {reason}" : ".")}", job.Id),
        LaunchJobState.Preempted => new LaunchException("LaunchJobPreempted", LaunchErrorCategory.OperationStopped,
            $"The launch job {job.Id} was preempted{(job.FailureMessage is { } reason ? $": {reason}" : ".")}", job.Id),
        _ => null,
    };

    private static void EngineLogVerbose(string message) => Diagnostics.EngineLog.Verbose("launch", message);
}
