using System.Collections.Specialized;

namespace WandbLaunch.Engine.Config;

/// <summary>The <c>builder</c> block of launch-config.yaml.</summary>
public sealed class BuilderSettings
{
    public const string DefaultBuildJobName = "wandb-launch-container-build";
    public const string DefaultKanikoImage = "gcr.io/kaniko-project/executor:v1.11.0";

    /// <summary>docker, kaniko or noop; null when the block leaves it to the agent (docker when an engine is reachable, else noop).</summary>
    public string? Type { get; init; }

    /// <summary>The image repository to push to, without tag and without the https:// prefix.</summary>
    public string? Destination { get; init; }

    public string? Platform { get; init; }

    public string? BuildContextStore { get; init; }

    public string? BuildJobName { get; init; }

    public string? SecretName { get; init; }

    public string? SecretKey { get; init; }

    public string? KanikoImage { get; init; }

    public OrderedDictionary? KanikoConfig { get; init; }

    public override string ToString() => Type ?? "(auto)";
}
