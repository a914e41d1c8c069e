using System.Text.Json.Nodes;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;

namespace WandbLaunch.Engine.DockerTests.Builders;

/// <summary>
/// The docker builder uses the engine's BuildKit where it has one (W&amp;B: <c>docker buildx build</c> when buildx is
/// installed, <c>builder/docker_builder.py</c>), and the classic builder when DOCKER_BUILDKIT=0; real engine, real agent.
/// </summary>
public sealed class BuildKitTests : IAsyncDisposable
{
    private readonly TempStore _store = new("ent");
    private readonly TestAgents _agents = new();

    public async ValueTask DisposeAsync()
    {
        await _agents.DisposeAsync();
        _store.Dispose();
    }

    private async Task<LaunchJob> RunRepoJobAsync(string dockerfile, string name, IDictionary<string, string>? extraEnvironment = null)
    {
        var repository = _store.Dir.File("repo-" + name);
        var commit = TestJobs.InitRepository(repository, new Dictionary<string, string>
        {
            ["Job.Dockerfile"] = dockerfile,
            ["run.sh"] = "echo ran-" + name + "\n",
        });
        var definition = TestJobs.RepoDefinition(repository, commit, "sh", "/app/run.sh");
        definition["source"]!["dockerfile"] = "Job.Dockerfile";
        await TestJobs.LogJobAsync(TestArtifacts.For(_store.Backend), _store.Dir.Path, "ent", "proj", name, definition);
        var queue = await TestQueues.CreateAsync(_store.Backend, "ent", "q-" + name, LaunchResource.LocalContainer, null, false, null);
        var environment = new Dictionary<string, string>
        {
            [ArtifactFiles.CacheDirectoryVariable] = _store.Dir.File("cache"),
            [Code.GitCheckout.AllowLocalVariable] = "1",
        };
        if (Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } host) environment["DOCKER_HOST"] = host;
        foreach (var (key, value) in extraEnvironment ?? new Dictionary<string, string>()) environment[key] = value;
        var config = new LaunchAgentConfig { Queues = [queue.Name], Entity = "ent", Builder = new BuilderSettings { Type = "docker" } };
        _agents.Start(TestArtifacts.Agent(_store.Open()), TestAgents.Options(config, _store.Dir.File("runs-" + name), TestAgents.EnvironmentOf(environment), startTimeout: TimeSpan.FromSeconds(120)));
        var spec = new JsonObject { ["job"] = $"ent/proj/{name}", ["project"] = "proj" };
        return await WaitForJob.EndAsync(_store.Backend, (await _store.Backend.PushAsync(queue, new() { Spec = spec }, CancellationToken.None)).Id, TimeSpan.FromSeconds(120));
    }

    [DockerFact]
    public async Task A_job_builds_with_BuildKit_its_cache_mounts_work_its_step_output_is_logged_and_failed_packages_warn()
    {
        var token = Guid.NewGuid().ToString("N")[..8];
        // RUN --mount=type=cache is BuildKit-only (W&B's pip cache line when buildx exists); the classic builder refuses it.
        var dockerfile = $"FROM {TestServices.BaseImage}\nCOPY run.sh /app/\n" +
                         $"RUN --mount=type=cache,mode=0777,target=/root/.cache/pip echo step-output-{token} && echo 'ERROR: Failed to install: pkg-{token}. During automated build process.'\n" +
                         "ENTRYPOINT [\"sh\", \"/app/run.sh\"]\n";

        var job = await RunRepoJobAsync(dockerfile, "job-bk-" + token);

        var log = File.ReadAllText(job.LogPath!);
        Assert.True(job.State == LaunchJobState.Finished, $"{job.State} ({job.FailureStage}): {job.FailureMessage}\n{log}");
        Assert.Contains("with BuildKit", log);
        Assert.Contains($"step-output-{token}", log);
        Assert.Contains("RUN --mount=type=cache", log);
        Assert.Contains($"ran-job-bk-{token}", log);
        Assert.Contains(job.Warnings, w => w.Message.Contains($"Failed to install the following packages: pkg-{token}", StringComparison.Ordinal));
    }

    [DockerFact]
    public async Task A_failing_BuildKit_step_fails_the_job_at_stage_build_naming_the_step_and_its_output()
    {
        var token = Guid.NewGuid().ToString("N")[..8];
        var dockerfile = $"FROM {TestServices.BaseImage}\nRUN echo about-to-fail-{token} && exit 3\n";

        var job = await RunRepoJobAsync(dockerfile, "job-bkfail-" + token);

        Assert.Equal(LaunchJobState.Failed, job.State);
        Assert.Equal(FailureStage.Build, job.FailureStage);
        Assert.Contains($"RUN echo about-to-fail-{token} && exit 3", job.FailureMessage);
        Assert.Contains("exit code: 3", job.FailureMessage);
        Assert.Contains($"about-to-fail-{token}", File.ReadAllText(job.LogPath!));
    }

    [DockerFact]
    public async Task DOCKER_BUILDKIT_0_builds_with_the_classic_builder()
    {
        var token = Guid.NewGuid().ToString("N")[..8];
        var dockerfile = $"FROM {TestServices.BaseImage}\nCOPY run.sh /app/\nRUN echo classic-{token}\nENTRYPOINT [\"sh\", \"/app/run.sh\"]\n";

        var job = await RunRepoJobAsync(dockerfile, "job-classic-" + token, new Dictionary<string, string> { ["DOCKER_BUILDKIT"] = "0" });

        var log = File.ReadAllText(job.LogPath!);
        Assert.True(job.State == LaunchJobState.Finished, $"{job.State} ({job.FailureStage}): {job.FailureMessage}\n{log}");
        Assert.DoesNotContain("with BuildKit", log);
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(log, $"(?m)Step 1/5 : FROM {System.Text.RegularExpressions.Regex.Escape(TestServices.BaseImage)}$"), log);
        Assert.Contains($"classic-{token}", log);
    }
}
