using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;

namespace WandbLaunch.Engine.Tests.Documents;

public class YamlWriterTests
{
    private static JsonNode? RoundTrip(JsonNode? node) => StructuredText.Parse(YamlWriter.Write(node)).Root;

    [Theory]
    [InlineData("123")]
    [InlineData("-5")]
    [InlineData("+5")]
    [InlineData("007")]
    [InlineData("1.5")]
    [InlineData("1.")]
    [InlineData(".5")]
    [InlineData("1e3")]
    [InlineData("1E+20")]
    [InlineData("true")]
    [InlineData("False")]
    [InlineData("TRUE")]
    [InlineData("null")]
    [InlineData("Null")]
    [InlineData("~")]
    [InlineData("")]
    [InlineData("0x1F")]
    [InlineData("0o17")]
    [InlineData(".inf")]
    [InlineData("-.Inf")]
    [InlineData(".nan")]
    public void Strings_that_look_like_numbers_booleans_or_null_stay_strings(string text)
    {
        var original = new JsonObject { ["value"] = text, [text.Length == 0 ? "empty" : text] = "key" };
        var back = Assert.IsType<JsonObject>(RoundTrip(original));
        Assert.Equal("string", JsonTree.KindOf(back["value"]));
        Assert.Equal(text, (string?)back["value"]);
        Assert.True(JsonNode.DeepEquals(original, back), YamlWriter.Write(original));
    }

    [Theory]
    [InlineData("yes")]
    [InlineData("a: b")]
    [InlineData("- item")]
    [InlineData("# not a comment")]
    [InlineData("{{cpus}}")]
    [InlineData("[1, 2]")]
    [InlineData(" leading and trailing ")]
    [InlineData("line1\nline2\n")]
    [InlineData("tab\there")]
    [InlineData("quote \" and ' apostrophe")]
    [InlineData("ünïcödé ✓")]
    [InlineData("&anchor")]
    [InlineData("*alias")]
    [InlineData("!tag")]
    [InlineData("%directive")]
    [InlineData("@at")]
    [InlineData("`backtick")]
    [InlineData("key: {{value}}")]
    public void Strings_with_yaml_syntax_characters_come_back_unchanged(string text)
    {
        var original = new JsonObject { ["value"] = text };
        var back = Assert.IsType<JsonObject>(RoundTrip(original));
        Assert.Equal(text, (string?)back["value"]);
    }

    [Fact]
    public void A_whole_document_reads_back_to_the_same_tree()
    {
        var original = new JsonObject
        {
            ["queues"] = new JsonArray("gpu-queue", "123", "true"),
            ["entity"] = null,
            ["max_jobs"] = -1,
            ["ratio"] = 0.75,
            ["secure_mode"] = false,
            ["builder"] = new JsonObject
            {
                ["type"] = "kaniko",
                ["build-context-store"] = "s3://bucket/prefix",
                ["kaniko-config"] = new JsonObject
                {
                    ["spec"] = new JsonObject { ["template"] = new JsonObject { ["spec"] = new JsonObject { ["containers"] = new JsonArray(new JsonObject { ["name"] = "x", ["args"] = new JsonArray("--a", "1") }) } } },
                },
            },
            ["empty_map"] = new JsonObject(),
            ["empty_list"] = new JsonArray(),
            ["nested_lists"] = new JsonArray(new JsonArray(1, 2), new JsonArray(), new JsonObject()),
            ["1"] = "numeric-looking key",
        };

        var yaml = YamlWriter.Write(original);
        var back = RoundTrip(original);

        Assert.True(JsonNode.DeepEquals(original, back), yaml);
        Assert.Equal(["queues", "entity", "max_jobs", "ratio", "secure_mode", "builder", "empty_map", "empty_list", "nested_lists", "1"],
            Assert.IsType<JsonObject>(back).Select(p => p.Key));
    }

    [Fact]
    public void Output_is_block_style_yaml_a_person_can_read()
    {
        var yaml = YamlWriter.Write(new JsonObject
        {
            ["max_jobs"] = 2,
            ["queues"] = new JsonArray("a", "b"),
            ["builder"] = new JsonObject { ["type"] = "docker" },
        });

        Assert.Equal("max_jobs: 2\nqueues:\n- a\n- b\nbuilder:\n  type: docker\n", yaml.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Typed_values_are_written_plain_and_read_back_typed()
    {
        var back = Assert.IsType<JsonObject>(RoundTrip(new JsonObject { ["i"] = 42, ["d"] = 2.5, ["b"] = true, ["n"] = null }));
        Assert.Equal(42L, JsonTree.ToPlain(back["i"]));
        Assert.Equal(2.5, JsonTree.ToPlain(back["d"]));
        Assert.Equal(true, JsonTree.ToPlain(back["b"]));
        Assert.True(back.ContainsKey("n"));
        Assert.Null(back["n"]);
    }

    [Fact]
    public void Values_parsed_from_json_round_trip_through_yaml()
    {
        var fromJson = StructuredText.Parse("""{"cpus": "2", "memory": 4096, "image": "busybox:1.36", "on": true}""").Root;
        Assert.True(JsonNode.DeepEquals(fromJson, RoundTrip(fromJson)));
    }

    [Fact]
    public void A_null_root_reads_back_as_null()
    {
        Assert.Null(RoundTrip(null));
    }
}
