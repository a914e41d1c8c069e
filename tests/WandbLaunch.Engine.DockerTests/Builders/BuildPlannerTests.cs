using System.Text.Json.Nodes;
using WandbLaunch.Engine.Builders;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.DockerTests.Builders;

public sealed class BuildPlannerTests : IDisposable
{
    private readonly TempDirectory _code = new();

    public void Dispose() => _code.Dispose();

    private static LaunchSpec Spec(string json = "{}") => LaunchSpec.Parse(JsonNode.Parse(json));

    /// <summary>Code with every kind of Dockerfile, each saying which it is.</summary>
    private void WriteEverything()
    {
        _code.Write("train.py", "print('hi')\n");
        _code.Write("src/train.py", "print('hi')\n");
        _code.Write("Dockerfile", "FROM own\n");
        _code.Write("Dockerfile.wandb", "FROM beside-root-entry\n");
        _code.Write("src/Dockerfile.wandb", "FROM beside-src-entry\n");
        _code.Write("docker/Custom.Dockerfile", "FROM override\n");
        _code.Write("sub/Dockerfile", "FROM sub-own\n");
        _code.Write("sub/docker/Custom.Dockerfile", "FROM sub-override\n");
        _code.Write("sub/app.py", "print('sub')\n");
    }

    [Fact]
    public void Build_context_comes_first_and_the_rest_applies_inside_it()
    {
        WriteEverything();
        var plan = BuildPlanner.Plan(_code.Path, Spec("""{"build_context": "sub"}"""), null);
        Assert.Equal(Path.Combine(_code.Path, "sub"), plan.ContextDirectory);
        Assert.Equal("FROM sub-own\n", plan.Dockerfile);
        Assert.Equal("the job's Dockerfile", plan.DockerfileOrigin);

        plan = BuildPlanner.Plan(_code.Path, Spec("""{"build_context": "sub", "overrides": {"dockerfile": "docker/Custom.Dockerfile"}}"""), null);
        Assert.Equal(Path.Combine(_code.Path, "sub"), plan.ContextDirectory);
        Assert.Equal("FROM sub-override\n", plan.Dockerfile);
    }

    [Fact]
    public void Overrides_dockerfile_comes_before_the_jobs_own_Dockerfile_and_Dockerfile_wandb()
    {
        WriteEverything();
        var plan = BuildPlanner.Plan(_code.Path, Spec("""{"overrides": {"dockerfile": "docker/Custom.Dockerfile", "entry_point": ["python", "train.py"]}}"""), null);
        Assert.Equal(_code.Path, plan.ContextDirectory);
        Assert.Equal("FROM override\n", plan.Dockerfile);
        Assert.Equal("overrides.dockerfile (docker/Custom.Dockerfile)", plan.DockerfileOrigin);
    }

    [Fact]
    public void The_jobs_own_Dockerfile_comes_before_Dockerfile_wandb()
    {
        WriteEverything();
        var plan = BuildPlanner.Plan(_code.Path, Spec("""{"overrides": {"entry_point": ["python", "train.py"]}}"""), null);
        Assert.Equal("FROM own\n", plan.Dockerfile);
        Assert.Equal("the job's Dockerfile", plan.DockerfileOrigin);
    }

    [Fact]
    public void Dockerfile_wandb_beside_the_entry_point_comes_before_a_generated_one()
    {
        WriteEverything();
        File.Delete(_code.File("Dockerfile"));
        var plan = BuildPlanner.Plan(_code.Path, Spec("""{"overrides": {"entry_point": ["python", "src/train.py"]}}"""), null);
        Assert.Equal("FROM beside-src-entry\n", plan.Dockerfile);
        Assert.Equal(Path.Combine("src", "Dockerfile.wandb") + " beside the entry point", plan.DockerfileOrigin);

        plan = BuildPlanner.Plan(_code.Path, Spec("""{"overrides": {"entry_point": ["python", "train.py"]}}"""), null);
        Assert.Equal("FROM beside-root-entry\n", plan.Dockerfile);
        Assert.Equal(_code.Path, plan.ContextDirectory);
    }

    [Fact]
    public void Without_any_Dockerfile_one_is_generated()
    {
        _code.Write("src/train.py", "print('hi')\n");
        _code.Write("Dockerfile.wandb", "FROM not-beside-the-entry-point\n");
        var plan = BuildPlanner.Plan(_code.Path, Spec("""{"overrides": {"entry_point": ["python", "src/train.py"]}}"""), null);
        Assert.Equal("generated", plan.DockerfileOrigin);
        Assert.StartsWith("FROM python:3.10-slim AS build", plan.Dockerfile);
    }

    [Fact]
    public void The_generated_Python_Dockerfile_has_a_venv_stage_installs_requirements_and_runs_as_uid_1000_gid_0()
    {
        _code.Write("train.py", "print('hi')\n");
        _code.Write("requirements.txt", "wandb\n");
        var plan = BuildPlanner.Plan(_code.Path, Spec("""{"overrides": {"entry_point": ["python", "train.py", "--epochs", "3"]}}"""), null);
        var lines = plan.Dockerfile.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(
        [
            "FROM python:3.10-slim AS build",
            "RUN python -m venv /env",
            "COPY requirements.txt /tmp/requirements.txt",
            "RUN /env/bin/pip install --no-cache-dir -r /tmp/requirements.txt",
            "FROM python:3.10-slim",
            "COPY --from=build /env /env",
            "ENV PATH=/env/bin:$PATH",
            "ENV PYTHONUNBUFFERED=1",
            "WORKDIR /mnt/wandb",
            "COPY --chown=1000:0 . /mnt/wandb",
            "USER 1000:0",
            """ENTRYPOINT ["python","train.py","--epochs","3"]""",
        ], lines);
    }

    [Fact]
    public void The_generated_Python_Dockerfile_follows_python_version_and_base_image_and_skips_pip_without_requirements()
    {
        _code.Write("train.py", "print('hi')\n");
        var plan = BuildPlanner.Plan(_code.Path, Spec("""{"python_version": "3.11", "overrides": {"entry_point": ["python", "train.py"]}}"""), null);
        Assert.StartsWith("FROM python:3.11-slim AS build\n", plan.Dockerfile.ReplaceLineEndings("\n"));
        Assert.Contains("FROM python:3.11-slim\n", plan.Dockerfile.ReplaceLineEndings("\n"));
        Assert.DoesNotContain("pip install", plan.Dockerfile);

        plan = BuildPlanner.Plan(_code.Path, Spec("""{"python_version": "3.11", "overrides": {"entry_point": ["python", "train.py"]}}"""), "registry.example.com/ml/python:3.12");
        Assert.StartsWith("FROM registry.example.com/ml/python:3.12 AS build\n", plan.Dockerfile.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Code_with_a_requirements_txt_is_Python_whatever_its_entry_point()
    {
        _code.Write("requirements.txt", "numpy\n");
        _code.Write("run.sh", "python -c 'print(1)'\n");
        var plan = BuildPlanner.Plan(_code.Path, Spec("""{"overrides": {"entry_point": ["sh", "run.sh"]}}"""), null);
        Assert.Contains("RUN /env/bin/pip install --no-cache-dir -r /tmp/requirements.txt", plan.Dockerfile);
    }

    [Fact]
    public void The_generated_Dockerfile_for_other_code_uses_the_base_image_without_a_venv()
    {
        _code.Write("run.sh", "echo hi\n");
        var plan = BuildPlanner.Plan(_code.Path, Spec("""{"overrides": {"entry_point": ["sh", "run.sh"]}}"""), "busybox:1");
        var lines = plan.Dockerfile.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(
        [
            "FROM busybox:1",
            "ENV PYTHONUNBUFFERED=1",
            "WORKDIR /mnt/wandb",
            "COPY --chown=1000:0 . /mnt/wandb",
            "USER 1000:0",
            """ENTRYPOINT ["sh","run.sh"]""",
        ], lines);
    }

    [Fact]
    public void Other_code_without_a_base_image_fails_at_build_naming_builder_base_image()
    {
        _code.Write("run.sh", "echo hi\n");
        var e = Assert.Throws<JobFailedException>(() => BuildPlanner.Plan(_code.Path, Spec("""{"overrides": {"entry_point": ["sh", "run.sh"]}}"""), null));
        Assert.Equal(FailureStage.Build, e.Stage);
        Assert.Contains("builder.base_image", e.Message);
    }

    [Theory]
    [InlineData("""{"build_context": "missing"}""", "is not a directory")]
    [InlineData("""{"build_context": "../.."}""", "points outside")]
    [InlineData("""{"overrides": {"dockerfile": "missing.Dockerfile"}}""", "does not exist")]
    [InlineData("""{"overrides": {"dockerfile": "../../etc/passwd"}}""", "points outside")]
    public void Bad_build_context_and_dockerfile_fail_at_build(string spec, string message)
    {
        _code.Write("train.py", "print('hi')\n");
        var e = Assert.Throws<JobFailedException>(() => BuildPlanner.Plan(_code.Path, Spec(spec), null));
        Assert.Equal(FailureStage.Build, e.Stage);
        Assert.Contains(message, e.Message);
    }
}
