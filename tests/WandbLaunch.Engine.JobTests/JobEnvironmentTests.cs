using System.Text.Json.Nodes;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.JobTests;

public class JobEnvironmentTests
{
    private static JobEnvironment.Inputs Inputs(string spec, bool resumed = false, string? image = "reg/img:1", string? baseUrl = "https://wandb.example.com", string? apiKey = "key-abcdef") =>
        new(LaunchSpec.Parse(JsonNode.Parse(spec)), "run12345", "item-xyz", "my-queue", "queue-ent", image, resumed, baseUrl, apiKey);

    private const string FullSpec = """
        {
          "uri": "/tmp/code", "entity": "ent", "project": "proj", "name": "my run", "author": "alice", "sweep_id": "sw1",
          "overrides": {"run_config": {"lr": 0.1, "layers": [1, 2]}, "artifacts": {"data": "ent/proj/data:v1"},
                        "files": {"config.yaml": {"epochs": 3}}}
        }
        """;

    [Fact]
    public void Every_variable_of_the_reference_is_set()
    {
        var env = JobEnvironment.Build(Inputs(FullSpec, resumed: true));
        Assert.Equal("https://wandb.example.com", env["WANDB_BASE_URL"]);
        Assert.Equal("key-abcdef", env["WANDB_API_KEY"]);
        Assert.Equal("proj", env["WANDB_PROJECT"]);
        Assert.Equal("ent", env["WANDB_ENTITY"]);
        Assert.Equal("True", env["WANDB_LAUNCH"]);
        Assert.Equal("run12345", env["WANDB_RUN_ID"]);
        Assert.Equal("reg/img:1", env["WANDB_DOCKER"]);
        Assert.Equal("my run", env["WANDB_NAME"]);
        Assert.Equal("alice", env["WANDB_USERNAME"]);
        Assert.Equal("sw1", env["WANDB_SWEEP_ID"]);
        Assert.Equal("allow", env["WANDB_RESUME"]);
        Assert.Equal("my-queue", env["WANDB_LAUNCH_QUEUE_NAME"]);
        Assert.Equal("queue-ent", env["WANDB_LAUNCH_QUEUE_ENTITY"]);
        Assert.Equal("item-xyz", env["WANDB_LAUNCH_TRACE_ID"]);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"lr": 0.1, "layers": [1, 2]}"""), JsonNode.Parse(env["WANDB_CONFIG"])));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"data": "ent/proj/data:v1"}"""), JsonNode.Parse(env["WANDB_ARTIFACTS"])));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"config.yaml": {"epochs": 3}}"""), JsonNode.Parse(env["WANDB_LAUNCH_FILE_OVERRIDES"])));
        Assert.Equal(17, env.Count);
    }

    [Fact]
    public void WANDB_RESUME_is_set_only_for_resumed_runs()
    {
        Assert.False(JobEnvironment.Build(Inputs(FullSpec, resumed: false)).ContainsKey("WANDB_RESUME"));
        Assert.Equal("allow", JobEnvironment.Build(Inputs(FullSpec, resumed: true))["WANDB_RESUME"]);
    }

    [Fact]
    public void Absent_values_are_not_set_or_get_WandBs_defaults_and_the_base_url_defaults_to_the_public_server()
    {
        var env = JobEnvironment.Build(Inputs("""{"uri": "/tmp/code"}""", image: null, baseUrl: null, apiKey: null));
        Assert.Equal("https://api.wandb.ai", env["WANDB_BASE_URL"]);
        foreach (var name in new[] { "WANDB_API_KEY", "WANDB_PROJECT", "WANDB_DOCKER", "WANDB_NAME", "WANDB_USERNAME", "WANDB_SWEEP_ID", "WANDB_RESUME" })
        {
            Assert.False(env.ContainsKey(name), name);
        }
        // As W&B's get_env_vars_dict: the entity defaults to the queue's, the config and the artifacts to {}.
        Assert.Equal("queue-ent", env["WANDB_ENTITY"]);
        Assert.Equal("{}", env["WANDB_CONFIG"]);
        Assert.Equal("{}", env["WANDB_ARTIFACTS"]);
        Assert.Equal("{}", env["WANDB_LAUNCH_FILE_OVERRIDES"]);
        Assert.Equal("True", env["WANDB_LAUNCH"]);
        Assert.Equal("run12345", env["WANDB_RUN_ID"]);
        Assert.Equal("item-xyz", env["WANDB_LAUNCH_TRACE_ID"]);
    }

    private static string LongRunConfig(int minLength)
    {
        var config = new JsonObject();
        for (var i = 0; config.ToJsonString().Length <= minLength; i++) config[$"key{i}"] = new string((char)('a' + i % 26), 1000);
        return new JsonObject { ["uri"] = "/tmp/code", ["overrides"] = new JsonObject { ["run_config"] = config } }.ToJsonString();
    }

    private static void AssertSplit(IReadOnlyDictionary<string, string> env, string name, string expected, int max)
    {
        Assert.False(env.ContainsKey(name), $"{name} is split, so it must not also be set whole");
        var parts = new List<string>();
        for (var i = 0; env.TryGetValue($"{name}_{i}", out var part); i++)
        {
            Assert.InRange(part.Length, 1, max);
            parts.Add(part);
        }
        Assert.Equal((expected.Length + max - 1) / max, parts.Count);
        Assert.Equal(expected, string.Concat(parts));
    }

    [Fact]
    public void A_value_longer_than_32670_characters_is_split_into_numbered_parts_that_join_back()
    {
        var spec = LongRunConfig(70_000);
        var whole = JobEnvironment.Build(Inputs(spec), int.MaxValue)["WANDB_CONFIG"];
        Assert.True(whole.Length > 2 * JobEnvironment.DefaultMaxValueLength);

        var env = JobEnvironment.Build(Inputs(spec));
        AssertSplit(env, "WANDB_CONFIG", whole, 32_670);
        Assert.Equal(3, env.Keys.Count(k => k.StartsWith("WANDB_CONFIG_", StringComparison.Ordinal)));
        Assert.Equal("run12345", env["WANDB_RUN_ID"]);
    }

    [Fact]
    public void A_value_of_exactly_the_limit_is_not_split_and_only_the_config_and_file_overrides_are_ever_split()
    {
        // W&B (_project_spec.py): _inject_wandb_config_env_vars and _inject_file_overrides_env_vars chunk; nothing else does.
        var config = LongRunConfig(JobEnvironment.DefaultMaxValueLength - 1500);
        var exact = JsonNode.Parse(config)!.AsObject();
        var runConfig = exact["overrides"]!["run_config"]!.AsObject();
        var padding = JobEnvironment.DefaultMaxValueLength - runConfig.ToJsonString().Length - "\"pad\":\"\"".Length - 1;
        runConfig["pad"] = new string('p', padding);
        Assert.Equal(JobEnvironment.DefaultMaxValueLength, runConfig.ToJsonString().Length);
        var env = JobEnvironment.Build(Inputs(exact.ToJsonString()));
        Assert.Equal(runConfig.ToJsonString(), env["WANDB_CONFIG"]);
        Assert.False(env.ContainsKey("WANDB_CONFIG_0"));

        runConfig["pad"] = new string('p', padding + 1);
        env = JobEnvironment.Build(Inputs(exact.ToJsonString()));
        AssertSplit(env, "WANDB_CONFIG", runConfig.ToJsonString(), JobEnvironment.DefaultMaxValueLength);

        var name = new string('n', JobEnvironment.DefaultMaxValueLength + 1);
        var files = new JsonObject { ["big.txt"] = new string('f', JobEnvironment.DefaultMaxValueLength) };
        env = JobEnvironment.Build(Inputs(new JsonObject { ["uri"] = "/tmp/code", ["name"] = name, ["overrides"] = new JsonObject { ["files"] = files } }.ToJsonString()));
        Assert.Equal(name, env["WANDB_NAME"]);
        Assert.False(env.ContainsKey("WANDB_NAME_0"));
        AssertSplit(env, "WANDB_LAUNCH_FILE_OVERRIDES", files.ToJsonString(), JobEnvironment.DefaultMaxValueLength);
    }

    [Fact]
    public void On_SageMaker_values_over_512_characters_are_split()
    {
        var spec = LongRunConfig(1_500);
        var whole = JobEnvironment.Build(Inputs(spec))["WANDB_CONFIG"];
        var env = JobEnvironment.Build(Inputs(spec), JobEnvironment.SageMakerMaxValueLength);
        Assert.Equal(512, JobEnvironment.SageMakerMaxValueLength);
        AssertSplit(env, "WANDB_CONFIG", whole, 512);
        Assert.Equal("run12345", env["WANDB_RUN_ID"]);
        Assert.Equal("True", env["WANDB_LAUNCH"]);
    }

    [Fact]
    public void A_job_artifact_and_a_specs_own_api_key_reach_the_job_as_with_WandB()
    {
        var env = JobEnvironment.Build(Inputs("""
            {"job": "ent/proj/job-train:v2", "author": "alice", "_wandb_api_key": "spec-key-123",
             "overrides": {"artifacts": {"data": "ent/proj/data:v1"}}}
            """));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"_wandb_job": "ent/proj/job-train:v2", "data": "ent/proj/data:v1"}"""), JsonNode.Parse(env["WANDB_ARTIFACTS"])));
        Assert.Equal("spec-key-123", env["WANDB_API_KEY"]);
        Assert.False(env.ContainsKey("WANDB_USERNAME"), "W&B does not claim the author for a run made with the spec's own key");
    }

    [Fact]
    public void The_config_is_ASCII_JSON_as_WandBs_json_dumps_writes_it_so_its_parts_join_back_to_the_same_text()
    {
        // Non-BMP characters (two UTF-16 code units each): json.dumps escapes them as \ud83d\ude00, so no part can end in half a character.
        var text = "a" + string.Concat(Enumerable.Repeat("\U0001F600", 400));
        var spec = new JsonObject { ["uri"] = "/tmp/code", ["overrides"] = new JsonObject { ["run_config"] = new JsonObject { ["text"] = text } } };
        var env = JobEnvironment.Build(Inputs(spec.ToJsonString()), JobEnvironment.SageMakerMaxValueLength);
        Assert.False(env.ContainsKey("WANDB_CONFIG"));
        var parts = new List<string>();
        for (var i = 0; env.TryGetValue($"WANDB_CONFIG_{i}", out var part); i++)
        {
            Assert.InRange(part.Length, 1, 512);
            Assert.True(part.All(char.IsAscii), $"part {i} is not ASCII");
            parts.Add(part);
        }
        Assert.Equal(text, JsonNode.Parse(string.Concat(parts))!["text"]!.GetValue<string>());
    }

    // W&B's LaunchProject (_project_spec.py) keeps target_project = project.lower(); get_env_vars_dict sets
    // WANDB_PROJECT from it, and fill_macros gives it as ${project_name}. The entity keeps its case.
    [Fact]
    public void The_project_is_lower_cased_as_wandb_project_spec_target_project_and_the_entity_is_not()
    {
        var spec = LaunchSpec.Parse(JsonNode.Parse("""{"uri": "/tmp/code", "entity": "Team-A", "project": "My-Project"}"""));
        Assert.Equal("my-project", spec.TargetProject);
        Assert.Equal("My-Project", spec.Project);
        var env = JobEnvironment.Build(new JobEnvironment.Inputs(spec, "run12345", "item", "q", "queue-ent", null, false, null, null));
        Assert.Equal("my-project", env["WANDB_PROJECT"]);
        Assert.Equal("Team-A", env["WANDB_ENTITY"]);
    }
}
