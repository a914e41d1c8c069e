using System.Text.Json.Nodes;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Errors;
using static WandbLaunch.Engine.Config.AgentConfigResolver;

namespace WandbLaunch.Engine.Tests.Config;

public sealed class AgentConfigResolverTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static Func<string, string?> Env(params (string Name, string Value)[] variables)
    {
        var map = variables.ToDictionary(v => v.Name, v => v.Value);
        return name => map.GetValueOrDefault(name);
    }

    private static readonly Func<string, string?> NoEnv = _ => null;

    private string ConfigFile(string yaml) => _dir.Write("launch-config.yaml", yaml);

    [Fact]
    public void With_an_empty_file_everything_comes_from_the_defaults()
    {
        var config = Resolve(ConfigFile(""), NoEnv);

        Assert.Equal(1, config.MaxJobs);
        Assert.Equal(1, config.MaxSchedulers);
        Assert.Equal(0, config.Verbosity);
        Assert.Empty(config.Queues);
        Assert.Null(config.Entity);
        Assert.NotNull(config.Sources);
        Assert.Equal(
            new Dictionary<string, string>
            {
                ["max_jobs"] = SourceDefault, ["max_schedulers"] = SourceDefault, ["queues"] = SourceDefault,
                ["registry"] = SourceDefault, ["builder"] = SourceDefault, ["verbosity"] = SourceDefault,
            },
            config.Sources);
    }

    [Fact]
    public void The_file_overrides_the_defaults()
    {
        var config = Resolve(ConfigFile("max_jobs: 3\nqueues: [a]\nentity: team\nbuilder:\n  type: noop\n"), NoEnv);

        Assert.Equal(3, config.MaxJobs);
        Assert.Equal(["a"], config.Queues);
        Assert.Equal("team", config.Entity);
        Assert.Equal("noop", config.Builder.Type);
        Assert.Equal(SourceFile, config.Sources!["max_jobs"]);
        Assert.Equal(SourceFile, config.Sources["queues"]);
        Assert.Equal(SourceFile, config.Sources["entity"]);
        Assert.Equal(SourceFile, config.Sources["builder"]);
        Assert.Equal(SourceDefault, config.Sources["max_schedulers"]);
    }

    [Fact]
    public void The_environment_overrides_the_file()
    {
        var config = Resolve(ConfigFile("max_jobs: 3\nentity: file-team\n"),
            Env(("WANDB_ENTITY", "env-team"), ("WANDB_LAUNCH_MAX_JOBS", "7")));

        Assert.Equal("env-team", config.Entity);
        Assert.Equal(7, config.MaxJobs);
        Assert.Equal(SourceEnvironment, config.Sources!["entity"]);
        Assert.Equal(SourceEnvironment, config.Sources["max_jobs"]);
    }

    [Fact]
    public void Empty_environment_variables_are_not_set()
    {
        var config = Resolve(ConfigFile("max_jobs: 3\nentity: file-team\n"), Env(("WANDB_ENTITY", ""), ("WANDB_LAUNCH_MAX_JOBS", "")));
        Assert.Equal("file-team", config.Entity);
        Assert.Equal(3, config.MaxJobs);
    }

    [Fact]
    public void Unlimited_max_jobs_from_the_environment_is_accepted()
    {
        Assert.Equal(-1, Resolve(ConfigFile(""), Env(("WANDB_LAUNCH_MAX_JOBS", "-1"))).MaxJobs);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-2")]
    [InlineData("abc")]
    [InlineData("1.5")]
    public void An_invalid_max_jobs_in_the_environment_is_refused(string value)
    {
        var e = Assert.ThrowsAny<LaunchException>(() => Resolve(ConfigFile(""), Env(("WANDB_LAUNCH_MAX_JOBS", value))));
        Assert.Equal("InvalidMaxJobs", e.ErrorId);
        Assert.Contains("WANDB_LAUNCH_MAX_JOBS", e.Message);
        Assert.Equal(value, e.Target);
    }

    [Fact]
    public void Only_the_given_environment_function_is_consulted()
    {
        var asked = new List<string>();
        Resolve(ConfigFile(""), name =>
        {
            asked.Add(name);
            return null;
        });
        Assert.Equal(["WANDB_ENTITY", "WANDB_LAUNCH_MAX_JOBS"], asked.Order());
    }

    [Fact]
    public void Parameters_override_the_environment()
    {
        var config = Resolve(ConfigFile("queues: [file-q]\nmax_jobs: 3\n"),
            Env(("WANDB_ENTITY", "env-team"), ("WANDB_LAUNCH_MAX_JOBS", "7")),
            new Overrides { Queues = ["p1", "p2", "p1"], Entity = "param-team", MaxJobs = 9 });

        Assert.Equal(["p1", "p2"], config.Queues);
        Assert.Equal("param-team", config.Entity);
        Assert.Equal(9, config.MaxJobs);
        Assert.Equal(SourceParameter, config.Sources!["queues"]);
        Assert.Equal(SourceParameter, config.Sources["entity"]);
        Assert.Equal(SourceParameter, config.Sources["max_jobs"]);
    }

    [Fact]
    public void Parameters_left_out_do_not_override()
    {
        var config = Resolve(ConfigFile("queues: [file-q]\n"), Env(("WANDB_LAUNCH_MAX_JOBS", "4")), new Overrides { Queues = [] });
        Assert.Equal(["file-q"], config.Queues);
        Assert.Equal(4, config.MaxJobs);
        Assert.Equal(SourceFile, config.Sources!["queues"]);
    }

    [Fact]
    public void Setting_overrides_change_single_keys_and_are_validated()
    {
        var config = Resolve(ConfigFile("builder:\n  type: docker\n  platform: linux/amd64\n"), NoEnv,
            new Overrides { Settings = new Dictionary<string, JsonNode?> { ["builder.type"] = "noop", ["verbosity"] = 2 } });
        Assert.Equal("noop", config.Builder.Type);
        Assert.Equal("linux/amd64", config.Builder.Platform);
        Assert.Equal(2, config.Verbosity);
        Assert.Equal(SourceParameter, config.Sources!["builder"]);
        Assert.Equal(SourceParameter, config.Sources["verbosity"]);

        var e = Assert.ThrowsAny<LaunchException>(() => Resolve(ConfigFile(""), NoEnv,
            new Overrides { Settings = new Dictionary<string, JsonNode?> { ["builder.platform"] = "linux/s390x" } }));
        Assert.Equal("InvalidPlatform", e.ErrorId);
    }

    [Fact]
    public void An_invalid_parameter_is_refused_like_the_same_value_in_a_file()
    {
        var e = Assert.ThrowsAny<LaunchException>(() => Resolve(ConfigFile(""), NoEnv, new Overrides { MaxJobs = 0 }));
        Assert.Equal("InvalidMaxJobs", e.ErrorId);

        var bad = Assert.ThrowsAny<LaunchException>(() => Resolve(ConfigFile(""), NoEnv, new Overrides { Queues = ["bad*name"] }));
        Assert.Equal("InvalidQueues", bad.ErrorId);
    }

    [Fact]
    public void The_queue_key_is_added_to_queues()
    {
        var config = Resolve(ConfigFile("queues: [a]\nqueue: b\n"), NoEnv);
        Assert.Equal(["a", "b"], config.Queues);
        Assert.Equal(SourceFile, config.Sources!["queues"]);
        Assert.False(config.GetDocument().ContainsKey("queue"));

        Assert.Equal(["only"], Resolve(ConfigFile("queue: only\n"), NoEnv).Queues);
    }

    [Fact]
    public void An_invalid_file_is_refused_with_its_position_before_anything_else()
    {
        var path = ConfigFile("queues: [a]\nmax_jobs: -5\n");
        var e = Assert.ThrowsAny<LaunchException>(() => Resolve(path, Env(("WANDB_LAUNCH_MAX_JOBS", "2"))));
        Assert.Equal("InvalidMaxJobs", e.ErrorId);
        Assert.Contains($"{path}:2:1", e.Message);
    }

    [Fact]
    public void A_missing_explicit_file_is_refused()
    {
        var e = Assert.ThrowsAny<LaunchException>(() => Resolve(_dir.File("missing.yaml"), NoEnv));
        Assert.Equal("AgentConfigNotFound", e.ErrorId);
    }

    [Fact]
    public void Keys_the_file_sets_that_defaults_lack_are_kept()
    {
        var config = Resolve(ConfigFile("secure_mode: true\nstopped_run_timeout: 30\nenvironment:\n  type: gcp\n  region: europe-west4\n"), NoEnv);
        Assert.True(config.SecureMode);
        Assert.Equal(30, config.StoppedRunTimeout);
        Assert.Equal("europe-west4", config.Environment.Region);
        Assert.Equal(SourceFile, config.Sources!["environment"]);
        Assert.Equal(Path.Combine(_dir.Path, "launch-config.yaml"), config.Path);
    }

    [Fact]
    public void Warnings_from_the_file_survive_resolution()
    {
        var config = Resolve(ConfigFile("registry:\n  type: ecr\n  uri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/r\n"), NoEnv);
        Assert.Contains(config.Warnings, w => w.ErrorId == "DeprecatedRegistryKey");
    }

    // W&B's agent/config.py warns once per unrecognised environment key while reading the file; ours names the key's
    // path and where it is in the file, also in the effective config the agent runs with.
    [Fact]
    public void Warnings_of_the_effective_config_name_each_key_once_with_its_path_and_line_in_the_file()
    {
        var path = ConfigFile("queues: [a]\nbuilder:\n  type: docker\n  colour: blue\nenvironment:\n  type: azure\n  zone: x\n");
        var config = Resolve(path, NoEnv, new Overrides { MaxJobs = 3 });
        var warnings = config.Warnings.Where(w => w.Severity == ConfigIssueSeverity.Warning).ToList();
        Assert.Equal(["builder.colour", "environment.zone"], warnings.Select(w => w.Key).ToArray());
        Assert.StartsWith($"{path}:4:", warnings[0].ToString());
        Assert.StartsWith($"{path}:7:", warnings[1].ToString());
    }
}
