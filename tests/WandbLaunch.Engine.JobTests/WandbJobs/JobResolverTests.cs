using System.Diagnostics;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.WandbJobs;

namespace WandbLaunch.Engine.JobTests.WandbJobs;

/// <summary>The resolver without an agent: the lowered spec's precedence rules, and an unchanged job resolved again from the cache.</summary>
public sealed class JobResolverTests : IDisposable
{
    private readonly TempStore _local = new("ent");

    public void Dispose() => _local.Dispose();

    private TempDirectory Dir => _local.Dir;

    private IArtifactStore Store => TestArtifacts.For(_local.Backend);

    private static JobDefinition Definition(JsonObject json) => JobDefinition.Parse(json.ToJsonString(), "ent/proj/job-x");

    [Fact]
    public void Lowering_takes_the_overrides_first_then_the_job_and_the_job_s_runtime_and_build_context()
    {
        var json = TestJobs.ArtifactDefinition("id", "python", "train.py");
        json["source"]!["args"] = TestJobs.Strings(["--job-arg"]);
        json["source"]!["build_context"] = "sub";
        var spec = LaunchSpec.Parse(JsonNode.Parse("""{"job": "ent/proj/job-x", "python_version": "3.8", "git": {"version": "main"}, "overrides": {"args": ["--mine"]}}"""));

        var lowered = JobResolver.Lower(spec, Definition(json), "/runs/r/code");

        Assert.Equal("/runs/r/code", lowered.Uri);
        Assert.Equal(["python", "train.py"], lowered.Overrides.EntryPoint!);
        Assert.Equal(["--mine"], lowered.Overrides.Args!);
        Assert.Equal("3.11", lowered.PythonVersion);
        Assert.Equal("sub", lowered.BuildContext);
        Assert.Null(lowered.GitVersion);
        Assert.Equal("ent/proj/job-x", lowered.JobArtifactName);
        Assert.Null(spec.Uri); // a copy: the spec as submitted is unchanged

        var own = LaunchSpec.Parse(JsonNode.Parse("""{"job": "ent/proj/job-x", "overrides": {"entry_point": ["bash", "go.sh"]}}"""));
        var second = JobResolver.Lower(own, Definition(json), "/c");
        Assert.Equal(["bash", "go.sh"], second.Overrides.EntryPoint!);
        Assert.Equal(["--job-arg"], second.Overrides.Args!);
    }

    [Fact]
    public void Lowering_an_image_job_makes_its_image_the_docker_image()
    {
        var lowered = JobResolver.Lower(LaunchSpec.Parse(new JsonObject { ["job"] = "ent/proj/job-x" }), Definition(TestJobs.ImageDefinition("repo/img:1")), null);
        Assert.Equal("repo/img:1", lowered.PrebuiltImage);
        Assert.Null(lowered.Uri);
        Assert.Null(lowered.Overrides.EntryPoint);
    }

    [Fact]
    public async Task A_notebook_job_runs_as_a_script_made_from_its_code_cells_without_shell_lines_as_W_and_B_converts_it()
    {
        var notebook = new JsonObject
        {
            ["nbformat"] = 4,
            ["cells"] = new JsonArray(
                new JsonObject { ["cell_type"] = "markdown", ["source"] = TestJobs.Strings(["# Training\n", "notes"]) },
                new JsonObject { ["cell_type"] = "code", ["source"] = TestJobs.Strings(["!pip install something\n", "import sys\n", "steps = 3"]) },
                new JsonObject { ["cell_type"] = "code", ["source"] = "print('trained', steps, 'steps with', sys.argv[1:])" }),
        };
        var code = await TestJobs.LogAsync(Store, Dir.Path, "ent", "proj", "code-nb", "code", new Dictionary<string, string> { ["nb/train.ipynb"] = notebook.ToJsonString() });
        var json = TestJobs.ArtifactDefinition(code.Id, "python3", "nb/train.ipynb");
        json["source"]!["notebook"] = true;
        await TestJobs.LogJobAsync(Store, Dir.Path, "ent", "proj", "job-nb", json);
        var resolver = new JobResolver(Store, new ArtifactFiles(Dir.File("cache")), allowLocalGit: false);
        using var log = JobLog.Discard();

        var resolved = await resolver.ResolveAsync(LaunchSpec.Parse(new JsonObject { ["job"] = "ent/proj/job-nb" }), Dir.File("runs"), "r1", "item", log, CancellationToken.None);

        Assert.Equal(["python3", "nb/train.py"], resolved.Spec.Overrides.EntryPoint!);
        var script = File.ReadAllText(Path.Combine(resolved.CodeDirectory!, "nb/train.py"));
        Assert.DoesNotContain("pip install", script);
        Assert.Contains("# # Training", script);
        // The script runs with the real Python, from the code directory as the runner does.
        var info = new ProcessStartInfo("python3") { WorkingDirectory = resolved.CodeDirectory!, RedirectStandardOutput = true };
        foreach (var argument in new[] { "nb/train.py", "--lr", "0.1" }) info.ArgumentList.Add(argument);
        using var python = Process.Start(info)!;
        var output = python.StandardOutput.ReadToEnd();
        python.WaitForExit();
        Assert.Equal(0, python.ExitCode);
        Assert.Equal("trained 3 steps with ['--lr', '0.1']\n", output);
    }

    [Fact]
    public async Task A_notebook_job_whose_entry_point_is_not_a_notebook_fails_at_stage_agent_naming_it()
    {
        var code = await TestJobs.LogAsync(Store, Dir.Path, "ent", "proj", "code-nb", "code", new Dictionary<string, string> { ["train.py"] = "print(1)" });
        var json = TestJobs.ArtifactDefinition(code.Id, "python", "train.py");
        json["source"]!["notebook"] = true;
        await TestJobs.LogJobAsync(Store, Dir.Path, "ent", "proj", "job-nb", json);
        var resolver = new JobResolver(Store, new ArtifactFiles(Dir.File("cache")), allowLocalGit: false);
        using var log = JobLog.Discard();

        var e = await Assert.ThrowsAsync<JobFailedException>(() => resolver.ResolveAsync(LaunchSpec.Parse(new JsonObject { ["job"] = "ent/proj/job-nb" }), Dir.File("runs"), "r1", "item", log, CancellationToken.None));

        Assert.Equal(FailureStage.Agent, e.Stage);
        Assert.Contains("'train.py', not a .ipynb notebook", e.Message);
        Assert.False(Directory.Exists(Dir.File("runs/r1/code")));
    }

    [Fact]
    public async Task Resolving_an_unchanged_artifact_job_again_is_a_cache_hit_well_under_a_second()
    {
        var files = Enumerable.Range(0, 200).ToDictionary(i => $"pkg/m{i}.py", i => new string('x', 4_000 + i));
        var code = await TestJobs.LogAsync(Store, Dir.Path, "ent", "proj", "code-big", "code", files);
        await TestJobs.LogJobAsync(Store, Dir.Path, "ent", "proj", "job-big", TestJobs.ArtifactDefinition(code.Id, "python", "pkg/m0.py"));
        var counted = new FaultyArtifactStore(Store);
        var resolver = new JobResolver(counted, new ArtifactFiles(Dir.File("cache")), allowLocalGit: false);
        var spec = LaunchSpec.Parse(new JsonObject { ["job"] = "ent/proj/job-big" });
        using var log = JobLog.Discard();
        await resolver.ResolveAsync(spec, Dir.File("runs"), "r1", "item", log, CancellationToken.None);
        var opened = counted.FilesOpened;
        Assert.True(opened >= files.Count, $"the first resolve fetched {opened} files, not every file of the code");

        var again = await resolver.ResolveAsync(spec, Dir.File("runs"), "r2", "item", log, CancellationToken.None);

        Assert.Equal(opened, counted.FilesOpened);
        Assert.Equal(files.Count + 1, Directory.EnumerateFiles(again.CodeDirectory!, "*", SearchOption.AllDirectories).Count()); // + requirements.frozen.txt
    }
}
