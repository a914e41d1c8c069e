namespace WandbLaunch.Engine.Jobs;

/// <summary>How a job ended, as the agent records it.</summary>
public sealed record JobOutcome(LaunchJobState State, int? ExitCode = null, string? Message = null, string? Stage = null)
{
    public static JobOutcome Finished(int exitCode = 0) => new(LaunchJobState.Finished, exitCode);

    public static JobOutcome Failed(string stage, string message, int? exitCode = null) => new(LaunchJobState.Failed, exitCode, message, stage);

    public static JobOutcome Stopped(string message) => new(LaunchJobState.Stopped, null, message);
}
