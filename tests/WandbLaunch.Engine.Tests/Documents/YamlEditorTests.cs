using System.Text.Json.Nodes;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Documents;

namespace WandbLaunch.Engine.Tests.Documents;

/// <summary>Editing a launch-config.yaml's text: only the changed keys' lines change.</summary>
public sealed class YamlEditorTests
{
    private const string Config = """
        # Agent for the GPU pool. Ask #ml-infra before changing.
        entity: ml-team   # the team's entity
        max_jobs: 4       # fewer on weekends

        queues:
          - gpu-a100   # main
          - gpu-h100

        builder:
          type: docker
          # pushed here, read by the cluster
          destination: registry.example.com/ml/images
          platform: linux/amd64

        environment:
          type: aws
          region: us-east-1
        # end of file
        """;

    private static string Edit(string original, params (string Path, JsonNode? Value)[] changes)
    {
        var document = (JsonObject)StructuredText.Parse(original).Root!;
        var wanted = AgentConfigFile.Apply(document, changes.Select(c => KeyValuePair.Create(c.Path, c.Value)));
        var edited = YamlEditor.Edit(original, wanted, changes.Select(c => c.Path));
        // Whatever the text, it must read back to the wanted document.
        Assert.True(JsonNode.DeepEquals(StructuredText.Parse(YamlWriter.Write(wanted)).Root, StructuredText.Parse(edited).Root), edited);
        return edited;
    }

    private static string Replace(string text, string from, string to)
    {
        Assert.Contains(from, text);
        return text.Replace(from, to, StringComparison.Ordinal);
    }

    [Fact]
    public void A_scalar_changes_in_place_and_keeps_its_comment()
    {
        var edited = Edit(Config, ("max_jobs", 8));
        Assert.Equal(Replace(Config, "max_jobs: 4       # fewer", "max_jobs: 8       # fewer"), edited);
    }

    [Fact]
    public void A_nested_scalar_changes_in_place_and_the_comment_above_it_stays()
    {
        var edited = Edit(Config, ("builder.destination", "ghcr.io/ml/images"));
        Assert.Equal(Replace(Config, "destination: registry.example.com/ml/images", "destination: ghcr.io/ml/images"), edited);
    }

    [Fact]
    public void A_string_that_would_read_as_another_type_is_quoted()
    {
        var edited = Edit(Config, ("entity", "yes"));
        Assert.Equal(Replace(Config, "entity: ml-team   #", "entity: \"yes\"   #"), edited);
    }

    [Fact]
    public void A_new_key_goes_at_the_end_of_its_mapping_with_its_indentation()
    {
        var edited = Edit(Config, ("builder.build-context-store", "s3://bucket/ctx"), ("builder.secret-name", "regcred"));
        Assert.Equal(Replace(Config, "  platform: linux/amd64\n", "  platform: linux/amd64\n  build-context-store: s3://bucket/ctx\n  secret-name: regcred\n"), edited);
    }

    [Fact]
    public void A_new_top_level_mapping_goes_after_the_last_key_before_trailing_comments()
    {
        var edited = Edit(Config, ("registry.type", "ecr"));
        Assert.Equal(Replace(Config, "  region: us-east-1\n", "  region: us-east-1\nregistry:\n  type: ecr\n"), edited);
    }

    [Fact]
    public void A_list_is_written_again_in_its_place()
    {
        var edited = Edit(Config, ("queues", new JsonArray("cpu", "gpu-a100")));
        Assert.Equal(Replace(Config, "queues:\n  - gpu-a100   # main\n  - gpu-h100\n", "queues:\n- cpu\n- gpu-a100\n"), edited);
    }

    [Fact]
    public void A_removed_key_takes_its_lines_and_nothing_else()
    {
        var edited = Edit(Config, ("builder.platform", null), ("max_jobs", null));
        Assert.Equal(Replace(Replace(Config, "max_jobs: 4       # fewer on weekends\n", ""), "  platform: linux/amd64\n", ""), edited);
    }

    [Fact]
    public void Removing_a_whole_mapping_keeps_the_comments_around_it()
    {
        var edited = Edit(Config, ("environment", null));
        Assert.Equal(Replace(Config, "environment:\n  type: aws\n  region: us-east-1\n", ""), edited);
    }

    [Fact]
    public void A_key_in_a_deeper_mapping_is_changed_without_touching_its_neighbours()
    {
        const string text = "builder:\n  kaniko-config:\n    spec:\n      backoffLimit: 1   # kaniko retries\n  type: kaniko\nmax_jobs: 2\n";
        var edited = Edit(text, ("builder.type", "docker"), ("max_jobs", 3));
        Assert.Equal("builder:\n  kaniko-config:\n    spec:\n      backoffLimit: 1   # kaniko retries\n  type: docker\nmax_jobs: 3\n", edited);
    }

    [Fact]
    public void A_key_under_a_flow_mapping_rewrites_that_mapping_as_a_block()
    {
        const string text = "# mine\nbuilder: {type: docker}\nmax_jobs: 2 # two\n";
        var edited = Edit(text, ("builder.destination", "ghcr.io/x"));
        Assert.Equal("# mine\nbuilder:\n  type: docker\n  destination: ghcr.io/x\nmax_jobs: 2 # two\n", edited);
    }

    [Fact]
    public void A_change_inside_a_mapping_that_is_written_again_is_not_made_twice()
    {
        var edited = Edit(Config, ("builder", new JsonObject { ["type"] = "noop" }), ("builder.platform", null), ("max_jobs", 1));
        Assert.Equal(Replace(Replace(Config,
            "builder:\n  type: docker\n  # pushed here, read by the cluster\n  destination: registry.example.com/ml/images\n  platform: linux/amd64\n", "builder:\n  type: noop\n"),
            "max_jobs: 4 ", "max_jobs: 1 "), edited);
    }

    [Fact]
    public void A_scalar_replaced_by_a_mapping_is_written_as_a_block()
    {
        const string text = "builder: docker   # old style\nqueues: [a]\n";
        var edited = Edit(text, ("builder.type", "noop"));
        Assert.Equal("builder:\n  type: noop\nqueues: [a]\n", edited);
    }

    [Fact]
    public void An_empty_value_gets_its_scalar()
    {
        const string text = "entity:\nmax_jobs: 1\n";
        var edited = Edit(text, ("entity", "team"));
        Assert.Equal("entity: team\nmax_jobs: 1\n", edited);
    }

    [Fact]
    public void A_file_of_only_comments_keeps_them_and_gets_the_keys_after_them()
    {
        const string text = "# written by hand\n# see docs\n";
        var wanted = new JsonObject { ["max_jobs"] = 2 };
        Assert.Equal("# written by hand\n# see docs\nmax_jobs: 2\n", YamlEditor.Edit(text, wanted, ["max_jobs"]));
    }

    [Fact]
    public void Windows_line_endings_are_kept()
    {
        var text = Config.Replace("\n", "\r\n", StringComparison.Ordinal);
        var edited = Edit(text, ("max_jobs", 8), ("builder.secret-name", "regcred"));
        Assert.Equal(Replace(Replace(Config, "max_jobs: 4 ", "max_jobs: 8 "), "  platform: linux/amd64\n", "  platform: linux/amd64\n  secret-name: regcred\n").Replace("\n", "\r\n", StringComparison.Ordinal), edited);
    }

    [Fact]
    public void A_key_added_after_a_deep_mapping_goes_at_its_mappings_indentation()
    {
        const string text = "builder:\n  type: kaniko\n  kaniko-config:\n    spec:\n      template:\n        spec:\n          tolerations:\n            - key: build\n              effect: NoSchedule\n\nenvironment:\n  type: aws\n  region: us-east-1";
        var edited = Edit(text, ("max_jobs", 4), ("environment.region", "eu-west-1"), ("builder.platform", "linux/amd64"));
        Assert.Equal("builder:\n  type: kaniko\n  kaniko-config:\n    spec:\n      template:\n        spec:\n          tolerations:\n            - key: build\n              effect: NoSchedule\n  platform: linux/amd64\n\nenvironment:\n  type: aws\n  region: eu-west-1\nmax_jobs: 4", edited);
    }

    [Fact]
    public void Keys_removed_just_before_a_new_key_do_not_swallow_it()
    {
        var edited = Edit(Config, ("builder.platform", null), ("builder.destination", null), ("builder.secret-name", "regcred"));
        Assert.Equal(Replace(Config,
            "  # pushed here, read by the cluster\n  destination: registry.example.com/ml/images\n  platform: linux/amd64\n",
            "  # pushed here, read by the cluster\n  secret-name: regcred\n"), edited);
    }

    [Theory]
    [InlineData("{\"max_jobs\": 1, \"queues\": [\"a\"]}")]
    [InlineData("base: &b {type: docker}\nbuilder: *b\n")]
    public void Json_and_anchors_are_written_anew(string text)
    {
        var edited = Edit(text, ("max_jobs", 5));
        Assert.Equal(YamlWriter.Write(AgentConfigFile.Apply((JsonObject)StructuredText.Parse(text).Root!, [KeyValuePair.Create<string, JsonNode?>("max_jobs", 5)])), edited);
    }
}
