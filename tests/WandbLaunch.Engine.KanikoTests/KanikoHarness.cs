using System.Collections.Concurrent;
using System.Collections.Specialized;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Builders;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Tests.CloudStorage;
using WandbLaunch.Tests.KubeApi;

namespace WandbLaunch.Engine.KanikoTests;

/// <summary>Which build-context store a test uses.</summary>
public enum StoreKind
{
    S3,
    Gcs,
    Azure,
}

/// <summary>
/// A real agent (the default runner registry, so the kubernetes runner the module ships) with builder.type kaniko,
/// on a real SQLite store, against the loopback Kubernetes API server, a loopback registry and one loopback
/// context store; and a job's code on disk.
/// </summary>
internal sealed class KanikoHarness : IAsyncDisposable
{
    public const string Entity = "ml-team";
    public const string Namespace = "ml";
    public const string ApiKey = "local-0123456789abcdef0123456789abcdef01234567";
    public const string Bucket = "launch-contexts";
    public const string ServiceAccount = "kaniko-builder";

    /// <summary>The registry password of the agent's Docker config, which kaniko pushes with; it must never reach a log.</summary>
    public const string PushPassword = "kaniko-push-pa55word";

    /// <summary>A Docker config in the <c>regcred</c> Secret (key <c>.dockerconfigjson</c>), as kubectl writes it.</summary>
    public static readonly string DockerConfigJson =
        new JsonObject
        {
            ["auths"] = new JsonObject
            {
                ["registry.example.com"] = new JsonObject
                {
                    ["username"] = "robot",
                    ["password"] = PushPassword,
                    ["auth"] = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("robot:" + PushPassword)),
                },
            },
        }.ToJsonString();

    private readonly TestAgents _agents = new();

    public KanikoHarness(StoreKind kind)
    {
        Kind = kind;
        Registry = new RegistryStandIn();
        Kube = new KubeApiServer();
        Kube.AddNamespace(Namespace);
        Kube.PutSecret(Namespace, "regcred", new Dictionary<string, string> { [".dockerconfigjson"] = DockerConfigJson }, "kubernetes.io/dockerconfigjson");
        Env = new ConcurrentDictionary<string, string>
        {
            ["KUBECONFIG"] = Kube.WriteKubeconfig(Dir.File("kubeconfig"), Namespace),
            ["WANDB_API_KEY"] = ApiKey,
            ["HOME"] = Dir.Path,
            ["WANDB_LAUNCH_SERVICE_ACCOUNT_NAME"] = ServiceAccount,
            ["DOCKER_CONFIG"] = Path.Combine(Dir.Path, "docker"),
        };
        // The agent's own login to the registry (docker login), which kaniko gets with builder.secret-name.
        Dir.Write("docker/config.json", new JsonObject
        {
            ["auths"] = new JsonObject
            {
                [Registry.HostPort] = new JsonObject { ["auth"] = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("robot:" + PushPassword)) },
            },
        }.ToJsonString());
        // The agent runs in a pod of namespace ml: kaniko builds there.
        PodNamespaceFile = Dir.Write("serviceaccount/namespace", Namespace + "\n");
        switch (kind)
        {
            case StoreKind.S3:
                S3 = new S3Server("eu-central-1");
                S3.AddKey(ContextStoreTests.KeyId, ContextStoreTests.Secret);
                S3.AddBucket(Bucket);
                foreach (var (k, v) in ContextStoreTests.S3Env(S3)) Env[k] = v;
                Env.TryRemove("AWS_REGION", out _);
                StoreUri = $"s3://{Bucket}/kaniko";
                break;
            case StoreKind.Gcs:
                Gcs = new GcsServer();
                Gcs.AddBucket(Bucket);
                Env["GOOGLE_APPLICATION_CREDENTIALS"] = Dir.Write("gcp-key.json", Gcs.ServiceAccountKeyJson());
                Env["STORAGE_EMULATOR_HOST"] = Gcs.HostPort;
                StoreUri = $"gs://{Bucket}/kaniko";
                break;
            case StoreKind.Azure:
                Azure = new AzureBlobServer();
                Azure.AddContainer(Bucket);
                Env["AZURE_STORAGE_CONNECTION_STRING"] = Azure.ConnectionString();
                StoreUri = $"https://{Azure.Account}.blob.core.windows.net/{Bucket}/kaniko";
                break;
        }
        Backend = new SqliteLaunchBackend(Dir.File("launch.db"), Entity);
        Code = Path.Combine(Dir.Path, "code");
        Dir.Write("code/train.py", "import wandb\nprint('training')\n");
        Dir.Write("code/requirements.txt", "wandb\n");
        Dir.Write("code/data/labels.csv", "id,label\n1,cat\n");
    }

    public StoreKind Kind { get; }

    /// <summary>Where the agent's ACR login sends its requests (an <see cref="AcrServer"/>'s router), or null.</summary>
    public HttpMessageHandler? AzureHandler { get; set; }

    /// <summary>The agent pod's namespace file (a test may delete it: the agent then runs outside a pod).</summary>
    public string PodNamespaceFile { get; }

    public TempDirectory Dir { get; } = new();

    public KubeApiServer Kube { get; }

    public RegistryStandIn Registry { get; }

    public S3Server? S3 { get; }

    public GcsServer? Gcs { get; }

    public AzureBlobServer? Azure { get; }

    public string StoreUri { get; } = "";

    public string Code { get; }

    public SqliteLaunchBackend Backend { get; }

    public ConcurrentDictionary<string, string> Env { get; }

    public RecordingAgentEvents Events { get; } = new();

    /// <summary>kaniko's Docker config made from the agent's login: <c>{"auths": {"&lt;destination&gt;": {"auth": …}}}</c>.</summary>
    public string LoginDockerConfig => new JsonObject
    {
        ["auths"] = new JsonObject { [Destination] = new JsonObject { ["auth"] = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("robot:" + PushPassword)) } },
    }.ToJsonString();

    /// <summary>builder.destination: a repository in the loopback registry.</summary>
    public string Destination => $"{Registry.HostPort}/ml/train";

    /// <summary>The uploaded context of a run, or null.</summary>
    public byte[]? Uploaded(string runId) => Kind switch
    {
        StoreKind.S3 => S3!.Object(Bucket, $"kaniko/{runId}.tgz"),
        StoreKind.Gcs => Gcs!.Object(Bucket, $"kaniko/{runId}.tgz"),
        _ => Azure!.Blob(Bucket, $"kaniko/{runId}.tgz"),
    };

    /// <summary>How many objects the store holds.</summary>
    public int StoredObjects => Kind switch
    {
        StoreKind.S3 => S3!.Objects.Count,
        StoreKind.Gcs => Gcs!.Objects.Count,
        _ => Azure!.Blobs.Count,
    };

    public BuilderSettings Builder(string? destination = "(default)", string? jobName = null, string? kanikoConfigJson = null, bool secret = true,
        string secretName = "regcred", string secretKey = ".dockerconfigjson") => new()
    {
        Type = "kaniko",
        Destination = destination == "(default)" ? Destination : destination,
        BuildContextStore = StoreUri,
        BuildJobName = jobName,
        SecretName = secret ? secretName : null,
        SecretKey = secret ? secretKey : null,
        KanikoImage = "registry.example.com/mirror/kaniko-project/executor:v1.23.2",
        KanikoConfig = kanikoConfigJson is null ? null : (OrderedDictionary)JsonTree.ToPlain(JsonNode.Parse(kanikoConfigJson))!,
    };

    public Task QueueAsync(string name, string kubernetesConfigJson) =>
        TestQueues.CreateAsync(Backend, Entity, name, "kubernetes", kubernetesConfigJson, createdBy: "tester");

    /// <summary>A code job: the local directory with train.py, run with python.</summary>
    public async Task<LaunchJob> SubmitCodeAsync(string queue) =>
        await Backend.PushAsync(new QueueKey(Entity, LaunchDefaults.Project, queue), new PushRequest
        {
            Spec = new JsonObject
            {
                ["uri"] = Code,
                ["project"] = "llm",
                ["entity"] = Entity,
                ["overrides"] = new JsonObject { ["entry_point"] = new JsonArray("python", "train.py") },
            },
        }, CancellationToken.None);

    /// <summary>The image the builder will make for a job (its tag is the hash of the code and Dockerfile).</summary>
    public string ImageFor(LaunchJob job)
    {
        var plan = BuildPlanner.Plan(Code, job.GetSpec(), null);
        return $"{Destination}:{ContextArchive.Tag(plan)}";
    }

    public RunningAgent StartAgent(string queue, BuilderSettings builder, EnvironmentSettings? cloud = null)
    {
        var config = new LaunchAgentConfig
        {
            Queues = [queue],
            Entity = Entity,
            MaxJobs = -1,
            Builder = builder,
            Environment = cloud ?? (Kind == StoreKind.S3 ? new EnvironmentSettings { Type = "aws", Region = "eu-central-1" } : new EnvironmentSettings()),
        };
        var options = TestAgents.Options(config, Dir.File("work"), n => Env.TryGetValue(n, out var v) ? v : null, "kaniko-test", TimeSpan.FromSeconds(30));
        options.PodNamespaceFile = PodNamespaceFile;
        options.AzureHandler = AzureHandler;
        return _agents.Start(Backend, options, Events);
    }

    /// <summary>
    /// Creates queue "k8s" with <paramref name="runConfigJson"/>, submits a code job, starts an agent with the
    /// default kaniko builder, and returns once the build Job has a pod: the job, the build Job's name and its pod.
    /// </summary>
    public async Task<(LaunchJob Job, string BuildName, string Pod)> BuildingAsync(string runConfigJson)
    {
        await QueueAsync("k8s", runConfigJson);
        var job = await SubmitCodeAsync("k8s");
        StartAgent("k8s", Builder());
        var buildName = $"wandb-launch-container-build-{job.RunId}";
        await KubeJobAsync(buildName);
        return (job, buildName, await PodAsync(buildName));
    }

    /// <summary>Waits for the job to end and checks that it failed at stage build.</summary>
    public async Task<LaunchJob> FailedAtBuildAsync(LaunchJob job)
    {
        var failed = await StateAsync(job.Id, LaunchJobState.Failed, LaunchJobState.Finished);
        Assert.Equal(LaunchJobState.Failed, failed.State);
        Assert.Equal(FailureStage.Build, failed.FailureStage);
        return failed;
    }

    public async Task<LaunchJob> JobAsync(string id) => (await Backend.GetJobAsync(id, CancellationToken.None))!;

    public Task<LaunchJob> StateAsync(string id, params LaunchJobState[] states) =>
        WaitForJob.AnyStateAsync(Backend, id, states, TimeSpan.FromSeconds(20));

    public Task<JsonObject> KubeJobAsync(string name) =>
        Eventually.Until(() => Task.FromResult(Kube.Job(Namespace, name)), $"Kubernetes Job {name}");

    public Task<string> PodAsync(string jobName) =>
        Eventually.Until(() => Task.FromResult(Kube.PodsOf(Namespace, jobName).FirstOrDefault()), $"a pod of {jobName}");

    public string Log(LaunchJob job) => File.Exists(job.LogPath) ? File.ReadAllText(job.LogPath!) : "";

    public async ValueTask DisposeAsync()
    {
        await _agents.DisposeAsync();
        Kube.Dispose();
        Registry.Dispose();
        S3?.Dispose();
        Gcs?.Dispose();
        Azure?.Dispose();
        Backend.Dispose();
        Dir.Dispose();
    }
}
