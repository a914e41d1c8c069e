namespace WandbLaunch.Engine.Jobs;

/// <summary>How a job ended, as the agent records it.</summary>
public sealed record JobOutcome(LaunchJobState State, int? ExitCode = null, string? Message = null, string? Stage = null)
{
    /// <summary>
    /// What explains a failure beyond its message (the exception, or the end of the job's output when its run never
    /// started); a W&amp;B server keeps it as the item's <c>error.log</c>. Redacted by the agent.
    /// </summary>
    public string? ErrorLog { get; init; }

    /// <summary>
    /// The job's run started and reports this end itself: W&amp;B's agent fails no queue item whose run called
    /// wandb.init (the run shows the failure); the local store records the outcome as usual.
    /// </summary>
    public bool ReportedByRun { get; init; }

    public static JobOutcome Finished(int exitCode = 0) => new(LaunchJobState.Finished, exitCode);

    public static JobOutcome Failed(string stage, string message, int? exitCode = null) => new(LaunchJobState.Failed, exitCode, message, stage);

    public static JobOutcome Stopped(string message) => new(LaunchJobState.Stopped, null, message);

    /// <summary>The target took the job away (a preempted pod); the agent re-queues it with the same run id.</summary>
    public static JobOutcome Preempted(string message) => new(LaunchJobState.Preempted, null, message, FailureStage.Run);
}
