using System.Text.Json.Nodes;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Storage.Sqlite;

namespace WandbLaunch.Engine.JobTests.WandbJobs;

/// <summary>
/// W&amp;B jobs (spec <c>job</c>) run by a real agent on local-process: real git repositories, the local store's
/// artifacts (<see cref="TestArtifacts"/>), the digest-checked cache in a temp folder. Tests that need to count or slow
/// the agent's downloads, or a deleted version, give the agent the real store behind a <see cref="FaultyArtifactStore"/>.
/// </summary>
public sealed class WandbJobAgentTests : IAsyncLifetime
{
    private const string Project = "proj";
    private readonly Store _store = new();
    private readonly TestAgents _agents = new();
    private readonly SqliteLaunchBackend _agentBackend;
    private readonly FaultyArtifactStore _faults;
    private QueueKey _queue = null!;

    public WandbJobAgentTests()
    {
        _agentBackend = _store.Open();
        _faults = new FaultyArtifactStore(_agentBackend.Artifacts);
    }

    private IArtifactStore Artifacts => TestArtifacts.For(_store.Backend);

    private string Repository => _store.Dir.File("repo");

    private string Cache => _store.Dir.File("cache");

    private string Runs => _store.Dir.File("runs");

    public async Task InitializeAsync() => _queue = await _store.QueueAsync("q");

    public async Task DisposeAsync()
    {
        await _agents.DisposeAsync();
        _store.Dispose();
    }

    private RunningAgent StartAgent(bool allowLocalGit = true, TimeSpan? startTimeout = null, bool withFaults = false)
    {
        var environment = new Dictionary<string, string> { [ArtifactFiles.CacheDirectoryVariable] = Cache };
        if (allowLocalGit) environment[Code.GitCheckout.AllowLocalVariable] = "1";
        var config = new LaunchAgentConfig { Queues = [_queue.Name], Entity = Store.Entity };
        var options = TestAgents.Options(config, Runs, TestAgents.EnvironmentOf(environment), startTimeout: startTimeout);
        return _agents.Start(TestArtifacts.Agent(_agentBackend, withFaults ? _faults : null), options);
    }

    private Task<LaunchJob> SubmitAsync(string job, JsonObject? overrides = null) =>
        _store.PushAsync(_queue, new JsonObject { ["job"] = job, ["entity"] = Store.Entity, ["project"] = Project, ["overrides"] = overrides ?? new JsonObject() });

    private async Task<LaunchJob> RunAsync(string job, JsonObject? overrides = null) =>
        await WaitForJob.EndAsync(_store.Backend, (await SubmitAsync(job, overrides)).Id, TimeSpan.FromSeconds(30));

    private static string Log(LaunchJob job) => File.ReadAllText(job.LogPath!);

    private static void AssertFinished(LaunchJob job) =>
        Assert.True(job.State == LaunchJobState.Finished, $"{job.State} ({job.FailureStage}): {job.FailureMessage}\n{(job.LogPath is { } l && File.Exists(l) ? File.ReadAllText(l) : "")}");

    // The resolver removes what it wrote before the failure is recorded: nothing is left at any time after.
    private void AssertNothingLeft(LaunchJob job) =>
        Assert.False(Directory.Exists(Path.Combine(Runs, job.RunId)) && Directory.EnumerateFileSystemEntries(Path.Combine(Runs, job.RunId), "*", SearchOption.AllDirectories).Any(),
            "the run directory holds nothing once the job failed");

    private const string Script = "echo \"code:$(cat message.txt)|artifacts:$WANDB_ARTIFACTS|config:$WANDB_CONFIG|arg:$1|frozen:$(cat requirements.frozen.txt)|docker:${WANDB_DOCKER:-none}\"\n";

    private string RepositoryWithTwoCommits(out string first, out string second)
    {
        first = TestJobs.InitRepository(Repository, new Dictionary<string, string> { ["run.sh"] = Script, ["message.txt"] = "one\n" });
        second = TestJobs.Commit(Repository, new Dictionary<string, string> { ["message.txt"] = "two\n" }, "second");
        return Repository;
    }

    [Fact]
    public async Task A_repo_job_runs_its_commit_with_its_patch_frozen_requirements_entry_point_and_the_spec_overrides()
    {
        var remote = RepositoryWithTwoCommits(out var first, out _);
        const string patch = "diff --git a/message.txt b/message.txt\n--- a/message.txt\n+++ b/message.txt\n@@ -1 +1 @@\n-one\n+patched\n";
        await TestJobs.LogJobAsync(Artifacts, _store.Dir.Path, Store.Entity, Project, "job-repo", TestJobs.RepoDefinition(remote, first, "sh", "run.sh"),
            new Dictionary<string, string> { ["diff.patch"] = patch }, frozenRequirements: "numpy==2.0.0\n");
        StartAgent();

        var job = await RunAsync($"{Store.Entity}/{Project}/job-repo", new JsonObject { ["args"] = TestJobs.Strings(["hello"]), ["run_config"] = new JsonObject { ["lr"] = 0.5 } });

        AssertFinished(job);
        var log = Log(job);
        Assert.Contains($"code:patched|artifacts:{{\"_wandb_job\":\"{Store.Entity}/{Project}/job-repo\"}}|config:{{\"lr\":0.5}}|arg:hello|frozen:numpy==2.0.0|docker:none", log);
        Assert.Equal($"{Store.Entity}/{Project}/job-repo", job.GetSpec().JobArtifactName);
        Assert.Null(job.GetSpec().Uri); // the stored spec is the one submitted; the lowered one lived only in the agent
        await Eventually.Until(() => !Directory.Exists(Path.Combine(Runs, job.RunId)), "the run directory to be removed when the job ends");
    }

    [Fact]
    public async Task A_repo_job_whose_commit_names_a_branch_runs_that_branch_of_the_remote()
    {
        var remote = RepositoryWithTwoCommits(out var first, out _);
        TestJobs.Git(remote, "checkout", "--quiet", "-b", "feature", first);
        TestJobs.Commit(remote, new Dictionary<string, string> { ["message.txt"] = "feature\n" }, "on a branch");
        TestJobs.Git(remote, "checkout", "--quiet", "main");
        await TestJobs.LogJobAsync(Artifacts, _store.Dir.Path, Store.Entity, Project, "job-branch", TestJobs.RepoDefinition(remote, "feature", "sh", "run.sh"));
        StartAgent();

        var job = await RunAsync($"{Store.Entity}/{Project}/job-branch:latest");

        AssertFinished(job);
        Assert.Contains("code:feature|", Log(job));
    }

    [Fact]
    public async Task A_repo_job_run_again_at_the_same_commit_takes_its_checkout_from_the_agent_s_repository_cache()
    {
        var remote = RepositoryWithTwoCommits(out var first, out _);
        const string patch = "diff --git a/message.txt b/message.txt\n--- a/message.txt\n+++ b/message.txt\n@@ -1 +1 @@\n-one\n+patched\n";
        await TestJobs.LogJobAsync(Artifacts, _store.Dir.Path, Store.Entity, Project, "job-repo", TestJobs.RepoDefinition(remote, first, "sh", "run.sh"),
            new Dictionary<string, string> { ["diff.patch"] = patch });
        StartAgent();
        AssertFinished(await RunAsync($"{Store.Entity}/{Project}/job-repo"));
        // Without its remote, only the cache under WANDB_LAUNCH_CACHE_DIR can prepare the code.
        Directory.Move(remote, _store.Dir.File("repo-gone"));

        var again = await RunAsync($"{Store.Entity}/{Project}/job-repo");

        AssertFinished(again);
        Assert.Contains($"git fetch skipped: commit {first} copied from the repository cache", Log(again));
        Assert.Contains("code:patched|", Log(again));
        Assert.True(Directory.Exists(new Code.GitRepositoryCache(Cache).EntryOf(remote, first)));
    }

    [Fact]
    public async Task A_commit_that_does_not_exist_fails_at_stage_agent_naming_the_commit_and_the_remote_and_leaves_nothing()
    {
        var remote = RepositoryWithTwoCommits(out _, out _);
        const string missing = "0123456789abcdef0123456789abcdef01234567";
        await TestJobs.LogJobAsync(Artifacts, _store.Dir.Path, Store.Entity, Project, "job-gone", TestJobs.RepoDefinition(remote, missing, "sh", "run.sh"));
        StartAgent();

        var job = await RunAsync($"{Store.Entity}/{Project}/job-gone");

        Assert.Equal(LaunchJobState.Failed, job.State);
        Assert.Equal(FailureStage.Agent, job.FailureStage);
        Assert.Contains(missing, job.FailureMessage);
        Assert.Contains(remote, job.FailureMessage);
        AssertNothingLeft(job);
    }

    [Fact]
    public async Task A_local_repository_is_refused_unless_the_agent_opts_in()
    {
        var remote = RepositoryWithTwoCommits(out var first, out _);
        await TestJobs.LogJobAsync(Artifacts, _store.Dir.Path, Store.Entity, Project, "job-local", TestJobs.RepoDefinition(remote, first, "sh", "run.sh"));
        StartAgent(allowLocalGit: false);

        var job = await RunAsync($"{Store.Entity}/{Project}/job-local");

        Assert.Equal(LaunchJobState.Failed, job.State);
        Assert.Equal(FailureStage.Agent, job.FailureStage);
        Assert.Contains($"Refusing to fetch git remote '{remote}'", job.FailureMessage);
        Assert.Contains(Code.GitCheckout.AllowLocalVariable, job.FailureMessage);
        AssertNothingLeft(job);
    }

    private async Task<ArtifactVersion> LogArtifactJobAsync(string name = "job-code")
    {
        var code = await TestJobs.LogAsync(Artifacts, _store.Dir.Path, Store.Entity, Project, "code-x", "code",
            new Dictionary<string, string> { ["run.sh"] = Script, ["message.txt"] = "from the code artifact\n", ["lib/helper.txt"] = "nested\n" });
        await TestJobs.LogJobAsync(Artifacts, _store.Dir.Path, Store.Entity, Project, name, TestJobs.ArtifactDefinition(code.Id, "sh", "run.sh"));
        return code;
    }

    [Fact]
    public async Task An_artifact_job_runs_its_code_artifact_and_a_second_run_takes_every_file_from_the_cache()
    {
        await LogArtifactJobAsync();
        StartAgent(withFaults: true);

        var first = await RunAsync($"{Store.Entity}/{Project}/job-code:v0");
        AssertFinished(first);
        Assert.Contains("code:from the code artifact|", Log(first));
        Assert.Contains("frozen:wandb==0.19.0", Log(first));
        var opened = _faults.FilesOpened;
        Assert.True(opened >= 3, $"the first run fetched {opened} files, not every file of the code");

        var second = await RunAsync($"{Store.Entity}/{Project}/job-code");
        AssertFinished(second);
        Assert.Contains("code:from the code artifact|", Log(second));
        Assert.Equal(opened, _faults.FilesOpened);
    }

    [Fact]
    public async Task A_corrupt_cache_file_is_never_used_it_is_fetched_again()
    {
        await LogArtifactJobAsync();
        StartAgent(withFaults: true);
        AssertFinished(await RunAsync($"{Store.Entity}/{Project}/job-code"));
        var files = new ArtifactFiles(Cache);
        var cached = files.CachePathOf(ArtifactDigest.OfBytes("from the code artifact\n"u8));
        File.WriteAllText(cached, "from somewhere else\n");
        var opened = _faults.FilesOpened;

        var again = await RunAsync($"{Store.Entity}/{Project}/job-code");

        AssertFinished(again);
        Assert.Contains("code:from the code artifact|", Log(again));
        Assert.Equal(opened + 1, _faults.FilesOpened);
        Assert.Equal("from the code artifact\n", File.ReadAllText(cached));
        Assert.Contains("does not match its digest or size; fetching it again", Log(again));
    }

    [Fact]
    public async Task A_download_that_does_not_match_its_digest_fails_the_job_at_stage_agent_and_is_not_cached()
    {
        var code = await LogArtifactJobAsync();
        var entry = (await Artifacts.GetManifestAsync(code, CancellationToken.None)).Find("message.txt")!;
        // The local store's object file changed on disk (a bad disk, an edit): its manifest still has the old digest.
        File.WriteAllText(await TestArtifacts.ObjectFileAsync(_store.Backend, code, "message.txt"), "tampered with\n");
        StartAgent();

        var job = await RunAsync($"{Store.Entity}/{Project}/job-code");

        Assert.Equal(LaunchJobState.Failed, job.State);
        Assert.Equal(FailureStage.Agent, job.FailureStage);
        Assert.Contains("message.txt", job.FailureMessage);
        Assert.Contains(entry.Digest, job.FailureMessage);
        Assert.Contains(ArtifactDigest.OfBytes("tampered with\n"u8), job.FailureMessage);
        Assert.False(File.Exists(new ArtifactFiles(Cache).CachePathOf(entry.Digest)), "the bad download is not in the cache");
        Assert.Empty(Directory.EnumerateFiles(Cache, "*.tmp", SearchOption.AllDirectories));
        AssertNothingLeft(job);
    }

    [Fact]
    public async Task A_job_definition_with_an_unknown_key_or_without_a_required_one_fails_naming_it()
    {
        var remote = RepositoryWithTwoCommits(out var first, out _);
        var unknown = TestJobs.RepoDefinition(remote, first, "sh", "run.sh");
        unknown["source"]!["surprise"] = true;
        var missing = TestJobs.RepoDefinition(remote, first, "sh", "run.sh");
        ((JsonObject)missing["source"]!["git"]!).Remove("commit");
        await TestJobs.LogJobAsync(Artifacts, _store.Dir.Path, Store.Entity, Project, "job-unknown", unknown);
        await TestJobs.LogJobAsync(Artifacts, _store.Dir.Path, Store.Entity, Project, "job-missing", missing);
        StartAgent();

        var a = await RunAsync($"{Store.Entity}/{Project}/job-unknown");
        var b = await RunAsync($"{Store.Entity}/{Project}/job-missing");

        Assert.Equal((LaunchJobState.Failed, FailureStage.Agent), (a.State, a.FailureStage));
        Assert.Contains("unknown key \"source.surprise\"", a.FailureMessage);
        Assert.Equal((LaunchJobState.Failed, FailureStage.Agent), (b.State, b.FailureStage));
        Assert.Contains("has no source.git.commit", b.FailureMessage);
        AssertNothingLeft(a);
        AssertNothingLeft(b);
    }

    [Fact]
    public async Task An_artifact_that_is_not_a_job_a_missing_job_and_a_missing_alias_are_each_a_clear_failure()
    {
        await TestJobs.LogAsync(Artifacts, _store.Dir.Path, Store.Entity, Project, "data-x", "dataset", new Dictionary<string, string> { ["a.csv"] = "1\n" });
        await LogArtifactJobAsync();
        StartAgent();

        var dataset = await RunAsync($"{Store.Entity}/{Project}/data-x");
        var missing = await RunAsync($"{Store.Entity}/{Project}/job-nobody-logged");
        var alias = await RunAsync($"{Store.Entity}/{Project}/job-code:prod");

        Assert.Equal(FailureStage.Agent, dataset.FailureStage);
        Assert.Contains("is of type 'dataset', not 'job'", dataset.FailureMessage);
        Assert.Equal(FailureStage.Agent, missing.FailureStage);
        Assert.Contains($"Error accessing job {Store.Entity}/{Project}/job-nobody-logged:latest", missing.FailureMessage);
        Assert.Equal(FailureStage.Agent, alias.FailureStage);
        Assert.Contains("prod", alias.FailureMessage);
    }

    [Fact]
    public async Task A_deleted_code_artifact_fails_the_job()
    {
        var code = await LogArtifactJobAsync();
        _faults.MarkDeleted(code);
        StartAgent(withFaults: true);

        var job = await RunAsync($"{Store.Entity}/{Project}/job-code");

        Assert.Equal(FailureStage.Agent, job.FailureStage);
        Assert.Contains("references deleted code artifact", job.FailureMessage);
    }

    [Fact]
    public async Task An_image_job_is_refused_by_local_process_as_W_and_B_refuses_it()
    {
        await TestJobs.LogJobAsync(Artifacts, _store.Dir.Path, Store.Entity, Project, "job-image", TestJobs.ImageDefinition("busybox:1.36"));
        StartAgent();

        var job = await RunAsync($"{Store.Entity}/{Project}/job-image");

        Assert.Equal(FailureStage.Agent, job.FailureStage);
        Assert.Contains("busybox:1.36", job.FailureMessage);
        Assert.Contains("cannot run docker images", job.FailureMessage);
    }

    [Fact]
    public async Task Fetching_the_code_is_not_counted_in_the_start_timeout()
    {
        await LogArtifactJobAsync();
        _faults.OpenDelay = TimeSpan.FromMilliseconds(700); // 5 files: 3.5 s, more than the start timeout
        StartAgent(startTimeout: TimeSpan.FromSeconds(2), withFaults: true);

        var job = await RunAsync($"{Store.Entity}/{Project}/job-code");

        AssertFinished(job);
    }
}
