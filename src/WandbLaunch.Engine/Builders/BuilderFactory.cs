using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Docker;
using WandbLaunch.Engine.Registries;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Builders;

/// <summary>
/// Picks the agent's builder from <c>builder.type</c>: docker, kaniko, noop, or (an empty builder block) docker when
/// an engine answers and noop otherwise, as W&amp;B's agent does.
/// </summary>
public static class BuilderFactory
{
    /// <param name="settings">The builder block.</param>
    /// <param name="cloud">The environment block (kaniko's S3 region).</param>
    /// <param name="environment">The agent's environment (kaniko reads KUBECONFIG and cloud credentials from it).</param>
    /// <param name="engine">The Docker engine, connected on first use.</param>
    /// <param name="credentials">Registry credentials by registry host.</param>
    /// <param name="cancellationToken">Cancels the engine probe.</param>
    /// <param name="podNamespaceFile">Where kaniko reads the agent pod's namespace.</param>
    public static async Task<IImageBuilder> CreateAsync(BuilderSettings settings, EnvironmentSettings cloud, Func<string, string?> environment, Lazy<DockerEngine> engine,
        Func<string, RegistryCredential?> credentials, CancellationToken cancellationToken, string podNamespaceFile = Kaniko.KanikoBuilder.PodNamespaceFile)
    {
        var builder = await ChooseAsync(settings, cloud, environment, engine, credentials, podNamespaceFile, cancellationToken).ConfigureAwait(false);
        EngineLog.Verbose("build", () => $"builder {builder.Type}" + (settings.Type is null ? " (builder.type not set: docker when an engine answers, else noop)" : "") +
            (settings.Destination is { } destination ? $", pushing to {Printable.Quote(destination)}" : ""));
        return builder;
    }

    private static async Task<IImageBuilder> ChooseAsync(BuilderSettings settings, EnvironmentSettings cloud, Func<string, string?> environment, Lazy<DockerEngine> engine,
        Func<string, RegistryCredential?> credentials, string podNamespaceFile, CancellationToken cancellationToken)
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
                // Nothing is contacted here: the cluster and the context store are reached when a job is built.
                return new Kaniko.KanikoBuilder(cloud, environment, credentials, podNamespaceFile);
            default:
                return await engine.Value.IsReachableAsync(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false)
                    ? new Docker.DockerBuilder(engine.Value, credentials)
                    : new NoopBuilder();
        }
    }
}
