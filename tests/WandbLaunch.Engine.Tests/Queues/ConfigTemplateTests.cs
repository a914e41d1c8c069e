using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Queues;

namespace WandbLaunch.Engine.Tests.Queues;

public class ConfigTemplateTests
{
    private static Dictionary<string, TemplateVariable> Variables(string json) =>
        QueueRules.ReadVariables((JsonObject)JsonNode.Parse(json)!).ToDictionary(v => v.Name);

    private static JsonNode Config(string yaml) => StructuredText.Parse(yaml).Root!;

    [Fact]
    public void Placeholders_are_found_in_values_keys_and_lists_in_order_of_appearance()
    {
        var config = Config("""
            spec:
              args: ["--gpus={{gpus}}", "{{ epochs }}"]
              "{{label}}": x
              image: "{{gpus}}"
              note: "{{ not a placeholder }} {{1bad}}"
            """);

        Assert.Equal(["gpus", "epochs", "label"], ConfigTemplate.Placeholders(config));
    }

    [Fact]
    public void Matching_placeholders_and_variables_pass_the_check()
    {
        var config = Config("cpus: \"{{cpus}}\"\nargs: [\"--size={{size}}\"]\n");
        ConfigTemplate.CheckVariables(config, Variables("""{"cpus": {"type": "integer"}, "size": {"type": "string", "enum": ["s"]}}"""));
    }

    [Fact]
    public void A_placeholder_without_a_variable_is_refused()
    {
        var config = Config("cpus: \"{{cpus}}\"\nmemory: \"{{memory}}Gi\"\n");
        var e = Assert.ThrowsAny<LaunchException>(() => ConfigTemplate.CheckVariables(config, Variables("""{"cpus": {"type": "integer"}}""")));
        Assert.Equal("TemplateVariableMissing", e.ErrorId);
        Assert.Equal("memory", e.Target);
        Assert.Contains("{{memory}}", e.Message);
        Assert.Contains("defined: cpus", e.Message);
    }

    [Fact]
    public void A_variable_the_config_never_uses_is_refused()
    {
        var config = Config("cpus: \"{{cpus}}\"\n");
        var e = Assert.ThrowsAny<LaunchException>(() => ConfigTemplate.CheckVariables(config,
            Variables("""{"cpus": {"type": "integer"}, "gpus": {"type": "integer"}}""")));
        Assert.Equal("TemplateVariableUnused", e.ErrorId);
        Assert.Equal("gpus", e.Target);
        Assert.Contains("{{gpus}}", e.Message);
    }

    [Fact]
    public void Variables_with_an_empty_config_are_unused()
    {
        var e = Assert.ThrowsAny<LaunchException>(() => ConfigTemplate.CheckVariables(null, Variables("""{"cpus": {"type": "integer"}}""")));
        Assert.Equal("TemplateVariableUnused", e.ErrorId);
    }

    [Fact]
    public void Given_values_are_checked_and_typed_and_missing_ones_take_their_defaults()
    {
        var variables = Variables("""
            {"cpus": {"type": "integer", "minimum": 1, "maximum": 8, "default": 2},
             "lr": {"type": "number", "default": 0.1},
             "size": {"type": "string", "enum": ["s", "l"]}}
            """);

        var values = ConfigTemplate.ResolveValues(variables, new JsonObject { ["cpus"] = "4", ["size"] = "l" });

        Assert.Equal(3, values.Count);
        Assert.Equal(4L, JsonTree.ToPlain(values["cpus"]));
        Assert.Equal(0.1, JsonTree.ToPlain(values["lr"]));
        Assert.Equal("l", JsonTree.ToPlain(values["size"]));
    }

    [Fact]
    public void A_value_out_of_range_is_refused()
    {
        var variables = Variables("""{"cpus": {"type": "integer", "minimum": 1, "maximum": 8}}""");
        var e = Assert.ThrowsAny<LaunchException>(() => ConfigTemplate.ResolveValues(variables, new JsonObject { ["cpus"] = 64 }));
        Assert.Equal("InvalidTemplateValue", e.ErrorId);
        Assert.Contains("64", e.Message);
    }

    [Fact]
    public void A_missing_value_without_a_default_is_refused()
    {
        var variables = Variables("""{"cpus": {"type": "integer"}, "size": {"type": "string", "enum": ["s"]}}""");
        var e = Assert.ThrowsAny<LaunchException>(() => ConfigTemplate.ResolveValues(variables, new JsonObject { ["cpus"] = 1 }));
        Assert.Equal("TemplateValueMissing", e.ErrorId);
        Assert.Equal("size", e.Target);
    }

    [Fact]
    public void Unknown_variable_names_are_refused_listing_the_defined_ones()
    {
        var variables = Variables("""{"cpus": {"type": "integer", "default": 1}}""");
        var e = Assert.ThrowsAny<LaunchException>(() => ConfigTemplate.ResolveValues(variables, new JsonObject { ["cpu"] = 1 }));
        Assert.Equal("UnknownTemplateVariable", e.ErrorId);
        Assert.Equal("cpu", e.Target);
        Assert.Contains("cpus", e.Message);

        var none = Assert.ThrowsAny<LaunchException>(() => ConfigTemplate.ResolveValues(new Dictionary<string, TemplateVariable>(), new JsonObject { ["x"] = 1 }));
        Assert.Equal("UnknownTemplateVariable", none.ErrorId);
        Assert.Contains("no template variables", none.Message);
    }

    [Fact]
    public void Variable_names_are_case_sensitive()
    {
        var variables = Variables("""{"cpus": {"type": "integer", "default": 1}}""");
        var e = Assert.ThrowsAny<LaunchException>(() => ConfigTemplate.ResolveValues(variables, new JsonObject { ["CPUS"] = 1 }));
        Assert.Equal("UnknownTemplateVariable", e.ErrorId);
    }

    [Fact]
    public void No_variables_and_no_values_resolve_to_nothing()
    {
        Assert.Empty(ConfigTemplate.ResolveValues(new Dictionary<string, TemplateVariable>(), null));
    }

    [Fact]
    public void A_whole_string_placeholder_takes_the_type_of_its_value()
    {
        var config = Config("""
            cpus: "{{cpus}}"
            spaced: "{{ cpus }}"
            lr: "{{lr}}"
            size: "{{size}}"
            """);
        var values = new Dictionary<string, JsonNode> { ["cpus"] = 4, ["lr"] = 0.5, ["size"] = "large" };

        var rendered = Assert.IsType<JsonObject>(ConfigTemplate.Render(config, values));

        Assert.Equal("integer", JsonTree.KindOf(rendered["cpus"]));
        Assert.Equal(4L, JsonTree.ToPlain(rendered["cpus"]));
        Assert.Equal(4L, JsonTree.ToPlain(rendered["spaced"]));
        Assert.Equal(0.5, JsonTree.ToPlain(rendered["lr"]));
        Assert.Equal("large", JsonTree.ToPlain(rendered["size"]));
    }

    [Fact]
    public void An_embedded_placeholder_is_replaced_as_text()
    {
        var config = Config("""
            args: ["--cpus={{cpus}}", "--lr", "{{lr}}x"]
            image: "repo/{{size}}:latest"
            both: "{{cpus}}-{{size}}"
            "{{size}}-key": 1
            """);
        var values = new Dictionary<string, JsonNode> { ["cpus"] = 4, ["lr"] = 0.5, ["size"] = "large" };

        var rendered = Assert.IsType<JsonObject>(ConfigTemplate.Render(config, values));

        Assert.Equal("""["--cpus=4","--lr","0.5x"]""", rendered["args"]!.ToJsonString());
        Assert.Equal("repo/large:latest", (string?)rendered["image"]);
        Assert.Equal("4-large", (string?)rendered["both"]);
        Assert.Equal(1L, JsonTree.ToPlain(rendered["large-key"]));
        Assert.False(rendered.ContainsKey("{{size}}-key"));
    }

    [Fact]
    public void Rendering_keeps_everything_else_and_does_not_change_the_template()
    {
        var config = Config("""
            spec:
              replicas: 2
              enabled: true
              none: null
              cpus: "{{cpus}}"
              macro: ${project_name}
            """);
        var before = config.ToJsonString();

        var rendered = ConfigTemplate.Render(config, new Dictionary<string, JsonNode> { ["cpus"] = 3 });

        Assert.Equal(before, config.ToJsonString());
        Assert.Equal("""{"spec":{"replicas":2,"enabled":true,"none":null,"cpus":3,"macro":"${project_name}"}}""", rendered!.ToJsonString());
    }

    [Fact]
    public void Placeholders_without_a_value_are_left_as_written()
    {
        var rendered = ConfigTemplate.Render(Config("a: \"{{x}}\"\nb: \"pre {{x}}\"\n"), new Dictionary<string, JsonNode>());
        Assert.Equal("""{"a":"{{x}}","b":"pre {{x}}"}""", rendered!.ToJsonString());
    }

    [Fact]
    public void Resolve_then_render_gives_the_config_an_agent_runs()
    {
        var config = Config("""
            resources:
              limits:
                cpu: "{{cpus}}"
                memory: "{{memory}}Gi"
            """);
        var variables = Variables("""{"cpus": {"type": "integer", "minimum": 1, "maximum": 8, "default": 1}, "memory": {"type": "integer", "default": 4}}""");
        ConfigTemplate.CheckVariables(config, variables);

        var values = ConfigTemplate.ResolveValues(variables, new JsonObject { ["cpus"] = "6" });
        var rendered = ConfigTemplate.Render(config, values);

        Assert.Equal("""{"resources":{"limits":{"cpu":6,"memory":"4Gi"}}}""", rendered!.ToJsonString());
    }
}
