using System.Diagnostics;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.WandbJobs;
using static WandbLaunch.TestSupport.LaunchAssertions;

namespace WandbLaunch.Engine.Tests.WandbJobs;

public sealed class JobCreatorTests : IDisposable
{
    private readonly TempStore _store = new("ent");
    private readonly TempDirectory _dir = new();
    private readonly Dictionary<string, string> _env = new() { ["WANDB_PROJECT"] = "proj" };

    public void Dispose()
    {
        _dir.Dispose();
        _store.Dispose();
    }

    private JobCreator Creator(JobCodeLimits? limits = null) =>
        new(_store.Backend, n => _env.GetValueOrDefault(n), limits);

    private IArtifactStore Artifacts => TestArtifacts.For(_store.Backend);

    /// <summary>Every job and code version of ent/proj, where each job here is logged.</summary>
    private Task<IReadOnlyList<ArtifactVersion>> StoredAsync() => Artifacts.AllVersionsAsync("ent", "proj");

    private string CodeDir()
    {
        _dir.Write("code/main.py", "print('hi')\n");
        _dir.Write("code/requirements.txt", "wandb\r\nnumpy==1.26\n");
        _dir.Write("code/sub/util.py", "x = 1\n");
        _dir.Write("code/wandb/debug.log", "log");
        _dir.Write("code/.git/config", "[core]");
        _dir.Write("code/sub/wandb/kept.txt", "only the top-level wandb/ is left out");
        return _dir.File("code");
    }

    private static JobCreateRequest Code(string path, params string[] entryPoint) =>
        new() { Source = JobCreateSource.Code, Path = path, EntryPoint = entryPoint.Length == 0 ? null : entryPoint };

    [Theory]
    [InlineData("job-https://github.com/o/r.git_", "job-https___github.com_o_r.git_")]
    [InlineData("a b/c:d", "a_b_c_d")]
    [InlineData("ok-name_1.2", "ok-name_1.2")]
    public void Artifact_names_are_made_safe_as_wandb_does(string name, string safe) => Assert.Equal(safe, JobCreator.MakeArtifactNameSafe(name));

    [Fact]
    public void A_name_over_128_characters_keeps_its_first_and_last_63_with_two_dots_between()
    {
        var name = new string('a', 100) + new string('b', 100);
        var safe = JobCreator.MakeArtifactNameSafe(name);
        Assert.Equal(128, safe.Length);
        Assert.Equal(new string('a', 63) + ".." + new string('b', 63), safe);
        Assert.Equal(new string('x', 128), JobCreator.MakeArtifactNameSafe(new string('x', 128)));
    }

    [Theory]
    [InlineData(".", "main.py", null, "code-main.py", "job-main.py")]
    [InlineData("./src/", "train.py", null, "code-src_train.py", "job-src_train.py")]
    [InlineData("/home/u/my code", "train.py", null, "code-home_u_my_code_train.py", "job-home_u_my_job_train.py")]
    [InlineData(".", "main.py", "mine", "code-mine", "mine")]
    public void Code_jobs_are_named_from_the_directory_and_entry_file(string directory, string entryFile, string? name, string codeName, string jobName)
    {
        var code = JobCreator.CodeArtifactName(directory, entryFile, name);
        Assert.Equal(codeName, code);
        Assert.Equal(jobName, name ?? JobCreator.CodeJobName(code));
    }

    [Theory]
    [InlineData("test/docker-image-path:alias1", "job-test_docker-image-path", "alias1")]
    [InlineData("port:5000/test/docker-image-path", "job-port_5000_test_docker-image-path", null)]
    [InlineData("python:3.12-slim", "job-python", "3.12-slim")]
    public void Image_jobs_are_named_from_the_image_and_take_its_tag_as_an_alias(string image, string name, string? alias) =>
        Assert.Equal((name, alias), JobCreator.ImageJobName(image));

    [Fact]
    public async Task A_code_job_uploads_the_directory_without_wandb_and_git_and_freezes_its_requirements()
    {
        var directory = CodeDir();
        var result = await Creator().CreateAsync(Code(directory, "python", "main.py") with { Runtime = "3.11", Aliases = ["train"], Description = "d" }, default);

        Assert.Equal(ArtifactCommitKind.Created, result.Kind);
        Assert.Equal("Created", result.Action);
        Assert.Equal(("ent", "proj", "job", "v0"), (result.Job.Entity, result.Job.Project, result.Job.Type, result.Job.Version));
        Assert.Equal(JobCreator.CodeJobName(JobCreator.CodeArtifactName(directory, "main.py", null)), result.Job.Name);
        Assert.Equal(["train", "latest"], result.Aliases);
        Assert.Equal($"Created job: ent/proj/{result.Job.Name}:v0, with aliases: train, latest", result.Message);
        Assert.True(result.Job.Metadata!["_partial"]!.GetValue<bool>());
        Assert.Equal("d", result.Job.Description);

        var code = Assert.IsType<ArtifactVersion>(result.Code);
        Assert.Equal("code", code.Type);
        var manifest = await Artifacts.GetManifestAsync(code, default);
        Assert.Equal(["main.py", "requirements.txt", "sub/util.py", "sub/wandb/kept.txt"], manifest.Entries.Select(e => e.Path).Order(StringComparer.Ordinal));

        var json = JsonNode.Parse(await Artifacts.ReadTextAsync(result.Job, "wandb-job.json"))!;
        JsonEqual($$$"""
            {"_version": "v0", "source_type": "artifact",
             "source": {"artifact": "wandb-artifact://_id/{{{code.Id}}}", "entrypoint": ["python", "main.py"], "notebook": false},
             "input_types": {"wb_type": "typedDict", "params": {"type_map": {} } },
             "output_types": {"wb_type": "typedDict", "params": {"type_map": {} } },
             "runtime": "3.11"}
            """, json);
        Assert.Equal("wandb\nnumpy==1.26", await Artifacts.ReadTextAsync(result.Job, "requirements.frozen.txt"));
        Assert.Equal(result.Definition.CodeArtifact, JobDefinition.Parse(json.ToJsonString(), "j").CodeArtifact);
    }

    [Fact]
    public async Task Without_an_entry_point_a_code_job_runs_main_py_with_a_warning_and_build_fields_set_version_0_17_0()
    {
        var result = await Creator().CreateAsync(Code(CodeDir()) with { BuildContext = "sub", Dockerfile = "Dockerfile", BaseImage = "python:3.11" }, default);
        Assert.Equal(["main.py"], result.Definition.EntryPoint);
        Assert.Contains(result.Warnings, w => w.Contains("defaulting to main.py"));
        Assert.Contains(result.Warnings, w => w.Contains("python file without an executable"));
        Assert.Contains(result.Warnings, w => w.Contains("No Python version"));
        Assert.Null(result.Definition.Runtime);
        var json = JsonNode.Parse(await Artifacts.ReadTextAsync(result.Job, "wandb-job.json"))!;
        Assert.Equal("0.17.0", json["_version"]!.GetValue<string>());
        Assert.Equal("sub", json["source"]!["build_context"]!.GetValue<string>());
        Assert.Equal("python:3.11", json["source"]!["base_image"]!.GetValue<string>());
    }

    [Fact]
    public async Task Creating_the_same_job_again_is_unchanged_and_a_changed_file_makes_a_new_version()
    {
        var directory = CodeDir();
        var first = await Creator().CreateAsync(Code(directory, "python main.py"), default);
        var again = await Creator().CreateAsync(Code(directory, "python main.py"), default);
        Assert.Equal(ArtifactCommitKind.Unchanged, again.Kind);
        Assert.StartsWith("No changes detected for job: ", again.Message);
        Assert.Equal(first.Job.Id, again.Job.Id);
        Assert.Equal(first.Code!.Id, again.Code!.Id);

        _dir.Write("code/main.py", "print('changed')\n");
        var changed = await Creator().CreateAsync(Code(directory, "python main.py"), default);
        Assert.Equal(ArtifactCommitKind.Updated, changed.Kind);
        Assert.Equal("v1", changed.Job.Version);
        Assert.Equal("v1", changed.Code!.Version);
        Assert.Equal(["python", "main.py"], changed.Definition.EntryPoint);
    }

    [Fact]
    public async Task Links_are_never_followed_out_of_the_code_directory()
    {
        if (OperatingSystem.IsWindows()) return;
        var directory = CodeDir();
        var secret = _dir.Write("secret.txt", "not for upload");
        File.CreateSymbolicLink(Path.Join(directory, "inside.py"), Path.Join(directory, "main.py"));
        File.CreateSymbolicLink(Path.Join(directory, "outside.txt"), secret);
        Directory.CreateSymbolicLink(Path.Join(directory, "subdir-link"), Path.Join(directory, "sub"));
        File.CreateSymbolicLink(Path.Join(directory, "dangling"), Path.Join(directory, "nothing"));

        var result = await Creator().CreateAsync(Code(directory, "python main.py"), default);
        var manifest = await Artifacts.GetManifestAsync(result.Code!, default);
        var paths = manifest.Entries.Select(e => e.Path).ToList();
        Assert.Contains("inside.py", paths);
        Assert.Equal("print('hi')\n", await Artifacts.ReadTextAsync(result.Code!, "inside.py"));
        Assert.DoesNotContain("outside.txt", paths);
        Assert.DoesNotContain(paths, p => p.StartsWith("subdir-link", StringComparison.Ordinal));
        Assert.DoesNotContain("dangling", paths);
        var warning = Assert.Single(result.Warnings, w => w.StartsWith("Left out", StringComparison.Ordinal));
        Assert.Contains("outside.txt (a link out of the directory)", warning);
        Assert.Contains("subdir-link (a link to a directory)", warning);
    }

    [Fact]
    public async Task A_directory_over_the_limits_is_refused_and_nothing_is_stored()
    {
        var directory = CodeDir();
        var e = await ThrowsLaunchAsync("CodeDirectoryTooLarge", () => Creator(new JobCodeLimits(MaxFiles: 3)).CreateAsync(Code(directory, "python main.py"), default));
        Assert.Contains(directory, e.Message);
        await ThrowsLaunchAsync("CodeDirectoryTooLarge", () => Creator(new JobCodeLimits(MaxBytes: 10)).CreateAsync(Code(directory, "python main.py"), default));
        Assert.Empty(await StoredAsync());
    }

    [Theory]
    [InlineData("3.10.1")]
    [InlineData("python3.10")]
    [InlineData("2.7")]
    public async Task The_runtime_must_be_a_minor_version_of_python_3(string runtime)
    {
        var e = await ThrowsLaunchAsync("InvalidJobRuntime", () => Creator().CreateAsync(Code(CodeDir(), "python main.py") with { Runtime = runtime }, default));
        Assert.Contains("3.10 or 3.11", e.Message);
        Assert.Empty(await StoredAsync());
    }

    [Fact]
    public async Task Bad_input_is_refused_with_its_own_error_before_anything_is_stored()
    {
        var directory = CodeDir();
        var name = await ThrowsLaunchAsync("InvalidJobArtifactName", () => Creator().CreateAsync(Code(directory, "python main.py") with { Name = "my job" }, default));
        Assert.Contains("Did you mean: my_job", name.Message);
        await ThrowsLaunchAsync("InvalidJobArtifactName", () => Creator().CreateAsync(Code(directory, "python main.py") with { Name = new string('n', 129) }, default));
        await ThrowsLaunchAsync("InvalidJobAlias", () => Creator().CreateAsync(Code(directory, "python main.py") with { Aliases = ["v3"] }, default));
        await ThrowsLaunchAsync("InvalidJobAlias", () => Creator().CreateAsync(Code(directory, "python main.py") with { Aliases = ["a/b"] }, default));
        await ThrowsLaunchAsync("CodeDirectoryNotFound", () => Creator().CreateAsync(Code(_dir.File("missing"), "python main.py"), default));
        await ThrowsLaunchAsync("InvalidBuildContext", () => Creator().CreateAsync(Code(directory, "python main.py") with { BuildContext = "../up" }, default));
        await ThrowsLaunchAsync("InvalidDockerfilePath", () => Creator().CreateAsync(Code(directory, "python main.py") with { Dockerfile = "/etc/Dockerfile" }, default));
        await ThrowsLaunchAsync("BaseImageForImageJob", () => Creator().CreateAsync(new JobCreateRequest { Source = JobCreateSource.Image, Path = "img:1", BaseImage = "python:3.11" }, default));
        _env.Remove("WANDB_PROJECT");
        var project = await ThrowsLaunchAsync("JobProjectMissing", () => Creator().CreateAsync(Code(directory, "python main.py"), default));
        Assert.Contains("WANDB_PROJECT", project.Message);
        Assert.Empty(await StoredAsync());
    }

    [Fact]
    public async Task Entity_and_project_come_from_the_parameters_then_the_environment_then_the_backend()
    {
        var fromBackend = await Creator().CreateAsync(new JobCreateRequest { Source = JobCreateSource.Image, Path = "repo/img:1" }, default);
        Assert.Equal(("ent", "proj"), (fromBackend.Job.Entity, fromBackend.Job.Project));
        _env["WANDB_ENTITY"] = "team";
        var fromEnvironment = await Creator().CreateAsync(new JobCreateRequest { Source = JobCreateSource.Image, Path = "repo/img:1" }, default);
        Assert.Equal("team", fromEnvironment.Job.Entity);
        var given = await Creator().CreateAsync(new JobCreateRequest { Source = JobCreateSource.Image, Path = "repo/img:1", Entity = "me", Project = "p2" }, default);
        Assert.Equal(("me", "p2"), (given.Job.Entity, given.Job.Project));
    }

    [Fact]
    public async Task An_image_job_runs_the_image_and_ignores_runtime_and_entry_point()
    {
        var result = await Creator().CreateAsync(new JobCreateRequest
        {
            Source = JobCreateSource.Image, Path = "registry.example:5000/team/trainer:2024.1", Aliases = ["prod"], EntryPoint = ["python", "x.py"],
        }, default);
        Assert.Equal("job-registry.example_5000_team_trainer", result.Job.Name);
        Assert.Equal(["prod", "2024.1", "latest"], result.Aliases);
        Assert.Equal(["2024.1", "latest", "prod"], result.Job.Aliases.Order(StringComparer.Ordinal));
        Assert.Contains(result.Warnings, w => w.Contains("ignoring entrypoint"));
        JsonEqual("""
            {"_version": "v0", "source_type": "image", "source": {"image": "registry.example:5000/team/trainer:2024.1"},
             "input_types": {"wb_type": "typedDict", "params": {"type_map": {} } },
             "output_types": {"wb_type": "typedDict", "params": {"type_map": {} } },
             "runtime": ""}
            """, JsonNode.Parse(await Artifacts.ReadTextAsync(result.Job, "wandb-job.json")));
        Assert.Equal("", await Artifacts.ReadTextAsync(result.Job, "requirements.frozen.txt"));
    }

    // ---- git jobs, on a real repository made with git init

    private static string Git(string directory, params string[] arguments)
    {
        var info = new ProcessStartInfo("git") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        info.Environment["GIT_AUTHOR_NAME"] = info.Environment["GIT_COMMITTER_NAME"] = "t";
        info.Environment["GIT_AUTHOR_EMAIL"] = info.Environment["GIT_COMMITTER_EMAIL"] = "t@example.com";
        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEnd();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"git {string.Join(' ', arguments)}: {error}");
        return output.Trim();
    }

    private string Repository(string? runtimeTxt = null, string? pythonVersion = null)
    {
        var repo = _dir.File("repo");
        Directory.CreateDirectory(repo);
        Git(repo, "init", "--quiet", "--initial-branch=main");
        _dir.Write("repo/main.py", "print(1)\n");
        if (runtimeTxt is not null) _dir.Write("repo/runtime.txt", runtimeTxt);
        if (pythonVersion is not null) _dir.Write("repo/.python-version", pythonVersion);
        Git(repo, "add", "-A");
        Git(repo, "commit", "--quiet", "-m", "one");
        return repo;
    }

    private static JobCreateRequest GitJob(string uri, params string[] entryPoint) =>
        new() { Source = JobCreateSource.Git, Path = uri, EntryPoint = entryPoint.Length == 0 ? null : entryPoint };

    [Fact]
    public async Task A_local_repository_is_refused_unless_the_agent_opt_in_is_set()
    {
        var repo = Repository();
        var e = await ThrowsLaunchAsync("InvalidGitUri", () => Creator().CreateAsync(GitJob(repo, "python main.py"), default));
        Assert.Contains("WANDB_LAUNCH_ALLOW_LOCAL_GIT=1", e.Message);
        Assert.Empty(await StoredAsync());
    }

    [Theory]
    [InlineData("https://example.com/org/repo")]
    [InlineData("http://github.com/o/r.git")]
    [InlineData("-uhttps://github.com/o/r.git")]
    [InlineData("https://user:hunter2@github.com/o/r.git")]
    [InlineData("https://ghp_hunter2@github.com/o/r.git")]
    [InlineData("ext::sh -c touch% /tmp/pwned")]
    public async Task Git_uris_are_checked_as_wandb_checks_them_and_never_stored_with_a_password(string uri)
    {
        var e = await ThrowsLaunchAsync("InvalidGitUri", () => Creator().CreateAsync(GitJob(uri, "python main.py"), default));
        Assert.DoesNotContain("hunter2", e.Message);
        Assert.Empty(await StoredAsync());
    }

    [Fact]
    public async Task A_git_job_pins_the_resolved_commit_and_reads_the_runtime_from_runtime_txt()
    {
        _env["WANDB_LAUNCH_ALLOW_LOCAL_GIT"] = "1";
        var repo = Repository(runtimeTxt: "3.9.7\n", pythonVersion: "3.12\n");
        var head = Git(repo, "rev-parse", "HEAD");
        var result = await Creator().CreateAsync(GitJob(repo, "python main.py"), default);
        Assert.Equal(JobCreator.GitJobName(repo), result.Job.Name);
        Assert.EndsWith("_", result.Job.Name);
        Assert.Equal("3.9", result.Definition.Runtime);
        JsonEqual($$$"""
            {"_version": "v0", "source_type": "repo",
             "source": {"git": {"remote": "{{{repo}}}", "commit": "{{{head}}}"}, "entrypoint": ["python", "main.py"], "notebook": false},
             "input_types": {"wb_type": "typedDict", "params": {"type_map": {} } },
             "output_types": {"wb_type": "typedDict", "params": {"type_map": {} } },
             "runtime": "3.9"}
            """, JsonNode.Parse(await Artifacts.ReadTextAsync(result.Job, "wandb-job.json")));
        Assert.Equal("", await Artifacts.ReadTextAsync(result.Job, "requirements.frozen.txt"));
        Assert.Null(result.Code);

        var runtimeGiven = await Creator().CreateAsync(GitJob(repo, "python main.py") with { Runtime = "3.11", Name = "pinned" }, default);
        Assert.Equal("3.11", runtimeGiven.Definition.Runtime);
    }

    [Fact]
    public async Task A_git_job_resolves_branches_tags_and_commits_and_refuses_one_that_does_not_exist()
    {
        _env["WANDB_LAUNCH_ALLOW_LOCAL_GIT"] = "1";
        var repo = Repository(pythonVersion: "3.12.1\nsomething else\n");
        var first = Git(repo, "rev-parse", "HEAD");
        Git(repo, "tag", "v1.0");
        Git(repo, "checkout", "--quiet", "-b", "feature");
        _dir.Write("repo/feature.py", "print(2)\n");
        Git(repo, "add", "-A");
        Git(repo, "commit", "--quiet", "-m", "two");
        var second = Git(repo, "rev-parse", "HEAD");

        Assert.Equal(first, (await Creator().CreateAsync(GitJob(repo, "python main.py"), default)).Definition.GitCommit);
        Assert.Equal(second, (await Creator().CreateAsync(GitJob(repo, "python main.py") with { GitHash = "feature" }, default)).Definition.GitCommit);
        var tagged = await Creator().CreateAsync(GitJob(repo, "python main.py") with { GitHash = "v1.0" }, default);
        Assert.Equal(first, tagged.Definition.GitCommit);
        Assert.Equal("3.12", tagged.Definition.Runtime);
        Assert.Equal(first, (await Creator().CreateAsync(GitJob(repo, "python main.py") with { GitHash = first[..10] }, default)).Definition.GitCommit);

        var count = (await StoredAsync()).Count;
        Assert.True(count > 0, "the jobs above are stored");
        var e = await ThrowsLaunchAsync("GitReferenceNotFound", () => Creator().CreateAsync(GitJob(repo, "python main.py") with { GitHash = "no-such-branch" }, default));
        Assert.Contains("no-such-branch", e.Message);
        await ThrowsLaunchAsync("InvalidGitVersion", () => Creator().CreateAsync(GitJob(repo, "python main.py") with { GitHash = "--upload-pack=evil" }, default));
        Assert.Equal(count, (await StoredAsync()).Count);
    }

    [Fact]
    public async Task A_git_job_refuses_an_entry_point_with_dot_dot_and_a_runtime_file_that_is_not_python_3_n()
    {
        _env["WANDB_LAUNCH_ALLOW_LOCAL_GIT"] = "1";
        var repo = Repository(runtimeTxt: "python-3.10.4\n");
        await ThrowsLaunchAsync("InvalidEntryPoint", () => Creator().CreateAsync(GitJob(repo, "python ../main.py"), default));
        var e = await ThrowsLaunchAsync("InvalidJobRuntime", () => Creator().CreateAsync(GitJob(repo, "python main.py"), default));
        Assert.Contains("runtime.txt", e.Message);
        var noDefault = await Creator().CreateAsync(GitJob(repo) with { Runtime = "3.10" }, default);
        Assert.Equal(["main.py"], noDefault.Definition.EntryPoint);
        Assert.Contains(noDefault.Warnings, w => w.Contains("No entrypoint provided for git job, defaulting to main.py"));
    }
}
