using System.Text.Json.Nodes;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Builders;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Storage.Sqlite;

namespace WandbLaunch.Engine.DockerTests.Agent;

/// <summary>A W&amp;B repo job built by the docker builder with the job's own Dockerfile and run on local-container, by a real agent and the real engine.</summary>
public sealed class WandbJobContainerTests : IAsyncDisposable
{
    private readonly TempStore _store = new("ent");
    private readonly TestAgents _agents = new();

    public async ValueTask DisposeAsync()
    {
        await _agents.DisposeAsync();
        _store.Dispose();
    }

    [DockerFact]
    public async Task A_repo_job_is_built_from_its_dockerfile_with_W_and_B_s_tag_run_in_a_container_and_not_rebuilt()
    {
        var token = Guid.NewGuid().ToString("N")[..8];
        var dockerfile = $"FROM {TestServices.BaseImage}\nCOPY run.sh message.txt /app/\nENTRYPOINT [\"sh\", \"/app/run.sh\"]\n";
        var repository = _store.Dir.File("repo");
        var commit = TestJobs.InitRepository(repository, new Dictionary<string, string>
        {
            ["docker/Job.Dockerfile"] = dockerfile,
            ["run.sh"] = "echo \"in-image:$(cat /app/message.txt)|$WANDB_ARTIFACTS|$WANDB_DOCKER|$1\"\n",
            ["message.txt"] = token + "\n",
        });
        var definition = TestJobs.RepoDefinition(repository, commit, "sh", "/app/run.sh");
        definition["source"]!["dockerfile"] = "docker/Job.Dockerfile";
        var name = "job-docker-" + token;
        var version = await TestJobs.LogJobAsync(TestArtifacts.For(_store.Backend), _store.Dir.Path, "ent", "proj", name, definition);
        var queue = await TestQueues.CreateAsync(_store.Backend, "ent", "containers", LaunchResource.LocalContainer, null, false, null);
        var environment = new Dictionary<string, string>
        {
            [ArtifactFiles.CacheDirectoryVariable] = _store.Dir.File("cache"),
            [Code.GitCheckout.AllowLocalVariable] = "1",
        };
        if (Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } host) environment["DOCKER_HOST"] = host;
        var config = new LaunchAgentConfig { Queues = [queue.Name], Entity = "ent", Builder = new BuilderSettings { Type = "docker" } };
        _agents.Start(TestArtifacts.Agent(_store.Open()), TestAgents.Options(config, _store.Dir.File("runs"), TestAgents.EnvironmentOf(environment), startTimeout: TimeSpan.FromSeconds(120)));
        var spec = new JsonObject { ["job"] = $"ent/proj/{name}", ["project"] = "proj", ["overrides"] = new JsonObject { ["args"] = TestJobs.Strings(["arg1"]) } };

        var first = await WaitForJob.EndAsync(_store.Backend, (await _store.Backend.PushAsync(queue, new() { Spec = spec }, CancellationToken.None)).Id, TimeSpan.FromSeconds(120));
        var second = await WaitForJob.EndAsync(_store.Backend, (await _store.Backend.PushAsync(queue, new() { Spec = spec }, CancellationToken.None)).Id, TimeSpan.FromSeconds(120));

        var image = $"ent__proj__{name}:{BuildPlanner.JobImageTag($"{name}:latest:v{version.Version}", dockerfile)}";
        foreach (var job in new[] { first, second })
        {
            var log = File.ReadAllText(job.LogPath!);
            Assert.True(job.State == LaunchJobState.Finished, $"{job.State} ({job.FailureStage}): {job.FailureMessage}\n{log}");
            Assert.Contains($"image {image} (Dockerfile: the job's dockerfile (docker/Job.Dockerfile))", log);
            Assert.Contains($"in-image:{token}|{{\"_wandb_job\":\"ent/proj/{name}\"}}|{image}|arg1", log);
        }
        Assert.Contains("already exists locally: build skipped", File.ReadAllText(second.LogPath!));
    }

    [DockerFact]
    public async Task An_image_job_runs_its_image_unbuilt_with_its_entry_point_and_WANDB_DOCKER()
    {
        var token = Guid.NewGuid().ToString("N")[..8];
        var definition = TestJobs.ImageDefinition(TestServices.BaseImage);
        definition["source"]!["entrypoint"] = TestJobs.Strings(["sh", "-c", $"echo image-job-{token}:$WANDB_DOCKER:$WANDB_ARTIFACTS"]);
        await TestJobs.LogJobAsync(TestArtifacts.For(_store.Backend), _store.Dir.Path, "ent", "proj", "job-image", definition);
        var queue = await TestQueues.CreateAsync(_store.Backend, "ent", "containers", LaunchResource.LocalContainer, null, false, null);
        var environment = new Dictionary<string, string> { [ArtifactFiles.CacheDirectoryVariable] = _store.Dir.File("cache") };
        if (Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } host) environment["DOCKER_HOST"] = host;
        var config = new LaunchAgentConfig { Queues = [queue.Name], Entity = "ent", Builder = new BuilderSettings { Type = "docker" } };
        _agents.Start(TestArtifacts.Agent(_store.Open()), TestAgents.Options(config, _store.Dir.File("runs"), TestAgents.EnvironmentOf(environment), startTimeout: TimeSpan.FromSeconds(120)));
        var spec = new JsonObject { ["job"] = "ent/proj/job-image:v0", ["project"] = "proj" };

        var job = await WaitForJob.EndAsync(_store.Backend, (await _store.Backend.PushAsync(queue, new() { Spec = spec }, CancellationToken.None)).Id, TimeSpan.FromSeconds(120));

        var log = File.ReadAllText(job.LogPath!);
        Assert.True(job.State == LaunchJobState.Finished, $"{job.State} ({job.FailureStage}): {job.FailureMessage}\n{log}");
        Assert.Contains($"image-job-{token}:{TestServices.BaseImage}:{{\"_wandb_job\":\"ent/proj/job-image:v0\"}}", log);
        Assert.DoesNotContain("building", log);
    }

    [DockerTheory]
    [InlineData("docker", true)]
    [InlineData("noop", false)]
    public async Task A_repo_job_runs_in_a_base_image_with_its_code_mounted_at_mnt_wandb_without_a_build(string builder, bool jobNamesBaseImage)
    {
        var token = Guid.NewGuid().ToString("N")[..8];
        var repository = _store.Dir.File("repo-" + builder);
        var commit = TestJobs.InitRepository(repository, new Dictionary<string, string>
        {
            ["run.sh"] = "echo \"mounted:$(cat message.txt)|pwd=$(pwd)\"\n",
            ["message.txt"] = token + "\n",
        });
        var definition = TestJobs.RepoDefinition(repository, commit, "sh", "run.sh");
        // W&B: the job's source.base_image; with the noop builder and none, builder.base_image of the resource_args.
        if (jobNamesBaseImage) definition["source"]!["base_image"] = TestServices.BaseImage;
        var name = $"job-base-{builder}-{token}";
        await TestJobs.LogJobAsync(TestArtifacts.For(_store.Backend), _store.Dir.Path, "ent", "proj", name, definition);
        var queue = await TestQueues.CreateAsync(_store.Backend, "ent", "mounted-" + builder, LaunchResource.LocalContainer, null, false, null);
        var environment = new Dictionary<string, string>
        {
            [ArtifactFiles.CacheDirectoryVariable] = _store.Dir.File("cache"),
            [Code.GitCheckout.AllowLocalVariable] = "1",
        };
        if (Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } host) environment["DOCKER_HOST"] = host;
        var config = new LaunchAgentConfig { Queues = [queue.Name], Entity = "ent", Builder = new BuilderSettings { Type = builder } };
        _agents.Start(TestArtifacts.Agent(_store.Open()), TestAgents.Options(config, _store.Dir.File("runs-" + builder), TestAgents.EnvironmentOf(environment), startTimeout: TimeSpan.FromSeconds(120)));
        var spec = new JsonObject { ["job"] = $"ent/proj/{name}", ["project"] = "proj" };
        if (!jobNamesBaseImage)
        {
            spec["resource_args"] = new JsonObject { ["local-container"] = new JsonObject { ["builder"] = new JsonObject { ["base_image"] = TestServices.BaseImage } } };
        }

        var job = await WaitForJob.EndAsync(_store.Backend, (await _store.Backend.PushAsync(queue, new() { Spec = spec }, CancellationToken.None)).Id, TimeSpan.FromSeconds(120));

        var log = File.ReadAllText(job.LogPath!);
        Assert.True(job.State == LaunchJobState.Finished, $"{job.State} ({job.FailureStage}): {job.FailureMessage}\n{log}");
        Assert.Contains($"mounted:{token}|pwd=/mnt/wandb", log);
        Assert.Contains(jobNamesBaseImage ? $"the job runs in its base image {TestServices.BaseImage}" : $"No builder configured. Using base image: {TestServices.BaseImage}", log);
        Assert.DoesNotContain("building", log);
    }
}
