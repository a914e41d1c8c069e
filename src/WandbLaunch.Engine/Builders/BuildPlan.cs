namespace WandbLaunch.Engine.Builders;

/// <summary>What will be built: a context directory and the Dockerfile text, with where that Dockerfile came from.</summary>
public sealed record BuildPlan(string ContextDirectory, string Dockerfile, string DockerfileOrigin)
{
    /// <summary>The name the Dockerfile has inside the build context sent to the builder.</summary>
    public const string DockerfileName = "Dockerfile.wandb";

    /// <summary>Where the context directory's files go in the archive: "" (its root) or <c>src/</c> (W&amp;B's generated Dockerfile for a job).</summary>
    public string ArchivePrefix { get; init; } = "";

    /// <summary>Files the planner adds to the archive (path → text), replacing a file of the code at the same path.</summary>
    public IReadOnlyDictionary<string, string> ExtraFiles { get; init; } = new Dictionary<string, string>();

    /// <summary>What W&amp;B's agent warns about the plan (no requirements file, wandb not in them), for the job's log.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
}
