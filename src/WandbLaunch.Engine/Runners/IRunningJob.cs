using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Runners;

/// <summary>A job started on its target.</summary>
public interface IRunningJob
{
    /// <summary>How to find the job on its target again (recorded in the store).</summary>
    string Handle { get; }

    /// <summary>A short description for status lines (e.g. "pid 4242").</summary>
    string Description { get; }

    /// <summary>Completes when the target reports the job running.</summary>
    Task Started { get; }

    /// <summary>Completes with how the job ended.</summary>
    Task<JobOutcome> Completion { get; }

    /// <summary>
    /// Stops the job on its target (the whole process tree, the container, the Kubernetes Job...). Where the target
    /// delivers a stop signal first (a local process's SIGTERM, a container's stop signal), the job gets
    /// <paramref name="grace"/> to end by itself before it is killed; the agent passes its stopped_run_timeout.
    /// </summary>
    Task CancelAsync(TimeSpan grace);

    /// <summary>True when the job keeps running on its target without the agent, so that a later agent can re-attach.</summary>
    bool CanDetach => false;

    /// <summary>
    /// Stops following the job and leaves it running on its target (nothing of it is deleted); <see cref="Completion"/>
    /// then ends with an outcome that is not the job's. Only called when <see cref="CanDetach"/>.
    /// </summary>
    Task DetachAsync() => throw new NotSupportedException("This job cannot run without its agent.");
}
