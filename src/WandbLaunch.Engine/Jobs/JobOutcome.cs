namespace WandbLaunch.Engine.Jobs;

/// <summary>How a job ended, as the agent records it.</summary>
public sealed record JobOutcome(LaunchJobState State, int? ExitCode = null, string? Message = null, string? Stage = null)
{
    public static JobOutcome Finished(int exitCode = 0) => new(LaunchJobState.Finished, exitCode);

    public static JobOutcome Failed(string stage, string message, int? exitCode = null) => new(LaunchJobState.Failed, exitCode, message, stage);

    public static JobOutcome Stopped(string message) => new(LaunchJobState.Stopped, null, message);

    /// <summary>The target took the job away (a preempted pod); the agent re-queues it with the same run id.</summary>
    public static JobOutcome Preempted(string message) => new(LaunchJobState.Preempted, null, message, FailureStage.Run);
}
