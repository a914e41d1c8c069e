using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Builders;

/// <summary>Builds nothing: runs prebuilt images only.</summary>
public sealed class NoopBuilder : IImageBuilder
{
    public string Type => "noop";

    public Task<string> BuildAsync(BuildRequest request, CancellationToken cancellationToken)
    {
        if (request.Spec.PrebuiltImage is { } image) return Task.FromResult(image);
        throw new JobFailedException(FailureStage.Build,
            "This job needs an image built from its code, but the agent's builder is 'noop', which runs prebuilt images only. " +
            "Set builder.type to docker (Set-WandbLaunchAgentConfig -BuilderType docker) or kaniko, or submit a prebuilt image with -DockerImage.");
    }
}
