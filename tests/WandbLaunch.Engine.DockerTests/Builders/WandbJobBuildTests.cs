using System.Formats.Tar;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Builders;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.WandbJobs;

namespace WandbLaunch.Engine.DockerTests.Builders;

/// <summary>
/// W&amp;B's build rules for W&amp;B jobs: the generated Dockerfile, text for text against the one W&amp;B's templates
/// give (<c>wandb-dockerfiles.json</c>, made with W&amp;B's template module), the build-context rules, the tag and the
/// image name.
/// </summary>
public sealed class WandbJobBuildTests : IDisposable
{
    private readonly TempDirectory _code = new();

    public void Dispose() => _code.Dispose();

    private static readonly JsonObject Expected = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Builders", "wandb-dockerfiles.json")))!;

    private static string ExpectedText(string name) => Expected[name]!.GetValue<string>();

    private WandbDockerfile.Result Generate(string python, string[] entryPoint, string user = "alice", int uid = 1000, string? accelerator = null) =>
        WandbDockerfile.Generate(new WandbDockerfile.Inputs
        {
            PythonVersion = python,
            CodeDirectory = _code.Path,
            EntryPoint = entryPoint,
            UserName = user,
            UserId = uid,
            AcceleratorBaseImage = accelerator,
        });

    [Fact]
    public void Frozen_requirements_are_installed_by_W_and_B_s_bootstrap_on_python_V_buster()
    {
        _code.Write("requirements.frozen.txt", "wandb==0.19.0\n");
        var result = Generate("3.10.12", ["python3.10", "train.py"]);
        Assert.Equal(ExpectedText("Py310Frozen"), result.Text);
        Assert.Equal("python-3.10.12", result.ExtraFiles["src/runtime.txt"]);
        Assert.Equal(WandbDockerfile.BootstrapScript, result.ExtraFiles[WandbDockerfile.BootstrapFileName]);
        Assert.Empty(result.Warnings);
    }

    [Fact]
    public void Requirements_txt_wins_from_python_3_12_the_base_is_bookworm_and_the_entry_point_is_Python_s_JSON()
    {
        _code.Write("requirements.txt", "numpy\n");
        _code.Write("requirements.frozen.txt", "wandb\n");
        var result = Generate("3.12", ["python", "src/é.py", "--x"]);
        Assert.Equal(ExpectedText("Py312Requirements"), result.Text);
        Assert.Contains("wandb is not present in requirements.txt.", result.Warnings);
    }

    [Fact]
    public void Pyproject_dependencies_become_requirements_txt_and_the_user_id_is_the_spec_s()
    {
        _code.Write("pyproject.toml", "[build-system]\nrequires = [\"x\"]\n\n[project]\nname = \"p\"\ndependencies = [\n  \"numpy>=1\", # math\n  'wandb[media]',\n]\n\n[tool.x]\ndependencies = [\"not-this\"]\n");
        var result = Generate("3.11.4", ["python", "main.py"], user: "bob", uid: 4242);
        Assert.Equal(ExpectedText("Py311Pyproject"), result.Text);
        Assert.Equal("numpy>=1\nwandb[media]", result.ExtraFiles["src/requirements.txt"]);
    }

    [Fact]
    public void Without_requirements_nothing_is_installed_and_W_and_B_s_warning_is_given()
    {
        var result = Generate("3.9", ["bash", "run.sh"]);
        Assert.Equal(ExpectedText("Py39None"), result.Text);
        Assert.Contains("No requirements file found. No packages will be installed.", result.Warnings);
    }

    [Fact]
    public void An_accelerator_base_image_installs_python_on_it()
    {
        _code.Write("requirements.frozen.txt", "wandb\n");
        var result = Generate("3.10", ["python", "train.py"], accelerator: "nvidia/cuda:12.2.0-runtime-ubuntu22.04");
        Assert.Equal(ExpectedText("AcceleratorPy310"), result.Text);
    }

    [Theory]
    [InlineData("3.10\nRUN curl evil | sh")]
    [InlineData("3")]
    [InlineData("latest")]
    public void A_python_version_that_is_not_a_version_never_reaches_the_Dockerfile(string version)
    {
        var e = Assert.Throws<JobFailedException>(() => Generate(version, ["python", "x.py"]));
        Assert.Equal(FailureStage.Build, e.Stage);
        Assert.Contains("is not a version", e.Message);
    }

    [Theory]
    [InlineData("nvidia/cuda:12 #x", "cannot contain whitespace or '#'")]
    [InlineData("nvidia/cuda@sha256:abc", "Expected digest to match sha256:<64 hex characters>.")]
    [InlineData("Nvidia/CUDA", "Expected a valid Docker image reference name.")]
    public void An_accelerator_base_image_is_checked_as_W_and_B_checks_it(string image, string message)
    {
        var e = Assert.Throws<JobFailedException>(() => WandbDockerfile.CheckAcceleratorImage(image));
        Assert.Equal(FailureStage.Build, e.Stage);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void The_accelerator_comes_from_builder_accelerator_else_builder_cuda_and_user_id_0_is_the_agent_s()
    {
        var job = Job(Definition());
        var args = JsonNode.Parse("""{"builder": {"accelerator": {"base_image": ""}, "cuda": {"base_image": "nvidia/cuda:12"}}}""")!.AsObject();
        var build = JobBuild.For(job, job.Spec, args);
        Assert.Equal("nvidia/cuda:12", build.AcceleratorBaseImage);
        Assert.Equal(1000, build.UserId);
        Assert.Equal(Environment.UserName, build.UserName);
        var bad = JsonNode.Parse("""{"builder": {"accelerator": {"base_image": 3}}}""")!.AsObject();
        Assert.Contains("Expected builder.accelerator.base_image to be a string", Assert.Throws<JobFailedException>(() => JobBuild.For(job, job.Spec, bad)).Message);
        var withUser = LaunchSpec.Parse(JsonNode.Parse("""{"docker": {"user_id": 4242}}"""));
        Assert.Equal(4242, JobBuild.For(job, withUser, new JsonObject()).UserId);
    }

    [Fact]
    public void The_tag_is_W_and_B_s_hash_of_the_source_string_and_the_Dockerfile_and_the_image_is_named_after_the_job()
    {
        Assert.Equal(Expected["_tag"]!.GetValue<string>(), BuildPlanner.JobImageTag("job-x:latest:vv3", ExpectedText("Py310Frozen")));
        var job = Job(Definition(), requested: "Ent/My.Proj/job-X", version: 3);
        Assert.Equal("job-X:latest:vv3", job.SourceString);
        Assert.Equal("ent__my.proj__job-x", job.ImageRepository);
        Assert.Equal("job-X:v2:vv2", Job(Definition(), requested: "Ent/My.Proj/job-X:v2", version: 2).SourceString);
        Assert.Equal("image", ResolvedJob.DockerSafeName("__--"));
        Assert.Equal("a__b", ResolvedJob.DockerSafeName("a.-_b"));
    }

    private static JsonObject Definition(string? dockerfile = null, string[]? entryPoint = null)
    {
        var definition = TestJobs.ArtifactDefinition("abc", entryPoint ?? ["python", "train.py"]);
        if (dockerfile is not null) definition["source"]!["dockerfile"] = dockerfile;
        return definition;
    }

    private ResolvedJob Job(JsonObject definitionJson, string requested = "ent/proj/job-x", int version = 0, JsonObject? spec = null)
    {
        var definition = JobDefinition.Parse(definitionJson.ToJsonString(), requested);
        var path = ArtifactPath.Parse(requested);
        var given = LaunchSpec.Parse(spec ?? new JsonObject { ["job"] = requested });
        return new ResolvedJob
        {
            Requested = path,
            Version = new ArtifactVersion { Id = "id", Entity = path.Entity, Project = path.Project, Name = path.Name, Type = "job", VersionIndex = version, Digest = "d" },
            Definition = definition,
            CodeDirectory = _code.Path,
            Spec = JobResolver.Lower(given, definition, _code.Path),
        };
    }

    private BuildPlan Plan(ResolvedJob job) => BuildPlanner.Plan(_code.Path, job.Spec, null, JobBuild.For(job, job.Spec, new JsonObject()));

    [Fact]
    public void The_job_s_dockerfile_is_used_under_its_build_context_and_must_exist()
    {
        _code.Write("sub/docker/Job.Dockerfile", "FROM x\n");
        var definition = Definition(dockerfile: "docker/Job.Dockerfile");
        definition["source"]!["build_context"] = "sub";
        var plan = Plan(Job(definition));
        Assert.Equal(Path.Combine(_code.Path, "sub"), plan.ContextDirectory);
        Assert.Equal("FROM x\n", plan.Dockerfile);
        Assert.Equal("the job's dockerfile (docker/Job.Dockerfile)", plan.DockerfileOrigin);
        var missing = Assert.Throws<JobFailedException>(() => Plan(Job(Definition(dockerfile: "nope/Dockerfile"))));
        Assert.Equal(FailureStage.Build, missing.Stage);
    }

    [Fact]
    public void Overrides_dockerfile_wins_over_the_job_s()
    {
        _code.Write("Job.Dockerfile", "FROM job\n");
        _code.Write("Mine.Dockerfile", "FROM mine\n");
        var plan = Plan(Job(Definition(dockerfile: "Job.Dockerfile"), spec: new JsonObject { ["job"] = "ent/proj/job-x", ["overrides"] = new JsonObject { ["dockerfile"] = "Mine.Dockerfile" } }));
        Assert.Equal("FROM mine\n", plan.Dockerfile);
    }

    [Fact]
    public void Dockerfile_wandb_beside_the_entry_point_makes_that_directory_the_context_and_the_entry_point_its_base_name()
    {
        _code.Write("app/Dockerfile.wandb", "FROM app\n");
        _code.Write("app/train.py", "");
        var job = Job(Definition(entryPoint: ["python", "app/train.py"]));
        var plan = Plan(job);
        Assert.Equal(Path.Combine(_code.Path, "app"), plan.ContextDirectory);
        Assert.Equal("FROM app\n", plan.Dockerfile);
        Assert.Equal(["python", "train.py"], BuildPlanner.EntryPointInImage(job, LaunchSpec.Parse(new JsonObject { ["job"] = "ent/proj/job-x" }))!);
        // An override's entry point is the user's: it is left as given.
        Assert.Null(BuildPlanner.EntryPointInImage(job, LaunchSpec.Parse(JsonNode.Parse("""{"job": "ent/proj/job-x", "overrides": {"entry_point": ["python", "app/train.py"]}}"""))));
    }

    [Fact]
    public void The_generated_context_has_the_code_under_src_the_bootstrap_at_the_root_and_the_Dockerfile()
    {
        _code.Write("train.py", "print(1)\n");
        _code.Write("requirements.frozen.txt", "wandb\n");
        _code.Write("runtime.txt", "python-2.7\n");
        var plan = Plan(Job(Definition()));
        Assert.Equal("src/", plan.ArchivePrefix);
        Assert.StartsWith("\n# ----- stage 1: build -----\nFROM python:3.11 as build", plan.Dockerfile);
        using var archive = ContextArchive.Create(plan);
        var entries = new Dictionary<string, string>();
        using (var reader = new TarReader(archive))
        {
            while (reader.GetNextEntry() is { } entry)
            {
                using var text = new StreamReader(entry.DataStream!);
                entries[entry.Name] = text.ReadToEnd();
            }
        }
        Assert.Equal("print(1)\n", entries["src/train.py"]);
        Assert.Equal("python-3.11", entries["src/runtime.txt"]);
        Assert.Contains("requirements.frozen.txt", entries["_wandb_bootstrap.py"]);
        Assert.Equal(plan.Dockerfile, entries[BuildPlan.DockerfileName]);
        Assert.Single(entries, e => e.Key == "src/runtime.txt");
    }
}
