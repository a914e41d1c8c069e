using System.Text.Json.Nodes;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Tests.Config;

public sealed class AgentConfigFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_missing_explicit_file_is_an_error_naming_it()
    {
        var path = _dir.File("nope.yaml");
        var e = Assert.ThrowsAny<LaunchException>(() => AgentConfigFile.Read(path));
        Assert.Equal("AgentConfigNotFound", e.ErrorId);
        Assert.Equal(LaunchErrorCategory.ObjectNotFound, e.Category);
        Assert.Equal(path, e.Target);
        Assert.Contains(path, e.Message);

        Assert.Equal("AgentConfigNotFound", Assert.ThrowsAny<LaunchException>(() => AgentConfigFile.Load(path)).ErrorId);
    }

    [Fact]
    public void An_empty_file_is_an_empty_mapping_with_defaults()
    {
        var path = _dir.Write("empty.yaml", "");
        Assert.Null(AgentConfigFile.Read(path).Root);

        var config = AgentConfigFile.Load(path);
        Assert.Equal(path, config.Path);
        Assert.Equal(1, config.MaxJobs);
        Assert.Empty(config.Queues);
        Assert.Empty(config.GetDocument());
        Assert.Equal("{}", config.ToYaml().Trim());
    }

    [Fact]
    public void A_relative_path_is_resolved_to_a_full_path()
    {
        Assert.Equal(Path.GetFullPath("cfg/launch.yaml"), AgentConfigFile.Resolve("cfg/launch.yaml"));
    }

    [Fact]
    public void Invalid_yaml_names_the_file_line_and_column()
    {
        var path = _dir.Write("bad.yaml", "queues:\n  - a\nmax_jobs: [\n");
        var e = Assert.ThrowsAny<LaunchException>(() => AgentConfigFile.Load(path));
        Assert.Equal("InvalidAgentConfigYaml", e.ErrorId);
        Assert.Contains($"{path}:4:1", e.Message);
        Assert.Equal(path, e.Target);
    }

    [Fact]
    public void Load_throws_the_first_error_with_position_and_mentions_the_others()
    {
        var path = _dir.Write("invalid.yaml", "queues: [a]\nmax_jobs: -2\nbuilder:\n  platform: sparc\n");
        var e = Assert.ThrowsAny<LaunchException>(() => AgentConfigFile.Load(path));
        Assert.Equal("InvalidMaxJobs", e.ErrorId);
        Assert.Equal(LaunchErrorCategory.InvalidData, e.Category);
        Assert.Equal(path, e.Target);
        Assert.StartsWith($"{path}:2:1:", e.Message);
        Assert.Contains("1 more", e.Message);
        Assert.Contains($"{path}:4:3", e.Message);
    }

    [Fact]
    public void Load_reads_a_valid_file()
    {
        var path = _dir.Write("ok.yaml", "queues: [q1]\nmax_jobs: 3\nbuilder:\n  type: noop\n");
        var config = AgentConfigFile.Load(path);
        Assert.Equal(["q1"], config.Queues);
        Assert.Equal(3, config.MaxJobs);
        Assert.Equal("noop", config.Builder.Type);
    }

    [Fact]
    public void Apply_sets_nested_keys_and_keeps_every_other_key()
    {
        var document = (JsonObject)StructuredText.Parse("""
            # comment
            queues: [a]
            custom_team_note: keep me
            builder:
              type: docker
              platform: linux/arm64
            """).Root!;

        var changed = AgentConfigFile.Apply(document, [
            new("builder.destination", JsonValue.Create("registry.example.com/t/i")),
            new("max_jobs", JsonValue.Create(4)),
            new("environment.type", JsonValue.Create("azure")),
        ]);

        Assert.Equal("""
            {"queues":["a"],"custom_team_note":"keep me","builder":{"type":"docker","platform":"linux/arm64","destination":"registry.example.com/t/i"},"max_jobs":4,"environment":{"type":"azure"}}
            """, changed.ToJsonString());
        // The input is not modified.
        Assert.False(document.ContainsKey("max_jobs"));
        Assert.False(document["builder"]!.AsObject().ContainsKey("destination"));
    }

    [Fact]
    public void Apply_with_null_removes_a_key_and_ignores_missing_ones()
    {
        var document = (JsonObject)StructuredText.Parse("entity: team\nbuilder:\n  type: docker\n  platform: linux/amd64\n").Root!;

        var changed = AgentConfigFile.Apply(document, [
            new("builder.platform", null),
            new("entity", null),
            new("environment.region", null),
            new("not_there", null),
        ]);

        Assert.Equal("""{"builder":{"type":"docker"}}""", changed.ToJsonString());
    }

    [Fact]
    public void Apply_replaces_a_scalar_parent_with_a_mapping_when_setting_a_child()
    {
        var document = new JsonObject { ["builder"] = null };
        var changed = AgentConfigFile.Apply(document, [new("builder.type", JsonValue.Create("noop"))]);
        Assert.Equal("""{"builder":{"type":"noop"}}""", changed.ToJsonString());
    }

    [Fact]
    public void Write_creates_folders_and_writes_yaml_that_loads_back_the_same()
    {
        var path = Path.Combine(_dir.Path, "a", "b", "launch-config.yaml");
        var document = (JsonObject)StructuredText.Parse("""
            queues: ["123", "true", gpu]
            max_jobs: -1
            entity: null
            builder:
              type: kaniko
              build-context-store: s3://bucket/ctx
              kaniko-config: {spec: {backoffLimit: 1}}
            """).Root!;

        var written = AgentConfigFile.Write(path, document);

        Assert.Equal(["123", "true", "gpu"], written.Queues);
        var loaded = AgentConfigFile.Load(path);
        Assert.Equal(["123", "true", "gpu"], loaded.Queues);
        Assert.Equal(-1, loaded.MaxJobs);
        Assert.True(JsonNode.DeepEquals(document, loaded.GetDocument()), File.ReadAllText(path));
        Assert.Equal([Path.GetFileName(path)], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
    }

    [Fact]
    public void Write_refuses_an_invalid_document_and_leaves_the_old_file_intact()
    {
        var path = _dir.Write("launch-config.yaml", "# my notes\nqueues: [a]\nmax_jobs: 2\n");
        var before = File.ReadAllBytes(path);
        var document = (JsonObject)AgentConfigFile.Read(path).Root!;
        var invalid = AgentConfigFile.Apply(document, [new("max_jobs", JsonValue.Create(0))]);

        var e = Assert.ThrowsAny<LaunchException>(() => AgentConfigFile.Write(path, invalid));

        Assert.Equal("InvalidMaxJobs", e.ErrorId);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["launch-config.yaml"], Directory.GetFiles(_dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void Write_refuses_an_invalid_document_without_creating_a_file()
    {
        var path = _dir.File("new.yaml");
        var e = Assert.ThrowsAny<LaunchException>(() => AgentConfigFile.Write(path, new JsonObject { ["builder"] = new JsonObject { ["type"] = "kaniko" } }));
        Assert.Equal("MissingBuildContextStore", e.ErrorId);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Apply_then_write_changes_one_key_of_an_existing_file()
    {
        var path = _dir.Write("launch-config.yaml", "queues: [a, b]\nentity: team\nbuilder:\n  type: docker\n");
        var document = (JsonObject)AgentConfigFile.Read(path).Root!;

        AgentConfigFile.Write(path, AgentConfigFile.Apply(document, [new("max_jobs", JsonValue.Create(5))]));

        var loaded = AgentConfigFile.Load(path);
        Assert.Equal(5, loaded.MaxJobs);
        Assert.Equal(["a", "b"], loaded.Queues);
        Assert.Equal("team", loaded.Entity);
        Assert.Equal("docker", loaded.Builder.Type);
    }
}

[Collection(ProcessEnvironmentCollection.Name)]
public sealed class AgentConfigDefaultFileTests : IDisposable
{
    private readonly TempDirectory _home = new();
    private readonly EnvironmentVariableScope _homeVariable;

    public AgentConfigDefaultFileTests()
    {
        _homeVariable = new EnvironmentVariableScope("HOME", _home.Path);
    }

    public void Dispose()
    {
        _homeVariable.Dispose();
        _home.Dispose();
    }

    [Fact]
    public void The_default_path_is_under_the_home_folder()
    {
        Assert.Equal(Path.Combine(_home.Path, ".config", "wandb", "launch-config.yaml"), AgentConfigDefaults.Path());
        Assert.Equal(AgentConfigDefaults.Path(), AgentConfigFile.Resolve(null));
        Assert.Equal(Path.Combine(_home.Path, "x.yaml"), AgentConfigFile.Resolve("~/x.yaml"));
    }

    [Fact]
    public void A_missing_default_file_is_fine_and_gives_defaults()
    {
        Assert.Null(AgentConfigFile.Read(null).Root);
        var config = AgentConfigFile.Load(null);
        Assert.Equal(1, config.MaxJobs);
        Assert.Empty(config.Queues);
    }

    [Fact]
    public void An_existing_default_file_is_read()
    {
        var path = AgentConfigDefaults.Path();
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "queues: [from-default]\n");
        Assert.Equal(["from-default"], AgentConfigFile.Load(null).Queues);
    }
}
