using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Services;

/// <summary>
/// A launch request checked and rendered by <see cref="JobSubmission"/>, not yet stored: what a submit would store
/// (<see cref="Job"/>) and what an agent would run (<see cref="Rendered"/>). Only the service makes one, so every
/// preview a caller can submit has passed the rule that refuses jobs the queue's runner could never run.
/// </summary>
public sealed class SubmissionPreview
{
    internal SubmissionPreview(QueueKey key, LaunchQueue queue, PushRequest request, LaunchJob job, RenderedRequest rendered, WandbJobs.JobCreateRequest? jobToCreate = null,
        SubmitOptions? buildFirst = null)
    {
        BuildFirst = buildFirst;
        JobToCreate = jobToCreate;
        Key = key;
        Queue = queue;
        Request = request;
        Job = job;
        Rendered = rendered;
    }

    public QueueKey Key { get; }

    /// <summary>The queue's definition when the request was checked.</summary>
    public LaunchQueue Queue { get; }

    /// <summary>What a submit pushes.</summary>
    public PushRequest Request { get; }

    /// <summary>The job as a push would store it (its id is a placeholder).</summary>
    public LaunchJob Job { get; }

    /// <summary>What an agent would run: command line, container or manifests, secrets redacted.</summary>
    public RenderedRequest Rendered { get; }

    /// <summary>
    /// The W&amp;B job a submit creates first from the spec's <c>uri</c> (on a backend that runs jobs, not uris), whose
    /// <c>job</c> then replaces the uri; null when the spec is pushed as it is.
    /// </summary>
    public WandbJobs.JobCreateRequest? JobToCreate { get; }

    /// <summary>The options of a <c>-Build</c> submit: the uri is built and an image job made before the push; null otherwise.</summary>
    public SubmitOptions? BuildFirst { get; }

    /// <summary>One line naming the code and priority, for confirmation prompts.</summary>
    public string Describe() => $"{Job.Source}, priority {Job.Priority.ToString().ToLowerInvariant()}";
}
