using System.Text;
using System.Text.Json.Nodes;
using Docker.DotNet.Models;
using WandbLaunch.Engine.Docker;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners.LocalContainer;
using WandbLaunch.Engine.Storage.Sqlite;

namespace WandbLaunch.Engine.DockerTests.Runners;

/// <summary>
/// W&amp;B's local-container runner (wandb/sdk/launch/runner/local_container.py) as a W&amp;B user relies on it:
/// images a job names are pulled before each run, a failed pull stops the job only when the engine lacks the image,
/// and a W&amp;B server on localhost is reached through the host's network. Real agent, real engine.
/// </summary>
public sealed class LocalContainerWandbParityTests : IAsyncDisposable
{
    private readonly TempStore _store = new("ent");
    private readonly TestAgents _agents = new();

    public async ValueTask DisposeAsync()
    {
        await _agents.DisposeAsync();
        _store.Dispose();
    }

    private async Task<LaunchJob> RunImageJobAsync(string image, string script, IReadOnlyDictionary<string, string>? extraEnvironment = null)
    {
        var token = Guid.NewGuid().ToString("N")[..8];
        var definition = TestJobs.ImageDefinition(image);
        definition["source"]!["entrypoint"] = TestJobs.Strings(["sh", "-c", script]);
        await TestJobs.LogJobAsync(TestArtifacts.For(_store.Backend), _store.Dir.Path, "ent", "proj", "job-" + token, definition);
        var queue = await TestQueues.CreateAsync(_store.Backend, "ent", "containers-" + token, LaunchResource.LocalContainer, null, false, null);
        var environment = new Dictionary<string, string> { [ArtifactFiles.CacheDirectoryVariable] = _store.Dir.File("cache") };
        if (Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } host) environment["DOCKER_HOST"] = host;
        foreach (var (name, value) in extraEnvironment ?? new Dictionary<string, string>()) environment[name] = value;
        var config = new LaunchAgentConfig { Queues = [queue.Name], Entity = "ent", Builder = new BuilderSettings { Type = "docker" } };
        _agents.Start(TestArtifacts.Agent(_store.Open()), TestAgents.Options(config, _store.Dir.File("runs-" + token), TestAgents.EnvironmentOf(environment), startTimeout: TimeSpan.FromSeconds(120)));
        var spec = new JsonObject { ["job"] = $"ent/proj/job-{token}:v0", ["project"] = "proj" };
        return await WaitForJob.EndAsync(_store.Backend, (await _store.Backend.PushAsync(queue, new() { Spec = spec }, CancellationToken.None)).Id, TimeSpan.FromSeconds(120));
    }

    // local_container.py run(): pull_docker_image first; on failure only a warning when docker_image_exists.
    [DockerFact]
    public async Task An_image_the_job_names_is_pulled_first_and_a_failed_pull_of_an_image_the_engine_has_only_warns()
    {
        var job = await RunImageJobAsync(TestServices.BaseImage, "echo ran-local-copy");

        var log = File.ReadAllText(job.LogPath!);
        Assert.True(job.State == LaunchJobState.Finished, $"{job.State} ({job.FailureStage}): {job.FailureMessage}\n{log}");
        Assert.Contains($"pulling {TestServices.BaseImage}", log);
        Assert.Contains($"pulling {TestServices.BaseImage} failed", log);
        Assert.Contains("ran-local-copy", log);
    }

    // local_container.py run(): pull_docker_image before every run, so a tag moved in the registry is followed even
    // when the engine holds an older image under that tag.
    [DockerFact]
    public async Task An_image_the_job_names_is_pulled_even_when_the_engine_has_an_older_copy_of_the_tag()
    {
        using var engine = DockerEngine.Connect(Environment.GetEnvironmentVariable);
        var image = $"{TestServices.Registry}/wbl-parity-{Guid.NewGuid().ToString("N")[..8]}/img";
        var auth = new AuthConfig { ServerAddress = TestServices.Registry, Username = TestServices.RegistryUser, Password = TestServices.RegistryPassword };
        var maker = await engine.Client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = TestServices.BaseImage, Entrypoint = ["sh", "-c", "echo from-registry > /marker"],
        });
        try
        {
            await engine.Client.Containers.StartContainerAsync(maker.ID, new ContainerStartParameters());
            await engine.Client.Containers.WaitContainerAsync(maker.ID);
            await engine.Client.Images.CommitContainerChangesAsync(new CommitContainerChangesParameters { ContainerID = maker.ID, RepositoryName = image, Tag = "1" });
        }
        finally
        {
            await engine.Client.Containers.RemoveContainerAsync(maker.ID, new ContainerRemoveParameters { Force = true });
        }
        string? pushError = null;
        await engine.Client.Images.PushImageAsync(image, new ImagePushParameters { Tag = "1" }, auth, new Progress(m => pushError ??= m.Error?.Message));
        Assert.Null(pushError);
        // The engine's copy of the tag is now the base image, without /marker.
        await engine.Client.Images.TagImageAsync(TestServices.BaseImage, new ImageTagParameters { RepositoryName = image, Tag = "1" });
        var dockerConfig = _store.Dir.File("docker-config");
        Directory.CreateDirectory(dockerConfig);
        var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{TestServices.RegistryUser}:{TestServices.RegistryPassword}"));
        File.WriteAllText(Path.Combine(dockerConfig, "config.json"), new JsonObject { ["auths"] = new JsonObject { [TestServices.Registry] = new JsonObject { ["auth"] = basic } } }.ToJsonString());
        try
        {
            var job = await RunImageJobAsync($"{image}:1", "cat /marker 2>/dev/null || echo stale-local-copy",
                new Dictionary<string, string> { ["DOCKER_CONFIG"] = dockerConfig });

            var log = File.ReadAllText(job.LogPath!);
            Assert.True(job.State == LaunchJobState.Finished, $"{job.State} ({job.FailureStage}): {job.FailureMessage}\n{log}");
            Assert.Contains("from-registry", log);
            Assert.DoesNotContain("stale-local-copy", log);
        }
        finally
        {
            await engine.Client.Images.DeleteImageAsync($"{image}:1", new ImageDeleteParameters { Force = true });
        }
    }

    private sealed class Progress(Action<JSONMessage> report) : IProgress<JSONMessage>
    {
        public void Report(JSONMessage value) => report(value);
    }

    // local_container.py run(): a failed pull of an image the engine does not have raises LaunchError.
    [DockerFact]
    public async Task A_failed_pull_of_an_image_the_engine_lacks_fails_the_job()
    {
        var image = $"wandblaunch-absent-{Guid.NewGuid():N}:1";

        var job = await RunImageJobAsync(image, "echo never");

        Assert.Equal(LaunchJobState.Failed, job.State);
        Assert.Contains($"The image {image} is not on the agent's host and pulling it failed", job.FailureMessage);
    }

    // local_container.py _populate_docker_args: base_url on localhost → network host (+ add-host on Linux).
    [DockerFact]
    public async Task A_localhost_wandb_server_gives_the_container_the_hosts_network_and_host_docker_internal()
    {
        var job = await RunImageJobAsync(TestServices.BaseImage, "echo nets:$(ls /sys/class/net | sort | tr '\\n' ,); echo hosts:$(grep -c host.docker.internal /etc/hosts)",
            new Dictionary<string, string> { ["WANDB_BASE_URL"] = "http://localhost:8080" });

        var log = File.ReadAllText(job.LogPath!);
        Assert.True(job.State == LaunchJobState.Finished, $"{job.State} ({job.FailureStage}): {job.FailureMessage}\n{log}");
        var hostInterfaces = string.Join(',', Directory.GetFileSystemEntries("/sys/class/net").Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Contains($"nets:{hostInterfaces},", log);
        Assert.Contains("hosts:1", log);
    }

    [Theory]
    [InlineData("http://localhost:8080", true)]
    [InlineData("https://localhost", true)]
    [InlineData("http://localhost.example.com", true)]
    [InlineData("http://LOCALHOST:8080", false)]
    [InlineData("http://127.0.0.1:8080", false)]
    [InlineData("https://api.wandb.ai", false)]
    public void Localhost_is_recognised_as_wandbs_regex_recognises_it(string url, bool local)
    {
        // utils.py _WANDB_LOCAL_DEV_URI_REGEX = ^https?://localhost (case-sensitive, a prefix).
        Assert.Equal(local, LocalContainerRunner.IsLocalhostUrl(url));
    }
}
