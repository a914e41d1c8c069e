namespace WandbLaunch.Engine.Jobs;

/// <summary>W&amp;B's failure stages: where in the launch a job failed.</summary>
public static class FailureStage
{
    /// <summary>The agent failed the job (bad spec, lost agent, start timeout).</summary>
    public const string Agent = "agent";

    /// <summary>Fetching code or building the image failed.</summary>
    public const string Build = "build";

    /// <summary>The job ran and failed on its target.</summary>
    public const string Run = "run";
}
