namespace WandbLaunch.Engine.Builders;

/// <summary>What will be built: a context directory and the Dockerfile text, with where that Dockerfile came from.</summary>
public sealed record BuildPlan(string ContextDirectory, string Dockerfile, string DockerfileOrigin)
{
    /// <summary>The name the Dockerfile has inside the build context sent to the builder.</summary>
    public const string DockerfileName = "Dockerfile.wandb";
}
