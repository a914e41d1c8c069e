using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners.LocalProcess;

namespace WandbLaunch.Engine.Runners;

/// <summary>The runners this build has, by resource.</summary>
public sealed class RunnerRegistry
{
    private readonly Dictionary<string, ILaunchRunner> _runners;

    public RunnerRegistry(IEnumerable<ILaunchRunner> runners) =>
        _runners = runners.ToDictionary(r => r.Resource, StringComparer.OrdinalIgnoreCase);

    /// <param name="docker">The Docker engine, connected on first use.</param>
    /// <param name="credentials">Registry credentials for pulling images (the agent's); none by default.</param>
    /// <param name="environment">The agent's environment (the Kubernetes runner reads KUBECONFIG from it, the Vertex runner Google's credentials); the process's by default.</param>
    /// <param name="keepAdditionalServices">The Kubernetes runner leaves jobs' additional services when they end, as W&amp;B's does.</param>
    /// <param name="cloudJobPollingInterval">Read every SageMaker and Vertex AI job at this fixed interval (W&amp;B's agent: 10 s); null backs off from 5 s to 30 s.</param>
    public static RunnerRegistry Default(Lazy<Docker.DockerEngine> docker, Func<string, Registries.RegistryCredential?>? credentials = null, Func<string, string?>? environment = null,
        bool keepAdditionalServices = false, TimeSpan? cloudJobPollingInterval = null) =>
        new([
            new LocalProcessRunner(),
            new LocalContainer.LocalContainerRunner(docker, credentials),
            new Kubernetes.KubernetesRunner(environment ?? System.Environment.GetEnvironmentVariable, credentials, keepAdditionalServices),
            new SageMaker.SageMakerRunner(environment ?? System.Environment.GetEnvironmentVariable,
                cloudJobPollingInterval is { } sageMaker ? SageMaker.SageMakerPolling.Fixed(sageMaker) : null),
            new Vertex.VertexRunner(environment ?? System.Environment.GetEnvironmentVariable,
                cloudJobPollingInterval is { } vertex ? Vertex.VertexPolling.Fixed(vertex) : null),
        ]);

    public ILaunchRunner For(string resource) =>
        _runners.TryGetValue(resource, out var runner)
            ? runner
            : throw new LaunchException("RunnerNotAvailable", LaunchErrorCategory.NotImplemented,
                $"This version of WandbLaunch cannot run jobs on '{resource}' yet; it runs: {string.Join(", ", _runners.Keys)}. " +
                $"Known resources: {string.Join(", ", LaunchResource.All)}.", resource);
}
