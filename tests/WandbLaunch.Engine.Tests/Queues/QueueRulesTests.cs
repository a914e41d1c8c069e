using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Queues;

namespace WandbLaunch.Engine.Tests.Queues;

public class QueueRulesTests
{
    private static JsonNode? Yaml(string text) => StructuredText.Parse(text).Root;

    [Fact]
    public void A_bare_config_is_kept_as_is()
    {
        var config = QueueRules.NormalizeConfig("kubernetes", Yaml("metadata:\n  namespace: ml\n"));
        Assert.Equal("""{"metadata":{"namespace":"ml"}}""", config.ToJsonString());
    }

    [Fact]
    public void The_wrapped_form_wandb_stores_is_unwrapped()
    {
        var config = QueueRules.NormalizeConfig("kubernetes", Yaml("""
            resource_args:
              kubernetes:
                metadata:
                  namespace: ml
            """));
        Assert.Equal("""{"metadata":{"namespace":"ml"}}""", config.ToJsonString());
    }

    [Theory]
    [InlineData("resource_args: {}")]
    [InlineData("resource_args:\n  local-container:\n")]
    public void An_empty_wrapped_config_is_an_empty_config(string yaml)
    {
        Assert.Empty(QueueRules.NormalizeConfig("local-container", Yaml(yaml)));
    }

    [Fact]
    public void A_wrapped_config_for_another_resource_is_refused()
    {
        var e = Assert.ThrowsAny<LaunchException>(() => QueueRules.NormalizeConfig("kubernetes", Yaml("resource_args:\n  sagemaker:\n    RoleArn: r\n")));
        Assert.Equal("InvalidQueueConfiguration", e.ErrorId);
        Assert.Contains("'sagemaker'", e.Message);
        Assert.Contains("kubernetes", e.Message);
    }

    [Fact]
    public void A_wrapped_config_that_is_not_a_mapping_is_refused()
    {
        var e = Assert.ThrowsAny<LaunchException>(() => QueueRules.NormalizeConfig("kubernetes", Yaml("resource_args:\n  kubernetes: [1]\n")));
        Assert.Equal("InvalidQueueConfiguration", e.ErrorId);
    }

    [Theory]
    [InlineData("[1, 2]", "list")]
    [InlineData("just text", "string")]
    [InlineData("42", "integer")]
    public void A_config_that_is_not_a_mapping_is_refused(string yaml, string kind)
    {
        var e = Assert.ThrowsAny<LaunchException>(() => QueueRules.NormalizeConfig("kubernetes", Yaml(yaml)));
        Assert.Equal("InvalidQueueConfiguration", e.ErrorId);
        Assert.Contains(kind, e.Message);
    }

    [Fact]
    public void No_config_is_an_empty_mapping()
    {
        Assert.Empty(QueueRules.NormalizeConfig("local-process", null));
    }

    [Fact]
    public void Normalizing_copies_so_the_caller_can_keep_its_document()
    {
        var original = (JsonObject)Yaml("a: 1\n")!;
        var config = QueueRules.NormalizeConfig("local-process", original);
        config["a"] = 2;
        Assert.Equal(1L, JsonTree.ToPlain(original["a"]));
    }

    [Fact]
    public void Check_normalizes_the_resource_and_config_and_reads_the_variables()
    {
        var result = QueueRules.Check("gpu-queue", " Kubernetes ",
            Yaml("resource_args:\n  kubernetes:\n    cpus: \"{{cpus}}\"\n"),
            (JsonObject)JsonNode.Parse("""{"cpus": {"type": "integer", "minimum": 1, "default": 1}}""")!);

        Assert.Equal("gpu-queue", result.Name);
        Assert.Equal("kubernetes", result.Resource);
        Assert.Equal("""{"cpus":"{{cpus}}"}""", result.Config.ToJsonString());
        var variable = Assert.Single(result.Variables);
        Assert.Equal("cpus", variable.Name);
        Assert.Equal(1L, variable.Default);
    }

    [Theory]
    [InlineData("docker")]
    [InlineData("")]
    [InlineData("k8s")]
    public void Unknown_resources_are_refused_listing_the_allowed_ones(string resource)
    {
        var e = Assert.ThrowsAny<LaunchException>(() => QueueRules.Check("q", resource, null, null));
        Assert.Equal("InvalidResource", e.ErrorId);
        foreach (var r in LaunchResource.All) Assert.Contains(r, e.Message);
    }

    [Fact]
    public void Every_wandb_resource_is_accepted()
    {
        Assert.Equal(["local-container", "local-process", "kubernetes", "sagemaker", "gcp-vertex"], LaunchResource.All);
        foreach (var r in LaunchResource.All) Assert.Equal(r, QueueRules.Check("q", r.ToUpperInvariant(), null, null).Resource);
    }

    [Fact]
    public void Check_refuses_a_placeholder_without_a_variable()
    {
        var e = Assert.ThrowsAny<LaunchException>(() => QueueRules.Check("q", "kubernetes", Yaml("cpus: \"{{cpus}}\"\n"), null));
        Assert.Equal("TemplateVariableMissing", e.ErrorId);
    }

    [Fact]
    public void Check_refuses_an_unused_variable()
    {
        var e = Assert.ThrowsAny<LaunchException>(() => QueueRules.Check("q", "kubernetes", Yaml("cpus: 1\n"),
            (JsonObject)JsonNode.Parse("""{"cpus": {"type": "integer"}}""")!));
        Assert.Equal("TemplateVariableUnused", e.ErrorId);
    }

    [Fact]
    public void Check_refuses_a_bad_name_first()
    {
        var e = Assert.ThrowsAny<LaunchException>(() => QueueRules.Check(new string('q', 65), "kubernetes", null, null));
        Assert.Equal("InvalidQueueName", e.ErrorId);
    }

    [Fact]
    public void Variables_written_to_json_read_back_the_same()
    {
        var json = (JsonObject)JsonNode.Parse("""{"cpus": {"type": "integer", "minimum": 1, "maximum": 8}, "size": {"type": "string", "enum": ["s", "l"], "default": "s"}}""")!;
        var back = QueueRules.VariablesToJson(QueueRules.ReadVariables(json));
        Assert.True(JsonNode.DeepEquals(json, back), back.ToJsonString());
    }
}
