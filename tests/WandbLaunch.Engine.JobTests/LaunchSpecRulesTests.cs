using System.Text.Json.Nodes;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using static WandbLaunch.TestSupport.LaunchAssertions;

namespace WandbLaunch.Engine.JobTests;

public class LaunchSpecRulesTests
{
    private const string Dir = "/tmp/code";

    private static LaunchQueue Queue(string resource = LaunchResource.LocalProcess, string? config = null, string? variables = null, bool prioritization = false)
    {
        var checkedDef = QueueRules.Check("q", resource, config is null ? null : JsonNode.Parse(config),
            variables is null ? null : (JsonObject)JsonNode.Parse(variables)!);
        return new LaunchQueue
        {
            QueueId = "q-1",
            Name = checkedDef.Name,
            Entity = "ent",
            Project = "proj",
            Resource = checkedDef.Resource,
            Prioritization = prioritization,
            ResourceConfig = checkedDef.Config,
            TemplateVariables = checkedDef.Variables,
        };
    }

    private static LaunchSpecRules.PreparedItem Prepare(LaunchQueue queue, string spec, LaunchPriority? priority = null, string? values = null) =>
        LaunchSpecRules.Prepare(queue, new PushRequest
        {
            Spec = (JsonObject)JsonNode.Parse(spec)!,
            Priority = priority,
            TemplateValues = values is null ? null : (JsonObject)JsonNode.Parse(values)!,
        });

    private static JsonNode? Args(LaunchSpecRules.PreparedItem item, string resource = LaunchResource.LocalProcess) =>
        item.Spec.ResourceArgsFor(resource);

    // ---- sources

    [Fact]
    public void A_spec_without_job_uri_or_image_is_refused()
    {
        ThrowsLaunch("MissingJobSource", () => Prepare(Queue(), """{"entity": "e", "project": "p"}"""));
        ThrowsLaunch("MissingJobSource", () => Prepare(Queue(), """{"docker": {"docker_image": ""}}"""));
    }

    [Theory]
    [InlineData("""{"uri": "/tmp/code", "job": "e/p/j:latest"}""")]
    [InlineData("""{"uri": "/tmp/code", "docker": {"docker_image": "img:1"}}""")]
    [InlineData("""{"job": "e/p/j", "image_uri": "img:1"}""")]
    [InlineData("""{"uri": "https://github.com/a/b", "job": "e/p/j", "docker": {"docker_image": "img"}}""")]
    public void Two_sources_conflict(string spec)
    {
        var e = ThrowsLaunch("ConflictingJobSource", () => Prepare(Queue(), spec));
        Assert.Contains("exactly one", e.Message);
    }

    [Theory]
    [InlineData("file:///tmp/code")]
    [InlineData("code/train")]
    [InlineData("./code")]
    [InlineData("../code")]
    [InlineData("")]
    public void A_uri_that_is_neither_git_nor_an_absolute_directory_is_refused(string uri)
    {
        var e = ThrowsLaunch("InvalidSourceUri", () => Prepare(Queue(), new JsonObject { ["uri"] = uri }.ToJsonString()));
        Assert.Equal(uri, e.Target);
    }

    [Theory]
    [InlineData("https://github.com/wandb/launch-jobs.git", SourceUri.Kind.Git)]
    [InlineData("ssh://git@github.com/wandb/launch-jobs.git", SourceUri.Kind.Git)]
    [InlineData("git@github.com:wandb/launch-jobs.git", SourceUri.Kind.Git)]
    [InlineData("/srv/code", SourceUri.Kind.LocalDirectory)]
    public void Git_urls_and_absolute_paths_are_accepted(string uri, SourceUri.Kind kind)
    {
        Assert.Equal(kind, SourceUri.Classify(uri));
        var item = Prepare(Queue(), new JsonObject { ["uri"] = uri }.ToJsonString());
        Assert.Equal(uri, item.Spec.Uri);
    }

    [Theory]
    [InlineData("\"just-a-name\"")]
    [InlineData("\"e/p\"")]
    [InlineData("\"e/p/j/k\"")]
    [InlineData("\"e//j:latest\"")]
    [InlineData("\"/p/j\"")]
    public void A_job_not_named_entity_project_name_is_refused(string job)
    {
        ThrowsLaunch("InvalidJobName", () => Prepare(Queue(), $$"""{"job": {{job}}}"""));
    }

    [Theory]
    [InlineData("e/p/j")]
    [InlineData("e/p/j:latest")]
    [InlineData("e/p/j:v3")]
    public void Job_names_with_or_without_alias_are_accepted(string job)
    {
        var item = Prepare(Queue(), new JsonObject { ["job"] = job }.ToJsonString());
        Assert.Equal(job, item.Spec.Source);
    }

    [Fact]
    public void Docker_image_comes_from_docker_docker_image_or_image_uri()
    {
        Assert.Equal("img:1", Prepare(Queue(), """{"docker": {"docker_image": "img:1"}}""").Spec.PrebuiltImage);
        Assert.Equal("img:2", Prepare(Queue(), """{"image_uri": "img:2"}""").Spec.PrebuiltImage);
    }

    // ---- types

    [Theory]
    [InlineData("""{"uri": 5}""", "uri")]
    [InlineData("""{"uri": "/tmp/code", "entity": ["a"]}""", "entity")]
    [InlineData("""{"uri": "/tmp/code", "project": true}""", "project")]
    [InlineData("""{"uri": "/tmp/code", "name": {"a": 1}}""", "name")]
    [InlineData("""{"uri": "/tmp/code", "run_id": 12345678}""", "run_id")]
    [InlineData("""{"uri": "/tmp/code", "sweep_id": 1}""", "sweep_id")]
    [InlineData("""{"uri": "/tmp/code", "author": 1}""", "author")]
    [InlineData("""{"uri": "/tmp/code", "python_version": 3.11}""", "python_version")]
    [InlineData("""{"job": 1}""", "job")]
    [InlineData("""{"docker": "img"}""", "docker")]
    [InlineData("""{"image_uri": ["img"]}""", "image_uri")]
    [InlineData("""{"uri": "/tmp/code", "git": "https://x"}""", "git")]
    [InlineData("""{"uri": "/tmp/code", "overrides": []}""", "overrides")]
    [InlineData("""{"uri": "/tmp/code", "resource_args": "x"}""", "resource_args")]
    [InlineData("""{"uri": "/tmp/code", "template_variables": [1]}""", "template_variables")]
    [InlineData("""{"uri": "/tmp/code", "resource": 1}""", "resource")]
    [InlineData("""{"uri": "/tmp/code", "overrides": {"args": "--lr 1"}}""", "overrides.args")]
    [InlineData("""{"uri": "/tmp/code", "overrides": {"args": ["--lr", 1]}}""", "overrides.args")]
    [InlineData("""{"uri": "/tmp/code", "overrides": {"entry_point": "python train.py"}}""", "overrides.entry_point")]
    [InlineData("""{"uri": "/tmp/code", "overrides": {"run_config": [1]}}""", "overrides.run_config")]
    [InlineData("""{"uri": "/tmp/code", "resource_args": {"local-process": [1]}}""", "resource_args.local-process")]
    public void A_value_of_the_wrong_type_is_refused_naming_its_key(string spec, string key)
    {
        var e = ThrowsLaunch("InvalidLaunchSpec", () => Prepare(Queue(), spec));
        Assert.Equal(key, e.Target);
        Assert.Contains(key, e.Message);
    }

    // ---- resource

    [Fact]
    public void A_spec_for_another_resource_is_refused()
    {
        var e = ThrowsLaunch("ResourceMismatch", () => Prepare(Queue(), """{"uri": "/tmp/code", "resource": "kubernetes"}"""));
        Assert.Equal("kubernetes", e.Target);
        Assert.Contains("local-process", e.Message);
    }

    [Fact]
    public void The_queue_resource_is_recorded_and_a_matching_one_accepted_in_any_case()
    {
        Assert.Equal("local-process", Prepare(Queue(), """{"uri": "/tmp/code"}""").Spec.Resource);
        Assert.Equal("local-process", Prepare(Queue(), """{"uri": "/tmp/code", "resource": "Local-Process"}""").Spec.Resource);
    }

    // ---- priority

    [Fact]
    public void Priority_on_a_queue_without_prioritization_is_refused_unless_it_is_the_default()
    {
        var queue = Queue(prioritization: false);
        var e = ThrowsLaunch("PrioritizationDisabled", () => Prepare(queue, """{"uri": "/tmp/code"}""", LaunchPriority.High));
        Assert.Equal(LaunchPriority.High, e.Target);
        ThrowsLaunch("PrioritizationDisabled", () => Prepare(queue, """{"uri": "/tmp/code", "priority": "critical"}"""));
        ThrowsLaunch("PrioritizationDisabled", () => Prepare(queue, """{"uri": "/tmp/code", "priority": 3}"""));

        Assert.Equal(LaunchPriority.Medium, Prepare(queue, """{"uri": "/tmp/code"}""").Priority);
        Assert.Equal(LaunchPriority.Medium, Prepare(queue, """{"uri": "/tmp/code"}""", LaunchPriority.Medium).Priority);
        Assert.Equal(LaunchPriority.Medium, Prepare(queue, """{"uri": "/tmp/code", "priority": "medium"}""").Priority);
    }

    [Theory]
    [InlineData("\"critical\"", LaunchPriority.Critical)]
    [InlineData("\"HIGH\"", LaunchPriority.High)]
    [InlineData("\"medium\"", LaunchPriority.Medium)]
    [InlineData("\"low\"", LaunchPriority.Low)]
    [InlineData("0", LaunchPriority.Critical)]
    [InlineData("1", LaunchPriority.High)]
    [InlineData("2", LaunchPriority.Medium)]
    [InlineData("3", LaunchPriority.Low)]
    [InlineData("\"1\"", LaunchPriority.High)]
    public void Priority_comes_from_the_spec_by_name_or_number(string value, LaunchPriority expected)
    {
        var item = Prepare(Queue(prioritization: true), $$"""{"uri": "/tmp/code", "priority": {{value}}}""");
        Assert.Equal(expected, item.Priority);
        Assert.Equal((int)expected, item.Spec.ToJsonObject()["priority"]!.GetValue<int>());
    }

    [Fact]
    public void The_request_priority_wins_over_the_spec()
    {
        var item = Prepare(Queue(prioritization: true), """{"uri": "/tmp/code", "priority": "low"}""", LaunchPriority.Critical);
        Assert.Equal(LaunchPriority.Critical, item.Priority);
        Assert.Equal(0, item.Spec.ToJsonObject()["priority"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("\"urgent\"")]
    [InlineData("4")]
    [InlineData("-1")]
    [InlineData("true")]
    [InlineData("[0]")]
    public void Unknown_priorities_are_refused(string value)
    {
        ThrowsLaunch("InvalidPriority", () => Prepare(Queue(prioritization: true), $$"""{"uri": "/tmp/code", "priority": {{value}}}"""));
    }

    // ---- templates

    private const string TemplatedConfig = """{"env": {"CPUS": "{{cpus}}", "LABEL": "size-{{size}}", "RATE": "{{rate}}"}, "fixed": "yes"}""";
    private const string TemplateVariables = """
        {
          "cpus": {"type": "integer", "minimum": 1, "maximum": 8, "default": 2},
          "size": {"type": "string", "enum": ["small", "large"]},
          "rate": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5}
        }
        """;

    [Fact]
    public void Template_values_are_rendered_into_resource_args_with_their_types()
    {
        var item = Prepare(Queue(config: TemplatedConfig, variables: TemplateVariables), """{"uri": "/tmp/code"}""",
            values: """{"cpus": 4, "size": "large", "rate": 0.25}""");
        JsonEqual("""{"env": {"CPUS": 4, "LABEL": "size-large", "RATE": 0.25}, "fixed": "yes"}""", Args(item));
        JsonEqual("""{"cpus": 4, "size": "large", "rate": 0.25}""", item.TemplateValues);
        JsonEqual("""{"cpus": 4, "size": "large", "rate": 0.25}""", item.Spec.ToJsonObject()["template_variables"]);
    }

    [Fact]
    public void A_whole_placeholder_takes_the_value_type_and_a_string_value_given_as_text_is_converted()
    {
        var item = Prepare(Queue(config: TemplatedConfig, variables: TemplateVariables), """{"uri": "/tmp/code"}""",
            values: """{"cpus": "6", "size": "small"}""");
        var cpus = item.Spec.ToJsonObject()["resource_args"]!["local-process"]!["env"]!["CPUS"]!;
        Assert.Equal(System.Text.Json.JsonValueKind.Number, cpus.GetValueKind());
        Assert.Equal(6, cpus.GetValue<long>());
        Assert.Equal("size-small", item.Spec.ToJsonObject()["resource_args"]!["local-process"]!["env"]!["LABEL"]!.GetValue<string>());
    }

    [Fact]
    public void Missing_values_take_their_defaults()
    {
        var item = Prepare(Queue(config: TemplatedConfig, variables: TemplateVariables), """{"uri": "/tmp/code"}""", values: """{"size": "small"}""");
        JsonEqual("""{"env": {"CPUS": 2, "LABEL": "size-small", "RATE": 0.5}, "fixed": "yes"}""", Args(item));
        JsonEqual("""{"size": "small", "cpus": 2, "rate": 0.5}""", item.TemplateValues);
    }

    [Fact]
    public void Values_come_from_the_spec_template_variables_when_the_request_has_none()
    {
        var item = Prepare(Queue(config: TemplatedConfig, variables: TemplateVariables),
            """{"uri": "/tmp/code", "template_variables": {"size": "large", "cpus": 8}}""");
        JsonEqual("""{"env": {"CPUS": 8, "LABEL": "size-large", "RATE": 0.5}, "fixed": "yes"}""", Args(item));
    }

    [Fact]
    public void Request_values_replace_the_spec_template_variables()
    {
        var item = Prepare(Queue(config: TemplatedConfig, variables: TemplateVariables),
            """{"uri": "/tmp/code", "template_variables": {"size": "large", "cpus": 8}}""", values: """{"size": "small"}""");
        JsonEqual("""{"env": {"CPUS": 2, "LABEL": "size-small", "RATE": 0.5}, "fixed": "yes"}""", Args(item));
    }

    [Theory]
    [InlineData("""{"size": "small", "cpus": 9}""", "InvalidTemplateValue", "cpus")]
    [InlineData("""{"size": "small", "cpus": 0}""", "InvalidTemplateValue", "cpus")]
    [InlineData("""{"size": "small", "cpus": 1.5}""", "InvalidTemplateValue", "cpus")]
    [InlineData("""{"size": "small", "cpus": "many"}""", "InvalidTemplateValue", "cpus")]
    [InlineData("""{"size": "medium"}""", "InvalidTemplateValue", "size")]
    [InlineData("""{"size": "small", "rate": 1.5}""", "InvalidTemplateValue", "rate")]
    [InlineData("""{"size": "small", "gpus": 1}""", "UnknownTemplateVariable", "gpus")]
    [InlineData("""{"cpus": 2}""", "TemplateValueMissing", "size")]
    public void Template_values_are_validated(string values, string errorId, string variable)
    {
        var e = ThrowsLaunch(errorId, () => Prepare(Queue(config: TemplatedConfig, variables: TemplateVariables), """{"uri": "/tmp/code"}""", values: values));
        Assert.Equal(variable, e.Target);
    }

    [Fact]
    public void Template_values_on_a_queue_without_templates_are_refused()
    {
        ThrowsLaunch("UnknownTemplateVariable", () => Prepare(Queue(config: """{"env": {"A": "1"}}"""), """{"uri": "/tmp/code"}""", values: """{"x": 1}"""));
    }

    [Fact]
    public void Without_template_variables_there_are_no_stored_values()
    {
        var item = Prepare(Queue(config: """{"env": {"A": "1"}}"""), """{"uri": "/tmp/code"}""");
        Assert.Null(item.TemplateValues);
        Assert.Null(item.Spec.ToJsonObject()["template_variables"]);
    }

    // ---- resource_args merge

    [Fact]
    public void Without_templates_the_spec_resource_args_refine_the_queue_config()
    {
        var queue = Queue(config: """{"env": {"A": "queue", "B": "queue"}, "list": [1, 2], "keep": true}""");
        var item = Prepare(queue, """{"uri": "/tmp/code", "resource_args": {"local-process": {"env": {"B": "spec", "C": "spec"}, "list": [3]}}}""");
        JsonEqual("""{"env": {"A": "queue", "B": "spec", "C": "spec"}, "list": [3], "keep": true}""", Args(item));
    }

    [Fact]
    public void With_templates_the_rendered_queue_config_wins_over_the_spec_resource_args()
    {
        var queue = Queue(config: """{"env": {"CPUS": "{{cpus}}", "A": "queue"}}""", variables: """{"cpus": {"type": "integer", "default": 1}}""");
        var item = Prepare(queue, """{"uri": "/tmp/code", "resource_args": {"local-process": {"env": {"CPUS": 99, "A": "spec", "EXTRA": "spec"}}}}""",
            values: """{"cpus": 3}""");
        JsonEqual("""{"env": {"CPUS": 3, "A": "queue", "EXTRA": "spec"}}""", Args(item));
    }

    [Fact]
    public void Resource_args_are_stored_under_the_queue_resource_only()
    {
        var item = Prepare(Queue(config: """{"env": {"A": "1"}}"""),
            """{"uri": "/tmp/code", "resource_args": {"kubernetes": {"namespace": "x"}}}""");
        JsonEqual("""{"local-process": {"env": {"A": "1"}}}""", item.Spec.ToJsonObject()["resource_args"]);
    }

    [Fact]
    public void The_request_spec_is_not_modified()
    {
        var spec = (JsonObject)JsonNode.Parse("""{"uri": "/tmp/code", "resource_args": {"local-process": {"env": {"B": "spec"}}}}""")!;
        var before = spec.ToJsonString();
        LaunchSpecRules.Prepare(Queue(config: """{"env": {"A": "1"}}"""), new PushRequest { Spec = spec });
        Assert.Equal(before, spec.ToJsonString());
    }

    // ---- run id

    [Fact]
    public void A_given_run_id_is_kept_and_otherwise_one_is_made()
    {
        var given = Prepare(Queue(), """{"uri": "/tmp/code", "run_id": "myrun123"}""");
        Assert.Equal("myrun123", given.RunId);
        Assert.Equal("myrun123", given.Spec.RunId);

        var made = Prepare(Queue(), """{"uri": "/tmp/code"}""");
        Assert.Matches("^[a-z0-9]{8}$", made.RunId);
        Assert.Equal(made.RunId, made.Spec.RunId);
        Assert.NotEqual(made.RunId, Prepare(Queue(), """{"uri": "/tmp/code"}""").RunId);

        Assert.Matches("^[a-z0-9]{8}$", Prepare(Queue(), """{"uri": "/tmp/code", "run_id": ""}""").RunId);
    }

    [Fact]
    public void Other_spec_keys_are_kept()
    {
        var item = Prepare(Queue(), $$$"""{"uri": "{{{Dir}}}", "name": "n", "overrides": {"args": ["--a"], "run_config": {"lr": 0.1}}, "git": {"version": "main"}}""");
        Assert.Equal("n", item.Spec.Name);
        JsonEqual("""{"args": ["--a"], "run_config": {"lr": 0.1}}""", item.Spec.ToJsonObject()["overrides"]);
        JsonEqual("""{"version": "main"}""", item.Spec.ToJsonObject()["git"]);
    }
}
