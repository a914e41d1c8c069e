using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Runners;

/// <summary>
/// Runs jobs on one target resource. A runner turns (resolved spec, queue config, image) into a request for its
/// target, can show that request without sending it, and records a handle so that a later agent can find the job.
/// </summary>
public interface ILaunchRunner
{
    /// <summary>The resource name (local-process, local-container, kubernetes, sagemaker, gcp-vertex).</summary>
    string Resource { get; }

    /// <summary>True when jobs run in an image, so the agent's builder must produce one first.</summary>
    bool RequiresImage { get; }

    /// <summary>
    /// Whether a job keeps running on its target when the agent stops, left to the next agent to re-attach to, as
    /// W&amp;B's agent leaves every job when it exits (<c>agent/agent.py</c>): true for the remote targets (Kubernetes,
    /// SageMaker, Vertex AI), whose jobs run on without the agent's host. AgentOptions.StopJobsOnExit asks for the
    /// opposite; AgentOptions.LeaveJobsRunning leaves every job that can run on.
    /// </summary>
    bool LeavesJobsWhenAgentStops => false;

    /// <summary>Checks the job can run here and describes exactly what would be started, without starting it.</summary>
    RenderedRequest Render(JobContext context);

    /// <summary>Starts the job. Throws <see cref="JobFailedException"/> when it cannot be started.</summary>
    Task<IRunningJob> StartAsync(JobContext context, CancellationToken cancellationToken);

    /// <summary>
    /// Finds a job that an earlier agent started, through its handle. When the runner cannot re-attach it must make
    /// sure the job no longer runs (so it never runs twice unwatched) and return null.
    /// </summary>
    Task<IRunningJob?> AttachAsync(LaunchJob job, JobLog log, CancellationToken cancellationToken);
}
