using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Tests.KubeApi;

namespace WandbLaunch.Engine.KubeTests;

/// <summary>
/// A loopback API server, a kubeconfig pointing at it, a real SQLite store, and real agents (built with the
/// default runner registry, so the kubernetes runner is the one the module ships) polling a kubernetes queue.
/// </summary>
internal sealed class AgentHarness : IAsyncDisposable
{
    public const string Entity = "ml-team";
    public const string Namespace = "ml";

    private readonly TestAgents _agents = new();

    public AgentHarness()
    {
        Server = new KubeApiServer();
        Server.AddNamespace(Namespace);
        Env = new ConcurrentDictionary<string, string>
        {
            ["KUBECONFIG"] = Server.WriteKubeconfig(Dir.File("kubeconfig"), Namespace),
            ["WANDB_API_KEY"] = Contexts.ApiKey,
            ["HOME"] = Dir.Path,
        };
        Backend = new SqliteLaunchBackend(Dir.File("launch.db"), Entity);
    }

    public TempDirectory Dir { get; } = new();

    public KubeApiServer Server { get; }

    public SqliteLaunchBackend Backend { get; }

    public ConcurrentDictionary<string, string> Env { get; }

    public RecordingAgentEvents Events { get; } = new();

    private int _kubeconfigLookups;

    /// <summary>How often the agents looked up KUBECONFIG: once per kubeconfig they read.</summary>
    public int KubeconfigLookups => Volatile.Read(ref _kubeconfigLookups);

    public Task QueueAsync(string name, string kubernetesConfigJson = "{}") =>
        TestQueues.CreateAsync(Backend, Entity, name, "kubernetes", kubernetesConfigJson, createdBy: "tester");

    public async Task<LaunchJob> SubmitAsync(string queue, string image = "registry.example.com/ml/train:1.0", string extraSpecJson = "{}")
    {
        var spec = (JsonObject)JsonNode.Parse(extraSpecJson)!;
        spec["docker"] = new JsonObject { ["docker_image"] = image };
        spec["project"] ??= "llm";
        spec["entity"] ??= Entity;
        return await Backend.PushAsync(new QueueKey(Entity, LaunchDefaults.Project, queue), new PushRequest { Spec = spec }, CancellationToken.None);
    }

    /// <summary>Starts an agent on <paramref name="queue"/>; <paramref name="backend"/> defaults to the store itself.</summary>
    public RunningAgent StartAgent(string queue, TimeSpan? startTimeout = null, TimeSpan? lease = null, ILaunchBackend? backend = null, bool abandonOnDispose = false,
        string? kubeconfig = null, bool leaveJobsRunning = false, bool stopJobsOnExit = false, bool keepAdditionalServices = false)
    {
        var config = new LaunchAgentConfig { Queues = [queue], Entity = Entity, MaxJobs = -1, Builder = new BuilderSettings { Type = "noop" } };
        var options = TestAgents.Options(config, Dir.File("work"), n =>
        {
            if (n == "KUBECONFIG") Interlocked.Increment(ref _kubeconfigLookups);
            return n == "KUBECONFIG" && kubeconfig is not null ? kubeconfig : Env.TryGetValue(n, out var v) ? v : null;
        }, "kube-test", lease ?? TimeSpan.FromSeconds(30), startTimeout: startTimeout, leaveJobsRunning: leaveJobsRunning, stopJobsOnExit: stopJobsOnExit,
            keepAdditionalServices: keepAdditionalServices);
        return _agents.Start(backend ?? Backend, options, Events, abandonOnDispose: abandonOnDispose);
    }

    /// <summary>A job on a queue's Kubernetes Job: the launch job, the Job's name, its pod, and the launch job once Running.</summary>
    public sealed record RunningJob(LaunchJob Submitted, string Name, string Pod, LaunchJob Running);

    /// <summary>
    /// Creates queue "k8s" with <paramref name="queueConfigJson"/>, submits one job, starts an agent, and returns once
    /// the job's pod runs and the launch job is Running.
    /// </summary>
    public async Task<RunningJob> RunningJobAsync(string queueConfigJson)
    {
        await QueueAsync("k8s", queueConfigJson);
        var submitted = await SubmitAsync("k8s");
        StartAgent("k8s");
        var name = (await KubeJobAsync(submitted.RunId))["metadata"]!["name"]!.GetValue<string>();
        var pod = await PodAsync(name);
        Server.SetPodPhase(Namespace, pod, "Running");
        return new RunningJob(submitted, name, pod, await StateAsync(submitted.Id, LaunchJobState.Running));
    }

    public async Task<LaunchJob> JobAsync(string id) => (await Backend.GetJobAsync(id, CancellationToken.None))!;

    public Task<LaunchJob> StateAsync(string id, params LaunchJobState[] states) =>
        WaitForJob.AnyStateAsync(Backend, id, states, TimeSpan.FromSeconds(20));

    /// <summary>The Job the agent created for a run (optionally a new one, not <paramref name="notUid"/>).</summary>
    public Task<JsonObject> KubeJobAsync(string runId, string? notUid = null) =>
        Eventually.Until(() => Task.FromResult(Server.All(ApiResource.Jobs, Namespace).FirstOrDefault(j =>
            j["metadata"]!["labels"]!["wandb.ai/run-id"]?.GetValue<string>() == runId && j["metadata"]!["uid"]!.GetValue<string>() != notUid)),
            $"a Kubernetes Job for run {runId}");

    public Task<string> PodAsync(string jobName) =>
        Eventually.Until(() => Task.FromResult(Server.PodsOf(Namespace, jobName).FirstOrDefault()), $"a pod of {jobName}");

    public string Log(LaunchJob job) => File.Exists(job.LogPath) ? File.ReadAllText(job.LogPath!) : "";

    public async ValueTask DisposeAsync()
    {
        await _agents.DisposeAsync();
        if (Environment.GetEnvironmentVariable("KUBE_TESTS_KEEP_LOGS") is { Length: > 0 } keep && Directory.Exists(Backend.LogDirectory))
        {
            Directory.CreateDirectory(keep);
            foreach (var file in Directory.GetFiles(Backend.LogDirectory)) File.Copy(file, Path.Combine(keep, Path.GetFileName(file)), overwrite: true);
        }
        Server.Dispose();
        Backend.Dispose();
        Dir.Dispose();
    }
}

/// <summary>
/// A store an agent loses touch with, as when its process is killed: after <see cref="Freeze"/> every call hangs,
/// so the agent renews no lease, records nothing and cleans nothing up.
/// </summary>
internal sealed class FreezableBackend(ILaunchBackend inner) : ILaunchBackend
{
    private volatile bool _frozen;

    public void Freeze() => _frozen = true;

    private async Task<T> Call<T>(Func<Task<T>> call, CancellationToken cancellationToken)
    {
        if (!_frozen) return await call();
        await Task.Delay(Timeout.Infinite, cancellationToken);
        throw new OperationCanceledException();
    }

    private Task Call(Func<Task> call, CancellationToken cancellationToken) => Call(async () =>
    {
        await call();
        return true;
    }, cancellationToken);

    public string Location => inner.Location;

    public string DefaultEntity => inner.DefaultEntity;

    public string LogDirectory => inner.LogDirectory;

    public Task<LaunchQueue> CreateQueueAsync(QueueDefinition definition, CancellationToken c) => Call(() => inner.CreateQueueAsync(definition, c), c);

    public Task<IReadOnlyList<LaunchQueue>> GetQueuesAsync(string? entity, string? project, CancellationToken c) => Call(() => inner.GetQueuesAsync(entity, project, c), c);

    public Task<LaunchQueue?> GetQueueAsync(QueueKey key, CancellationToken c) => Call(() => inner.GetQueueAsync(key, c), c);

    public Task<LaunchQueue> UpdateQueueAsync(QueueKey key, QueueUpdate update, CancellationToken c) => Call(() => inner.UpdateQueueAsync(key, update, c), c);

    public Task DeleteQueueAsync(QueueKey key, bool force, CancellationToken c) => Call(() => inner.DeleteQueueAsync(key, force, c), c);

    public Task<LaunchJob> PushAsync(QueueKey queue, PushRequest request, CancellationToken c) => Call(() => inner.PushAsync(queue, request, c), c);

    public Task<IReadOnlyList<LaunchJob>> GetJobsAsync(JobQuery query, CancellationToken c) => Call(() => inner.GetJobsAsync(query, c), c);

    public Task<LaunchJob?> GetJobAsync(string id, CancellationToken c) => Call(() => inner.GetJobAsync(id, c), c);

    public Task<LaunchJob?> PopAsync(string agentId, QueueKey queue, TimeSpan lease, CancellationToken c) => Call(() => inner.PopAsync(agentId, queue, lease, c), c);

    public Task<LaunchJob> AckAsync(string itemId, string agentId, string logPath, CancellationToken c) => Call(() => inner.AckAsync(itemId, agentId, logPath, c), c);

    public Task MarkLaunchingAsync(string itemId, string agentId, CancellationToken c) => Call(() => inner.MarkLaunchingAsync(itemId, agentId, c), c);

    public Task MarkRunningAsync(string itemId, string agentId, string handle, CancellationToken c) => Call(() => inner.MarkRunningAsync(itemId, agentId, handle, c), c);

    public Task FinishAsync(string itemId, string agentId, JobOutcome outcome, CancellationToken c) => Call(() => inner.FinishAsync(itemId, agentId, outcome, c), c);

    public Task WarnAsync(string itemId, string stage, string message, CancellationToken c) => Call(() => inner.WarnAsync(itemId, stage, message, c), c);

    public Task RequeueAsync(string itemId, string agentId, string reason, CancellationToken c) => Call(() => inner.RequeueAsync(itemId, agentId, reason, c), c);

    public Task ReleaseAsync(string itemId, string agentId, CancellationToken c) => Call(() => inner.ReleaseAsync(itemId, agentId, c), c);

    public Task<IReadOnlyList<LaunchJob>> ClaimOrphansAsync(string agentId, IReadOnlyList<QueueKey> queues, TimeSpan lease, CancellationToken c) =>
        Call(() => inner.ClaimOrphansAsync(agentId, queues, lease, c), c);

    public Task<LaunchJob> RequestStopAsync(string itemId, CancellationToken c) => Call(() => inner.RequestStopAsync(itemId, c), c);

    public Task RemoveJobAsync(string itemId, CancellationToken c) => Call(() => inner.RemoveJobAsync(itemId, c), c);

    public Task<LaunchAgentInfo> RegisterAgentAsync(AgentRegistration registration, CancellationToken c) => Call(() => inner.RegisterAgentAsync(registration, c), c);

    public Task<IReadOnlyList<LaunchAgentInfo>> GetAgentsAsync(CancellationToken c) => Call(() => inner.GetAgentsAsync(c), c);

    public Task<LaunchAgentInfo?> GetAgentAsync(string id, CancellationToken c) => Call(() => inner.GetAgentAsync(id, c), c);

    public Task SetAgentStatusAsync(string agentId, string status, CancellationToken c) => Call(() => inner.SetAgentStatusAsync(agentId, status, c), c);

    public Task<Heartbeat> HeartbeatAsync(string agentId, TimeSpan lease, CancellationToken c) => Call(() => inner.HeartbeatAsync(agentId, lease, c), c);

    public Task RequestAgentStopAsync(string agentId, CancellationToken c, bool leaveJobsRunning = false) =>
        Call(() => inner.RequestAgentStopAsync(agentId, c, leaveJobsRunning), c);

    public Task WaitForChangeAsync(TimeSpan timeout, CancellationToken c) => Call(() => inner.WaitForChangeAsync(timeout, c), c);

    public void Dispose()
    {
    }
}
