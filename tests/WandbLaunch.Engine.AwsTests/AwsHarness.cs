using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Cloud.Aws;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Runners.SageMaker;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Tests.Aws;

namespace WandbLaunch.Engine.AwsTests;

/// <summary>
/// The AWS stand-in with a session key the agent's environment holds (AWS_ENDPOINT_URL pointing at the stand-in), a
/// real SQLite store, and real agents whose sagemaker runner polls fast.
/// </summary>
internal sealed class AwsHarness : IAsyncDisposable
{
    public const string Entity = "ml-team";
    public const string AccessKey = "AKIAIOSFODNN7EXAMPLE";
    public const string SecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    public const string SessionToken = "FwoGZXIvYXdzEXAMPLE-session-token-0123456789";
    public const string ApiKey = "local-0123456789abcdef0123456789abcdef01234567";

    /// <summary>A queue config as W&amp;B's docs show one: a role name, S3 output, instance and time limits, some snake_case.</summary>
    public const string QueueConfig = """
        {
          "RoleArn": "SageMakerExecutionRole",
          "OutputDataConfig": {"S3OutputPath": "s3://ml-bucket/launch-output"},
          "resource_config": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
          "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
          "Tags": [{"Key": "team", "Value": "ml"}],
          "EcrRepoName": "launch",
          "region": "us-east-1"
        }
        """;

    public static readonly SageMakerPolling FastPolling =
        new(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(50), new AwsRetryPolicy(4, TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(50)));

    private readonly TestAgents _agents = new();

    public AwsHarness(string region = "us-east-1", string partition = "aws")
    {
        Server = new AwsServer(region, partition);
        Server.AddKey(AccessKey, SecretKey, SessionToken);
        Env = new ConcurrentDictionary<string, string>
        {
            ["AWS_ACCESS_KEY_ID"] = AccessKey,
            ["AWS_SECRET_ACCESS_KEY"] = SecretKey,
            ["AWS_SESSION_TOKEN"] = SessionToken,
            ["AWS_REGION"] = region,
            ["AWS_ENDPOINT_URL"] = Server.Url.ToString(),
            ["WANDB_API_KEY"] = ApiKey,
            ["HOME"] = Dir.Path,
        };
        Backend = new SqliteLaunchBackend(Dir.File("launch.db"), Entity);
    }

    public TempDirectory Dir { get; } = new();

    public AwsServer Server { get; }

    public SqliteLaunchBackend Backend { get; }

    public ConcurrentDictionary<string, string> Env { get; }

    public RecordingAgentEvents Events { get; } = new();

    public string? Environment(string name) => Env.TryGetValue(name, out var value) ? value : null;

    public AwsClient Client(AwsRetryPolicy? retry = null) =>
        new(Server.Region, AwsCredentialSource.FromEnvironment(Environment), Environment, retry ?? FastPolling.Retry);

    public SageMakerRunner Runner(SageMakerPolling? polling = null) => new(Environment, polling ?? FastPolling);

    public Task QueueAsync(string name = "sm", string config = QueueConfig) =>
        TestQueues.CreateAsync(Backend, Entity, name, LaunchResource.SageMaker, config, createdBy: "tester");

    public async Task<LaunchJob> SubmitAsync(string queue = "sm", string image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/launch:train-1", string extraSpecJson = "{}")
    {
        var spec = (JsonObject)JsonNode.Parse(extraSpecJson)!;
        spec["docker"] = new JsonObject { ["docker_image"] = image };
        spec["project"] ??= "llm";
        spec["entity"] ??= Entity;
        return await Backend.PushAsync(new QueueKey(Entity, LaunchDefaults.Project, queue), new PushRequest { Spec = spec }, CancellationToken.None);
    }

    public RunningAgent StartAgent(string queue = "sm", bool leaveJobsRunning = false, SageMakerPolling? polling = null, string name = "aws-test",
        EnvironmentSettings? environment = null, TimeSpan? cloudJobPollingInterval = null)
    {
        var config = new LaunchAgentConfig
        {
            Queues = [queue], Entity = Entity, MaxJobs = -1, Builder = new BuilderSettings { Type = "noop" }, Environment = environment ?? new EnvironmentSettings(),
        };
        var options = TestAgents.Options(config, Dir.File("work"), Environment, name, TimeSpan.FromSeconds(5), leaveJobsRunning: leaveJobsRunning,
            cloudJobPollingInterval: cloudJobPollingInterval);
        // With a fixed interval, the agent's own runners, which it paces.
        return _agents.Start(Backend, options, Events, cloudJobPollingInterval is null ? new RunnerRegistry([Runner(polling)]) : null);
    }

    public Task<LaunchJob> StateAsync(string id, params LaunchJobState[] states) => WaitForJob.AnyStateAsync(Backend, id, states, TimeSpan.FromSeconds(20));

    public async Task<LaunchJob> JobAsync(string id) => (await Backend.GetJobAsync(id, CancellationToken.None))!;

    public Task<AwsServer.TrainingJob> TrainingJobAsync(string name) =>
        Eventually.Until(() => Task.FromResult(Server.Job(name)), $"SageMaker training job {name}");

    public string Log(LaunchJob job) => File.Exists(job.LogPath) ? File.ReadAllText(job.LogPath!) : "";

    public async ValueTask DisposeAsync()
    {
        await _agents.DisposeAsync();
        Server.Dispose();
        Backend.Dispose();
        Dir.Dispose();
    }
}
