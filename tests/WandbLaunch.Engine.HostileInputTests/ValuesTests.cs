using System.Globalization;
using System.Text.Json.Nodes;
using Docker.DotNet.Models;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Docker;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage.Sqlite;

using static WandbLaunch.TestSupport.LaunchAssertions;

namespace WandbLaunch.Engine.HostileInputTests;

/// <summary>
/// Numbers, environment variable names and NUL characters in specs, queue configs, template values and the agent
/// config: each refused at submit (or New/Set-Queue, or config load) with its own error id, rounding and clamping
/// never happen, and a refused push stores nothing.
/// </summary>
public sealed class ValuesTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static LaunchQueue Queue(string resource, JsonObject? config = null, JsonObject? variables = null)
    {
        var checkedDef = QueueRules.Check("q", resource, config, variables);
        return new LaunchQueue
        {
            QueueId = "q-1", Name = "q", Entity = "ent", Project = "proj", Resource = checkedDef.Resource, Prioritization = true,
            ResourceConfig = checkedDef.Config, TemplateVariables = checkedDef.Variables,
        };
    }

    private static LaunchSpecRules.PreparedItem Prepare(LaunchQueue queue, JsonObject spec, JsonObject? values = null) =>
        LaunchSpecRules.Prepare(queue, new PushRequest { Spec = spec, TemplateValues = values });

    private static JsonObject Spec(string resource, JsonObject? args = null)
    {
        var spec = new JsonObject { ["uri"] = "/tmp/code" };
        if (args is not null) spec["resource_args"] = new JsonObject { [resource] = args };
        return spec;
    }

    /// <summary>Doubles users and attackers write: NaN, infinities, subnormals, huge and tiny, fractions, and plain integers.</summary>
    private static readonly Gen<double> Doubles = Gen.OneOf(
        Gen.Elements(double.NaN, double.PositiveInfinity, double.NegativeInfinity, double.Epsilon, -double.Epsilon, double.MaxValue, double.MinValue,
            1e30, -1e30, 1e9, 2.7, -1, 0, 4, 9.2233720368547758E+18, 9.2233720368547748E+18, 0.5),
        Gen.Choose(-10, 10).Select(i => (double)i),
        Gen.Choose(-1000, 1000).SelectMany(m => Gen.Choose(-320, 320).Select(e => m * Math.Pow(10, e))),
        ArbMap.Default.GeneratorFor<double>());

    /// <summary>A double as a JSON number node the way a parsed document holds it (text), or as text for non-finite ones.</summary>
    private static JsonNode Number(double d) =>
        double.IsFinite(d) ? JsonNode.Parse(d.ToString("R", CultureInfo.InvariantCulture))! : JsonValue.Create(d.ToString(CultureInfo.InvariantCulture))!;

    // ---- priority

    [Property(MaxTest = 300)]
    public Property A_spec_priority_is_taken_only_as_a_whole_number_from_0_to_3() =>
        Prop.ForAll(Doubles.ToArbitrary(), d =>
        {
            var spec = Spec(LaunchResource.LocalProcess);
            spec["priority"] = Number(d);
            if (d is 0 or 1 or 2 or 3)
            {
                Assert.Equal((LaunchPriority)(int)d, Prepare(Queue(LaunchResource.LocalProcess), spec).Priority);
                return;
            }
            ThrowsLaunch("InvalidPriority", () => Prepare(Queue(LaunchResource.LocalProcess), spec));
        });

    [Theory]
    [InlineData("2.7")]
    [InlineData("-1")]
    [InlineData("4")]
    [InlineData("1e9")]
    [InlineData("\"2.7\"")]
    [InlineData("\"critical,high\"")]
    public void Fractional_and_out_of_range_spec_priorities_are_refused_not_rounded(string priority)
    {
        var spec = (JsonObject)StructuredText.Parse($"{{\"uri\": \"/tmp/code\", \"priority\": {priority}}}").Root!;
        var e = ThrowsLaunch("InvalidPriority", () => Prepare(Queue(LaunchResource.LocalProcess), spec));
        Assert.Contains(priority.Trim('"'), e.Message);
    }

    // ---- local-container resource arguments

    private static bool FitsLong(double d) => d >= -9.2233720368547758E+18 && d < 9.2233720368547758E+18;

    [Property(MaxTest = 300)]
    public Property Container_cpus_are_refused_unless_positive_finite_and_countable_in_nano_cpus() =>
        Prop.ForAll(Doubles.ToArbitrary(), d =>
        {
            var args = new JsonObject { ["cpus"] = Number(d) };
            if (double.IsFinite(d) && d > 0 && FitsLong(d * 1e9))
            {
                var item = Prepare(Queue(LaunchResource.LocalContainer), Spec(LaunchResource.LocalContainer, args));
                var container = new CreateContainerParameters();
                ContainerArgs.Apply(item.Spec.ResourceArgsFor(LaunchResource.LocalContainer)!, container);
                Assert.Equal((long)(d * 1e9), container.HostConfig.NanoCPUs);
                return;
            }
            Assert.Contains("cpus", ThrowsLaunch("InvalidContainerArgument", () => Prepare(Queue(LaunchResource.LocalContainer), Spec(LaunchResource.LocalContainer, args))).Message);
            ThrowsLaunch("InvalidContainerArgument", () => Queue(LaunchResource.LocalContainer, new JsonObject { ["cpus"] = Number(d) }));
        });

    [Property(MaxTest = 300)]
    public Property Container_sizes_are_refused_unless_whole_not_negative_and_within_a_long() =>
        Prop.ForAll(Doubles.ToArbitrary(), Gen.Elements("memory", "m", "shm-size", "memory-reservation").ToArbitrary(), (d, key) =>
        {
            var args = new JsonObject { [key] = Number(d) };
            if (double.IsFinite(d) && d >= 0 && d == Math.Floor(d) && FitsLong(d))
            {
                Prepare(Queue(LaunchResource.LocalContainer), Spec(LaunchResource.LocalContainer, args));
                return;
            }
            ThrowsLaunch("InvalidContainerArgument", () => Prepare(Queue(LaunchResource.LocalContainer), Spec(LaunchResource.LocalContainer, args)));
        });

    [Theory]
    [InlineData("cpus", "1e30")]
    [InlineData("cpus", "-2")]
    [InlineData("cpus", "\"NaN\"")]
    [InlineData("cpus", "\"Infinity\"")]
    [InlineData("memory", "-1")]
    [InlineData("memory", "\"99999999999t\"")]
    [InlineData("cpu-shares", "1e30")]
    [InlineData("pids-limit", "2.5")]
    [InlineData("memory-swappiness", "101")]
    [InlineData("gpus", "-1")]
    [InlineData("gpus", "1e30")]
    [InlineData("gpus", "\"-3\"")]
    public void Hostile_container_numbers_are_refused_at_submit_and_queue_creation(string key, string value)
    {
        var args = (JsonObject)JsonNode.Parse($"{{\"{key}\": {value}}}")!;
        var e = ThrowsLaunch("InvalidContainerArgument", () => Prepare(Queue(LaunchResource.LocalContainer), Spec(LaunchResource.LocalContainer, args)));
        Assert.Contains(key, e.Message);
        ThrowsLaunch("InvalidContainerArgument", () => Queue(LaunchResource.LocalContainer, (JsonObject)args.DeepClone()));
    }

    [Fact]
    public void Container_values_with_template_placeholders_are_checked_once_rendered()
    {
        var queue = Queue(LaunchResource.LocalContainer, new JsonObject { ["cpus"] = "{{cpus}}" },
            new JsonObject { ["cpus"] = new JsonObject { ["type"] = "number" } });
        Prepare(queue, Spec(LaunchResource.LocalContainer), new JsonObject { ["cpus"] = 2 });
        ThrowsLaunch("InvalidTemplateValue", () => Prepare(queue, Spec(LaunchResource.LocalContainer), new JsonObject { ["cpus"] = "NaN" }));
        ThrowsLaunch("InvalidContainerArgument", () => Prepare(queue, Spec(LaunchResource.LocalContainer), new JsonObject { ["cpus"] = 1e30 }));
    }

    // ---- environment variable names

    // A name holding "{{" is a template placeholder, left for rendering (OsValues.CheckEnvironmentName): the
    // placeholder tests cover it, so random names never hold one.
    private static readonly Gen<string> EnvNames = Gen.OneOf(
        Gen.Elements("", "=", "A=B", "=A", "A\0B", "\0", "PATH", "MY_VAR", "a-b", "X1", "ÄÖ"),
        ArbMap.Default.GeneratorFor<string>().Where(s => s is not null && !s.Contains("{{", StringComparison.Ordinal)),
        Gen.Elements('A', 'b', '_', '=', '\0', '1', ' ').ArrayOf().Select(c => new string(c)));

    private static bool ValidName(string name) => name.Length > 0 && !name.Contains('=') && !name.Contains('\0');

    [Property(MaxTest = 300)]
    public Property Environment_names_are_refused_when_empty_or_holding_equals_or_NUL_in_every_form() =>
        Prop.ForAll(EnvNames.ToArbitrary(), name =>
        {
            var forms = new (string Resource, JsonObject Args)[]
            {
                (LaunchResource.LocalProcess, new JsonObject { ["env"] = new JsonObject { [name] = "v" } }),
                (LaunchResource.LocalContainer, new JsonObject { ["env"] = new JsonObject { [name] = "v" } }),
                (LaunchResource.LocalContainer, new JsonObject { ["e"] = new JsonArray($"{name}=v") }),
                (LaunchResource.Kubernetes, new JsonObject { ["spec"] = new JsonObject { ["template"] = new JsonObject { ["spec"] = new JsonObject {
                    ["containers"] = new JsonArray(new JsonObject { ["env"] = new JsonArray(new JsonObject { ["name"] = name, ["value"] = "v" }) }) } } } }),
            };
            foreach (var (resource, args) in forms)
            {
                // The list form splits at the first '=': "A=B=v" names A, which is fine.
                var expectValid = args["e"] is not null ? name.Split('=')[0].Length > 0 : ValidName(name);
                if (name.Contains('\0'))
                {
                    // NUL is refused wherever it is, by the NUL rule or the name rule.
                    var e = Assert.ThrowsAny<LaunchException>(() => Prepare(Queue(resource), Spec(resource, args)));
                    Assert.Contains(e.ErrorId, new[] { "ValueContainsNul", "InvalidEnvironmentVariableName" });
                    Assert.False(e.Message.Contains('\0'), e.Message);
                    continue;
                }
                if (expectValid)
                {
                    Prepare(Queue(resource), Spec(resource, args));
                    continue;
                }
                ThrowsLaunch("InvalidEnvironmentVariableName", () => Prepare(Queue(resource), Spec(resource, args)));
            }
        });

    [Theory]
    [InlineData("", "InvalidEnvironmentVariableName")]
    [InlineData("A=B", "InvalidEnvironmentVariableName")]
    [InlineData("A\0B", "ValueContainsNul")]
    public void An_additional_service_with_a_bad_environment_name_is_refused_at_submit(string name, string errorId)
    {
        var spec = Spec(LaunchResource.Kubernetes);
        spec.Remove("uri");
        spec["docker"] = new JsonObject { ["docker_image"] = "img:1" };
        spec["additional_services"] = new JsonArray(new JsonObject
        {
            ["config"] = new JsonObject
            {
                ["apiVersion"] = "v1", ["kind"] = "Pod", ["metadata"] = new JsonObject { ["name"] = "p" },
                ["spec"] = new JsonObject { ["containers"] = new JsonArray(new JsonObject { ["name"] = "c", ["image"] = "i", ["env"] = new JsonArray(new JsonObject { ["name"] = name, ["value"] = "v" }) }) },
            },
        });
        var e = ThrowsLaunch(errorId, () => Prepare(Queue(LaunchResource.Kubernetes), spec));
        Assert.False(e.Message.Contains('\0'), e.Message);
    }

    [Fact]
    public void An_environment_name_holding_a_template_placeholder_is_left_for_rendering()
    {
        OsValues.CheckEnvironmentName("{{name}}", "env");
        OsValues.CheckEnvironmentName("PREFIX_{{name}}", "env");
        ThrowsLaunch("InvalidEnvironmentVariableName", () => OsValues.CheckEnvironmentName("{{name}}\0", "env"));
    }

    [Fact]
    public void A_queue_config_with_a_bad_environment_name_is_refused_at_creation()
    {
        ThrowsLaunch("InvalidEnvironmentVariableName", () => Queue(LaunchResource.LocalProcess, new JsonObject { ["env"] = new JsonObject { ["A=B"] = "v" } }));
        ThrowsLaunch("InvalidEnvironmentVariableName", () => Queue(LaunchResource.LocalContainer, new JsonObject { ["env"] = new JsonObject { [""] = "v" } }));
    }

    // ---- NUL

    [Theory]
    [InlineData("overrides.args")]
    [InlineData("overrides.entry_point")]
    [InlineData("uri")]
    [InlineData("overrides.run_config")]
    [InlineData("name")]
    public void NUL_in_any_argument_entry_point_path_or_value_is_refused_and_shown_escaped(string where)
    {
        var spec = Spec(LaunchResource.LocalProcess);
        var bad = "/tmp/code\0; rm -rf /";
        switch (where)
        {
            case "overrides.args": spec["overrides"] = new JsonObject { ["args"] = new JsonArray("--ok", bad) }; break;
            case "overrides.entry_point": spec["overrides"] = new JsonObject { ["entry_point"] = new JsonArray("python", bad) }; break;
            case "overrides.run_config": spec["overrides"] = new JsonObject { ["run_config"] = new JsonObject { [bad] = 1 } }; break;
            default: spec[where] = bad; break;
        }
        var e = Assert.ThrowsAny<LaunchException>(() => Prepare(Queue(LaunchResource.LocalProcess), spec));
        Assert.Equal("ValueContainsNul", e.ErrorId);
        Assert.False(e.Message.Contains('\0'), e.Message);
        Assert.Contains("\\u0000", e.Message);
    }

    [Fact]
    public void NUL_in_a_document_or_agent_config_path_is_refused_not_a_raw_argument_exception()
    {
        var e = ThrowsLaunch("ValueContainsNul", () => AgentConfigFile.Load(_dir.File("launch-config.yaml") + "\0.bak"));
        Assert.False(e.Message.Contains('\0'), e.Message);
        ThrowsLaunch("ValueContainsNul", () => StructuredText.ParseFile(_dir.File("queue.yaml\0")));
    }

    // ---- template values

    [Property(MaxTest = 300)]
    public Property Template_values_are_held_to_their_schema_for_every_double() =>
        Prop.ForAll(Doubles.ToArbitrary(), Gen.Elements("integer", "number").ToArbitrary(), Gen.Elements(true, false).ToArbitrary(), (d, type, asText) =>
        {
            var variable = TemplateVariable.FromSchema("v", new JsonObject { ["type"] = type, ["minimum"] = -1e6, ["maximum"] = 1e6 });
            var given = asText ? JsonValue.Create(d.ToString("R", CultureInfo.InvariantCulture)) : Number(d);
            var allowed = double.IsFinite(d) && d is >= -1e6 and <= 1e6 && (type == "number" || d == Math.Floor(d));
            if (!allowed)
            {
                ThrowsLaunch("InvalidTemplateValue", () => variable.Coerce(given));
                return;
            }
            Assert.True(JsonTree.TryGetNumber(variable.Coerce(given), out var stored));
            Assert.Equal(type == "integer" ? Math.Floor(d) : d, stored);
        });

    // ---- agent config

    [Property(MaxTest = 200)]
    public Property Max_jobs_is_a_whole_number_of_at_least_minus_one_and_never_zero() =>
        Prop.ForAll(Doubles.ToArbitrary(), d =>
        {
            var text = double.IsFinite(d) ? d.ToString("R", CultureInfo.InvariantCulture) : d switch { double.NaN => ".nan", > 0 => "1e400", _ => "-1e400" };
            var path = _dir.Write($"c{Guid.NewGuid():N}/launch-config.yaml", $"max_jobs: {text}\n");
            var valid = double.IsFinite(d) && d == Math.Floor(d) && d >= -1 && d != 0 && d <= int.MaxValue;
            if (valid)
            {
                Assert.Equal((int)d, AgentConfigFile.Load(path).MaxJobs);
                return;
            }
            var e = Assert.ThrowsAny<LaunchException>(() => AgentConfigFile.Load(path));
            Assert.Contains(e.ErrorId, new[] { "InvalidMaxJobs", "NumberNotFinite", "InvalidAgentConfig" });
        });

    // ---- nothing stored changes

    [Fact]
    public async Task A_refused_push_or_queue_stores_nothing()
    {
        using var store = new SqliteLaunchBackend(_dir.File("launch.db"), "ent");
        await store.CreateQueueAsync(new QueueDefinition { Name = "q", Entity = "ent", Project = "proj", Resource = LaunchResource.LocalContainer, Prioritization = true }, CancellationToken.None);
        var key = new QueueKey("ent", "proj", "q");
        var hostile = new[]
        {
            new JsonObject { ["uri"] = "/tmp/code", ["priority"] = 2.7 },
            new JsonObject { ["uri"] = "/tmp/code", ["priority"] = 1e9 },
            new JsonObject { ["uri"] = "/tmp/code", ["resource_args"] = new JsonObject { ["local-container"] = new JsonObject { ["cpus"] = 1e30 } } },
            new JsonObject { ["uri"] = "/tmp/code", ["resource_args"] = new JsonObject { ["local-container"] = new JsonObject { ["memory"] = -5 } } },
            new JsonObject { ["uri"] = "/tmp/code", ["resource_args"] = new JsonObject { ["local-container"] = new JsonObject { ["env"] = new JsonObject { ["A=B"] = "1" } } } },
            new JsonObject { ["uri"] = "/tmp/code", ["overrides"] = new JsonObject { ["args"] = new JsonArray("a\0b") } },
        };
        foreach (var spec in hostile)
        {
            await Assert.ThrowsAnyAsync<LaunchException>(() => store.PushAsync(key, new PushRequest { Spec = spec }, CancellationToken.None));
        }
        await Assert.ThrowsAnyAsync<LaunchException>(() => store.CreateQueueAsync(new QueueDefinition
        {
            Name = "q2", Entity = "ent", Project = "proj", Resource = LaunchResource.LocalContainer, Configuration = new JsonObject { ["cpus"] = 1e30 },
        }, CancellationToken.None));
        Assert.Empty(await store.GetJobsAsync(new JobQuery(), CancellationToken.None));
        Assert.Single(await store.GetQueuesAsync(null, null, CancellationToken.None));
    }
}
