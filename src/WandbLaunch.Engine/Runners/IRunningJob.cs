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

    /// <summary>Stops the job on its target (the whole process tree, the container, the Kubernetes Job...).</summary>
    Task CancelAsync();
}
