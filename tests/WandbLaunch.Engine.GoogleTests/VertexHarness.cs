using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Cloud.Google;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Runners.Vertex;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Tests.Google;

namespace WandbLaunch.Engine.GoogleTests;

/// <summary>
/// The Google stand-in, a service account key for it, a real SQLite store and real agents whose only runner is the
/// Vertex runner (polling every 100-300 ms instead of 5-30 s), polling a gcp-vertex queue in a gcp environment.
/// </summary>
internal sealed class VertexHarness : IAsyncDisposable
{
    public const string Entity = "ml-team";
    public const string Image = "us-central1-docker.pkg.dev/ml-project/launch/train:abc123";
    public const string ApiKey = "local-0123456789abcdef0123456789abcdef01234567";

    public static readonly VertexPolling FastPolling = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(100));

    private readonly TestAgents _agents = new();

    public VertexHarness()
    {
        Env = new ConcurrentDictionary<string, string>
        {
            ["GOOGLE_APPLICATION_CREDENTIALS"] = Dir.Write("sa.json", Server.ServiceAccountKeyJson()),
            [GoogleEndpoints.VertexOverrideVariable] = Server.Url.ToString(),
            ["WANDB_API_KEY"] = ApiKey,
            ["HOME"] = Dir.Path,
        };
        Backend = new SqliteLaunchBackend(Dir.File("launch.db"), Entity);
    }

    public TempDirectory Dir { get; } = new();

    public GoogleServer Server { get; } = new();

    public SqliteLaunchBackend Backend { get; }

    public ConcurrentDictionary<string, string> Env { get; }

    public RecordingAgentEvents Events { get; } = new();

    public string? Environment(string name) => Env.TryGetValue(name, out var value) ? value : null;

    public VertexRunner Runner() => new(Environment, FastPolling, auth => new GoogleApiClient(auth) { BaseBackoff = TimeSpan.FromMilliseconds(10), MaxBackoff = TimeSpan.FromMilliseconds(50) });

    public Task QueueAsync(JsonObject? config = null) =>
        TestQueues.CreateAsync(Backend, Entity, "vertex", LaunchResource.GcpVertex, (config ?? CustomJobBodyTests.TypicalQueue()).ToJsonString(), createdBy: "tester");

    public async Task<LaunchJob> SubmitAsync(string extraSpecJson = "{}")
    {
        var spec = (JsonObject)JsonNode.Parse(extraSpecJson)!;
        spec["docker"] = new JsonObject { ["docker_image"] = Image };
        spec["project"] ??= "llm";
        spec["entity"] ??= Entity;
        spec["overrides"] ??= new JsonObject { ["entry_point"] = new JsonArray("python", "train.py"), ["args"] = new JsonArray("--epochs", "3") };
        return await Backend.PushAsync(new QueueKey(Entity, LaunchDefaults.Project, "vertex"), new PushRequest { Spec = spec }, CancellationToken.None);
    }

    public RunningAgent StartAgent(bool leaveJobsRunning = false, string region = "us-central1", TimeSpan? cloudJobPollingInterval = null)
    {
        var config = new LaunchAgentConfig
        {
            Queues = ["vertex"], Entity = Entity, MaxJobs = -1, Builder = new BuilderSettings { Type = "noop" },
            Environment = new EnvironmentSettings { Type = "gcp", Region = region },
        };
        var options = TestAgents.Options(config, Dir.File("work"), Environment, "vertex-test", TimeSpan.FromSeconds(30), leaveJobsRunning: leaveJobsRunning,
            cloudJobPollingInterval: cloudJobPollingInterval);
        // With a fixed interval, the agent's own runners, which it paces.
        return _agents.Start(Backend, options, Events, cloudJobPollingInterval is null ? new RunnerRegistry([Runner()]) : null);
    }

    /// <summary>A job the agent started and whose CustomJob runs: the launch job, the CustomJob's name and the agent.</summary>
    public sealed record Running(LaunchJob Submitted, string Name, RunningAgent Agent);

    /// <summary>Creates the typical queue, submits a job, starts an agent and returns once the job's CustomJob runs.</summary>
    public async Task<Running> RunningAsync(bool leaveJobsRunning = false)
    {
        await QueueAsync();
        var submitted = await SubmitAsync();
        var agent = StartAgent(leaveJobsRunning);
        var name = await CustomJobAsync(submitted.RunId);
        Server.SetState(name, "JOB_STATE_RUNNING");
        await StateAsync(submitted.Id, LaunchJobState.Running);
        return new Running(submitted, name, agent);
    }

    /// <summary>The CustomJob the agent created for a run.</summary>
    public Task<string> CustomJobAsync(string runId) =>
        Eventually.Until(() => Task.FromResult(Server.JobNames.FirstOrDefault(n => (string?)Server.Job(n)!["labels"]?[VertexCustomJob.RunIdLabel] == runId)),
            $"a CustomJob for run {runId}");

    public async Task<LaunchJob> JobAsync(string id) => (await Backend.GetJobAsync(id, CancellationToken.None))!;

    public Task<LaunchJob> StateAsync(string id, params LaunchJobState[] states) => WaitForJob.AnyStateAsync(Backend, id, states, TimeSpan.FromSeconds(20));

    public static string Log(LaunchJob job) => File.Exists(job.LogPath) ? File.ReadAllText(job.LogPath!) : "";

    public async ValueTask DisposeAsync()
    {
        await _agents.DisposeAsync();
        Server.Dispose();
        Backend.Dispose();
        Dir.Dispose();
    }
}
