using System.Text.Json.Nodes;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;

namespace WandbLaunch.Engine.GoogleTests;

/// <summary>Submitting to a Vertex queue refuses a config the service would reject, before anything is queued.</summary>
public sealed class SubmitTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly SqliteLaunchBackend _backend;

    public SubmitTests()
    {
        _backend = new SqliteLaunchBackend(_dir.File("launch.db"), "ml-team");
    }

    public void Dispose()
    {
        _backend.Dispose();
        _dir.Dispose();
    }

    private async Task<QueueKey> QueueAsync(JsonObject config) =>
        await TestQueues.CreateAsync(_backend, "ml-team", "vertex", LaunchResource.GcpVertex, config.ToJsonString());

    private Task<LaunchJob> PushAsync(QueueKey queue, JsonObject? resourceArgs = null)
    {
        var spec = new JsonObject { ["docker"] = new JsonObject { ["docker_image"] = "us-central1-docker.pkg.dev/ml-project/launch/train:1" }, ["project"] = "llm" };
        if (resourceArgs is not null) spec["resource_args"] = resourceArgs;
        return _backend.PushAsync(queue, new PushRequest { Spec = spec }, CancellationToken.None);
    }

    [Fact]
    public async Task AQueueConfigTheServiceWouldRejectIsRefusedAndNothingIsQueued()
    {
        var queue = await QueueAsync(CustomJobBodyTests.Changed("pool.machine_spec.accelerator_type=\"NVIDIA_TESLA_X1\""));
        var e = await Assert.ThrowsAsync<LaunchException>(() => PushAsync(queue));
        Assert.Equal("InvalidVertexConfig", e.ErrorId);
        Assert.Contains("resource_args.gcp-vertex.spec.worker_pool_specs[0].machine_spec.accelerator_type", e.Message);
        Assert.Empty(await _backend.GetJobsAsync(new JobQuery(), CancellationToken.None));
    }

    [Fact]
    public async Task ASpecsResourceArgsUnderWandbsOtherNameVertexAreTakenAndChecked()
    {
        var queue = await QueueAsync(CustomJobBodyTests.TypicalQueue());
        var pushed = await PushAsync(queue, new JsonObject { ["vertex"] = new JsonObject { ["run"] = new JsonObject { ["timeout"] = 60 } } });
        Assert.Equal(60, (int)pushed.GetSpec().ResourceArgsFor(LaunchResource.GcpVertex)!["run"]!["timeout"]!);
        var e = await Assert.ThrowsAsync<LaunchException>(() => PushAsync(queue, new JsonObject { ["vertex"] = new JsonObject { ["run"] = new JsonObject { ["timeout"] = "soon" } } }));
        Assert.Contains("run.timeout", e.Message);
    }

    [Fact]
    public async Task SubmitChecksAndQueuesWithoutTheAgentsRegionOrCredentials()
    {
        var queue = await QueueAsync(CustomJobBodyTests.TypicalQueue());
        var submission = new Services.JobSubmission(_backend, _ => null);
        var image = "us-central1-docker.pkg.dev/ml-project/launch/train:1";
        var job = await submission.SubmitAsync(new Services.SubmitOptions { Queue = queue, DockerImage = image, EntryPoint = ["python", "train.py"] }, CancellationToken.None);
        Assert.Equal(LaunchJobState.Pending, job.State);
        var preview = await submission.CheckAsync(new Services.SubmitOptions { Queue = queue, DockerImage = image }, CancellationToken.None);
        Assert.Contains("\"imageUri\": \"" + image + "\"", preview.Rendered.Text);

        var bad = await TestQueues.CreateAsync(_backend, "ml-team", "vertex-bad", LaunchResource.GcpVertex, CustomJobBodyTests.Changed("spec.staging_bucket=-").ToJsonString());
        var e = await Assert.ThrowsAsync<LaunchException>(() => submission.SubmitAsync(new Services.SubmitOptions { Queue = bad, DockerImage = image }, CancellationToken.None));
        Assert.Equal("InvalidVertexConfig", e.ErrorId);
        Assert.Single(await _backend.GetJobsAsync(new JobQuery(), CancellationToken.None));
    }

    // runner/vertex_runner.py drops keys it does not read; Submit queues the job and says which (the cmdlet writes them as warnings).
    [Fact]
    public async Task AKeyWandbDoesNotReadIsQueuedAndNamedInTheSubmitsWarnings()
    {
        var queue = await QueueAsync(CustomJobBodyTests.Changed("run.region=\"us-east1\""));
        var submission = new Services.JobSubmission(_backend, _ => null);
        var options = new Services.SubmitOptions { Queue = queue, DockerImage = "us-central1-docker.pkg.dev/ml-project/launch/train:1" };
        var preview = await submission.CheckAsync(options, CancellationToken.None);
        Assert.StartsWith("resource_args.gcp-vertex.run.region is not read by W&B's Vertex runner and is dropped", Assert.Single(preview.Rendered.Warnings));
        Assert.DoesNotContain("us-east1", preview.Rendered.Text);
        var job = await submission.SubmitAsync(preview, CancellationToken.None);
        Assert.Equal(LaunchJobState.Pending, job.State);
    }

    [Fact]
    public async Task ATypicalConfigIsQueued()
    {
        var queue = await QueueAsync(CustomJobBodyTests.TypicalQueue());
        var pushed = await PushAsync(queue);
        Assert.Equal("gs://ml-staging", (string?)pushed.GetSpec().ResourceArgsFor(LaunchResource.GcpVertex)!["spec"]!["staging_bucket"]);
    }
}
