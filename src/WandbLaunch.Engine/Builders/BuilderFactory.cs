using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Docker;
using WandbLaunch.Engine.Registries;

namespace WandbLaunch.Engine.Builders;

/// <summary>
/// Picks the agent's builder from <c>builder.type</c>: docker, noop, or (an empty builder block) docker when an
/// engine answers and noop otherwise, as W&amp;B's agent does.
/// </summary>
public static class BuilderFactory
{
    public static async Task<IImageBuilder> CreateAsync(BuilderSettings settings, Lazy<DockerEngine> engine, Func<string, RegistryCredential?> credentials, CancellationToken cancellationToken)
    {
        switch (settings.Type)
        {
            case "noop":
                return new NoopBuilder();
            case "docker":
                if (!await engine.Value.IsReachableAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false))
                {
                    throw engine.Value.Unreachable();
                }
                return new Docker.DockerBuilder(engine.Value, credentials);
            case "kaniko":
                throw new Errors.LaunchException("BuilderNotAvailable", Errors.LaunchErrorCategory.NotImplemented,
                    "builder.type kaniko builds on Kubernetes, which this version of WandbLaunch does not support yet; use docker or noop.", settings.Type);
            default:
                return await engine.Value.IsReachableAsync(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false)
                    ? new Docker.DockerBuilder(engine.Value, credentials)
                    : new NoopBuilder();
        }
    }
}
