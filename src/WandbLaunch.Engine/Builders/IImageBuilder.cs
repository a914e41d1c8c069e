namespace WandbLaunch.Engine.Builders;

/// <summary>Produces the image a job runs in: builds and pushes it, or passes a prebuilt one through.</summary>
public interface IImageBuilder
{
    /// <summary>docker, kaniko or noop.</summary>
    string Type { get; }

    /// <summary>Returns the image to run. Throws <see cref="Jobs.JobFailedException"/> (stage build) when it cannot.</summary>
    Task<string> BuildAsync(BuildRequest request, CancellationToken cancellationToken);
}
