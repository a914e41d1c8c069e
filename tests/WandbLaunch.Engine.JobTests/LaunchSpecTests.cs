using System.Text.Json.Nodes;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using static WandbLaunch.TestSupport.LaunchAssertions;

namespace WandbLaunch.Engine.JobTests;

/// <summary>The typed launch spec: every W&amp;B key read and written under its own name, wrong kinds refused by path.</summary>
public class LaunchSpecTests
{
    private const string Full = """
        {
          "job": "ent/proj/train:v3",
          "uri": "https://github.com/org/repo.git",
          "docker": {"docker_image": "reg/img:1", "user_id": 1000},
          "image_uri": "reg/other:2",
          "git": {"version": "main", "remote": "origin"},
          "overrides": {"args": ["--lr", "0.1"], "entry_point": ["python", "train.py"], "run_config": {"lr": 0.1},
                        "artifacts": {"data:v1": "ent/proj/data:v1"}, "dockerfile": "docker/Dockerfile", "working_dir": "src",
                        "files": {"a.txt": "x"}},
          "resource": "kubernetes",
          "resource_args": {"kubernetes": {"namespace": "ml"}},
          "run_id": "a1b2c3d4", "entity": "ent", "project": "proj", "author": "alice", "name": "my run",
          "priority": 1, "sweep_id": "sw1", "build_context": "ctx", "python_version": "3.11",
          "builder": {"base_image": "python:3.12", "accelerator": {"base_image": "cuda:12"}},
          "template_variables": {"cpus": 4},
          "_wandb_api_key": "spec-key-0001"
        }
        """;

    [Fact]
    public void Every_known_key_is_read_by_its_typed_member()
    {
        var spec = LaunchSpec.Parse(JsonNode.Parse(Full));
        Assert.Equal("ent/proj/train:v3", spec.JobArtifactName);
        Assert.Equal("https://github.com/org/repo.git", spec.Uri);
        Assert.Equal("reg/img:1", spec.DockerImage);
        Assert.Equal("reg/img:1", spec.PrebuiltImage);
        Assert.Equal("main", spec.GitVersion);
        Assert.Equal(["--lr", "0.1"], spec.Overrides.Args);
        Assert.Equal(["python", "train.py"], spec.Overrides.EntryPoint);
        JsonEqual("""{"lr": 0.1}""", spec.Overrides.RunConfig);
        JsonEqual("""{"data:v1": "ent/proj/data:v1"}""", spec.Overrides.Artifacts);
        Assert.Equal("docker/Dockerfile", spec.Overrides.Dockerfile);
        Assert.Equal("src", spec.Overrides.WorkingDir);
        Assert.Equal("kubernetes", spec.Resource);
        JsonEqual("""{"namespace": "ml"}""", spec.ResourceArgsFor("kubernetes"));
        Assert.Null(spec.ResourceArgsFor("local-process"));
        Assert.Equal("a1b2c3d4", spec.RunId);
        Assert.Equal("ent", spec.Entity);
        Assert.Equal("proj", spec.Project);
        Assert.Equal("alice", spec.Author);
        Assert.Equal("my run", spec.Name);
        Assert.Equal(LaunchPriority.High, spec.Priority);
        Assert.Equal("sw1", spec.SweepId);
        Assert.Equal("ctx", spec.BuildContext);
        Assert.Equal("3.11", spec.PythonVersion);
        Assert.Equal("python:3.12", spec.BuilderBaseImage);
        JsonEqual("""{"cpus": 4}""", spec.TemplateVariables);
        Assert.Equal("spec-key-0001", spec.ApiKey);
        Assert.Equal(["job", "uri", "docker image"], spec.SourcesGiven);
    }

    [Fact]
    public void An_empty_spec_reads_as_nulls()
    {
        var spec = LaunchSpec.Parse(new JsonObject());
        Assert.Null(spec.JobArtifactName);
        Assert.Null(spec.Uri);
        Assert.Null(spec.PrebuiltImage);
        Assert.Null(spec.GitVersion);
        Assert.Null(spec.Overrides.EntryPoint);
        Assert.Null(spec.Overrides.Args);
        Assert.Null(spec.Overrides.RunConfig);
        Assert.False(spec.Overrides.Any);
        Assert.Null(spec.ResourceArgs);
        Assert.Null(spec.Priority);
        Assert.Null(spec.Source);
        Assert.Empty(spec.SourcesGiven);
        Assert.Equal("{}", spec.ToJson());
    }

    [Fact]
    public void Setting_every_member_writes_W_and_B_s_keys()
    {
        var spec = LaunchSpec.Empty();
        spec.JobArtifactName = "ent/proj/train:v3";
        spec.Uri = "/code";
        spec.DockerImage = "img:1";
        spec.GitVersion = "v1";
        spec.Overrides.EntryPoint = ["python", "train.py"];
        spec.Overrides.Args = ["--a"];
        spec.Overrides.RunConfig = new JsonObject { ["lr"] = 1 };
        spec.Overrides.Artifacts = new JsonObject { ["d:v1"] = "e/p/d:v1" };
        spec.Overrides.Dockerfile = "Dockerfile.gpu";
        spec.Overrides.WorkingDir = "src";
        spec.Resource = "local-process";
        spec.SetResourceArgs("local-process", new JsonObject { ["env"] = new JsonObject { ["A"] = "1" } });
        spec.RunId = "r1";
        spec.Entity = "ent";
        spec.Project = "proj";
        spec.Author = "alice";
        spec.Name = "n";
        spec.Priority = LaunchPriority.Low;
        spec.SweepId = "s1";
        spec.BuildContext = "ctx";
        spec.PythonVersion = "3.10";
        spec.BuilderBaseImage = "base:1";
        spec.TemplateVariables = new JsonObject { ["x"] = 1 };
        JsonEqual("""
            {"job": "ent/proj/train:v3", "uri": "/code", "docker": {"docker_image": "img:1"}, "git": {"version": "v1"},
             "overrides": {"entry_point": ["python", "train.py"], "args": ["--a"], "run_config": {"lr": 1}, "artifacts": {"d:v1": "e/p/d:v1"},
                           "dockerfile": "Dockerfile.gpu", "working_dir": "src"},
             "resource": "local-process", "resource_args": {"local-process": {"env": {"A": "1"}}}, "run_id": "r1", "entity": "ent",
             "project": "proj", "author": "alice", "name": "n", "priority": 3, "sweep_id": "s1", "build_context": "ctx",
             "python_version": "3.10", "builder": {"base_image": "base:1"}, "template_variables": {"x": 1}}
            """, spec.ToJsonObject());
    }

    [Fact]
    public void Setting_a_member_keeps_the_other_keys_and_their_order_and_null_removes_it()
    {
        var spec = LaunchSpec.Parse(JsonNode.Parse("""{"a": 1, "name": "old", "docker": {"user_id": 7}, "overrides": {"files": {}}, "z": 2}"""));
        spec.Name = "new";
        spec.DockerImage = "img";
        spec.Overrides.Args = ["x"];
        spec.GitVersion = "main";
        Assert.Equal("""{"a":1,"name":"new","docker":{"user_id":7,"docker_image":"img"},"overrides":{"files":{},"args":["x"]},"z":2,"git":{"version":"main"}}""", spec.ToJson());
        spec.Name = null;
        spec.Overrides.Args = null;
        Assert.Equal("""{"a":1,"docker":{"user_id":7,"docker_image":"img"},"overrides":{"files":{}},"z":2,"git":{"version":"main"}}""", spec.ToJson());
    }

    [Fact]
    public void Parse_and_copies_never_share_the_document()
    {
        var document = (JsonObject)JsonNode.Parse("""{"name": "a", "overrides": {"args": ["x"]}}""")!;
        var spec = LaunchSpec.Parse(document);
        var copy = spec.Clone();
        spec.Name = "b";
        spec.Overrides.Args = ["y"];
        Assert.Equal("a", (string?)document["name"]);
        Assert.Equal("a", copy.Name);
        Assert.Equal(["x"], copy.Overrides.Args);
        var json = spec.ToJsonObject();
        json["name"] = "c";
        Assert.Equal("b", spec.Name);
    }

    [Theory]
    [InlineData("""{"docker": {"docker_image": ["img"]}}""", "docker.docker_image", "a string")]
    [InlineData("""{"git": {"version": 5}}""", "git.version", "a string")]
    [InlineData("""{"builder": "python:3"}""", "builder", "a mapping")]
    [InlineData("""{"builder": {"base_image": {}}}""", "builder.base_image", "a string")]
    [InlineData("""{"build_context": ["a"]}""", "build_context", "a string")]
    [InlineData("""{"sweep_id": 3}""", "sweep_id", "a string")]
    [InlineData("""{"overrides": {"artifacts": ["a"]}}""", "overrides.artifacts", "a mapping")]
    [InlineData("""{"overrides": {"files": 3}}""", "overrides.files", "a mapping")]
    [InlineData("""{"overrides": {"dockerfile": true}}""", "overrides.dockerfile", "a string")]
    [InlineData("""{"overrides": {"working_dir": 1}}""", "overrides.working_dir", "a string")]
    [InlineData("""{"overrides": {"args": [1]}}""", "overrides.args", "a list of strings")]
    [InlineData("""{"run_id": null, "name": 7}""", "name", "a string")]
    public void A_key_holding_the_wrong_kind_is_refused_with_its_path_and_what_it_must_be(string json, string path, string allowed)
    {
        var e = ThrowsLaunch("InvalidLaunchSpec", () => LaunchSpec.Parse(JsonNode.Parse(json)));
        Assert.Equal(path, e.Target);
        Assert.Contains($"spec's {path} must be {allowed}", e.Message);
    }

    [Theory]
    [InlineData("[1, 2]")]
    [InlineData("\"uri\"")]
    [InlineData("null")]
    public void A_document_that_is_not_a_mapping_is_refused(string json) =>
        ThrowsLaunch("InvalidLaunchSpec", () => LaunchSpec.Parse(JsonNode.Parse(json)));

    [Fact]
    public void Unknown_keys_may_hold_anything()
    {
        var spec = LaunchSpec.Parse(JsonNode.Parse("""{"launch_project": [1, {"x": null}], "docker": {"user_id": "1000"}, "overrides": {"future_key": 3}}"""));
        Assert.Equal("""{"launch_project":[1,{"x":null}],"docker":{"user_id":"1000"},"overrides":{"future_key":3}}""", spec.ToJson());
    }

    [Fact]
    public void A_priority_that_is_not_0_to_3_or_a_name_is_refused_when_read()
    {
        Assert.Equal(LaunchPriority.Critical, LaunchSpec.Parse(JsonNode.Parse("""{"priority": "critical"}""")).Priority);
        ThrowsLaunch("InvalidPriority", () => _ = LaunchSpec.Parse(JsonNode.Parse("""{"priority": 2.5}""")).Priority);
    }

    [Fact]
    public void A_stored_spec_is_read_as_it_is_and_wrong_kinds_read_as_absent()
    {
        var spec = LaunchSpec.FromStored("""{"uri": 5, "name": "n", "overrides": {"args": ["a", 1]}, "docker": "img"}""");
        Assert.Null(spec.Uri);
        Assert.Equal("n", spec.Name);
        Assert.Equal(["a", "1"], spec.Overrides.Args);
        Assert.Null(spec.PrebuiltImage);
        Assert.Equal("{}", LaunchSpec.FromStored("").ToJson());
        Assert.Equal("{}", LaunchSpec.FromStored("[1]").ToJson());
    }

    [Fact]
    public void The_prebuilt_image_is_docker_docker_image_else_image_uri_and_empty_is_none()
    {
        Assert.Equal("b", LaunchSpec.Parse(JsonNode.Parse("""{"docker": {"docker_image": ""}, "image_uri": "b"}""")).PrebuiltImage);
        Assert.Null(LaunchSpec.Parse(JsonNode.Parse("""{"docker": {"docker_image": ""}, "image_uri": ""}""")).PrebuiltImage);
        Assert.Equal("/code", LaunchSpec.Parse(JsonNode.Parse("""{"uri": "/code", "job": "e/p/j"}""")).Source);
    }
}
