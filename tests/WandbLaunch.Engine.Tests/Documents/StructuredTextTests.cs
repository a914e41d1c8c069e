using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Tests.Documents;

public class StructuredTextTests
{
    private static JsonObject Yaml(string text) => Assert.IsType<JsonObject>(StructuredText.Parse(text).Root);

    private static LaunchException ParseError(string text, string? file = null, string errorId = "MyDocumentError") =>
        Assert.ThrowsAny<LaunchException>(() => StructuredText.Parse(text, file, errorId));

    [Fact]
    public void Yaml_plain_scalars_are_typed_as_in_the_core_schema()
    {
        var doc = Yaml("""
            int: 42
            negative: -7
            float: 2.5
            exponent: 1.5e3
            yes_bool: true
            no_bool: False
            tilde: ~
            word_null: null
            empty:
            text: hello world
            """);

        Assert.Equal(42L, Assert.IsType<long>(JsonTree.ToPlain(doc["int"])));
        Assert.Equal(-7L, Assert.IsType<long>(JsonTree.ToPlain(doc["negative"])));
        Assert.Equal(2.5, Assert.IsType<double>(JsonTree.ToPlain(doc["float"])));
        Assert.Equal(1500.0, JsonTree.ToPlain(doc["exponent"]));
        Assert.Equal(true, JsonTree.ToPlain(doc["yes_bool"]));
        Assert.Equal(false, JsonTree.ToPlain(doc["no_bool"]));
        foreach (var key in new[] { "tilde", "word_null", "empty" })
        {
            Assert.True(doc.ContainsKey(key), key);
            Assert.Null(doc[key]);
        }
        Assert.Equal("hello world", JsonTree.ToPlain(doc["text"]));
    }

    [Fact]
    public void Yaml_quoted_scalars_and_str_tags_stay_strings()
    {
        var doc = Yaml("""
            a: "42"
            b: 'true'
            c: "null"
            d: ''
            e: !!str 3.5
            f: "~"
            """);

        Assert.Equal("42", JsonTree.ToPlain(doc["a"]));
        Assert.Equal("true", JsonTree.ToPlain(doc["b"]));
        Assert.Equal("null", JsonTree.ToPlain(doc["c"]));
        Assert.Equal("", JsonTree.ToPlain(doc["d"]));
        Assert.Equal("3.5", JsonTree.ToPlain(doc["e"]));
        Assert.Equal("~", JsonTree.ToPlain(doc["f"]));
    }

    [Fact]
    public void Yaml_words_that_other_schemas_treat_as_booleans_are_strings()
    {
        // YAML 1.1 read yes/no/on/off as booleans; the core schema (and W&B's configs) keep them as text.
        var doc = Yaml("a: yes\nb: no\nc: on\nd: off\n");
        Assert.All(new[] { "a", "b", "c", "d" }, k => Assert.Equal("string", JsonTree.KindOf(doc[k])));
    }

    [Fact]
    public void Yaml_nested_mappings_and_sequences_keep_structure_and_order()
    {
        var doc = Yaml("""
            spec:
              containers:
                - name: main
                  args: [--epochs, "3"]
                  resources: {limits: {cpu: 2}}
                - name: sidecar
            zeta: 1
            alpha: 2
            """);

        var containers = Assert.IsType<JsonArray>(doc["spec"]!["containers"]);
        Assert.Equal(2, containers.Count);
        Assert.Equal("main", (string?)containers[0]!["name"]);
        Assert.Equal(["--epochs", "3"], Assert.IsType<JsonArray>(containers[0]!["args"]).Select(n => (string?)n));
        Assert.Equal(2L, JsonTree.ToPlain(containers[0]!["resources"]!["limits"]!["cpu"]));
        Assert.Equal("sidecar", (string?)containers[1]!["name"]);
        Assert.Equal(["spec", "zeta", "alpha"], doc.Select(p => p.Key));
    }

    [Fact]
    public void Yaml_block_scalars_and_aliases_are_read()
    {
        var doc = Yaml("script: |\n  line1\n  line2\nbase: &b 5\ncopy: *b\n");
        Assert.Equal("line1\nline2\n", (string?)doc["script"]);
        Assert.Equal(5L, JsonTree.ToPlain(doc["copy"]));
    }

    [Fact]
    public void Json_is_read_with_its_own_types()
    {
        var doc = StructuredText.Parse("""
            {
              // comments are allowed
              "n": 3, "d": 0.25, "s": "3", "b": false, "z": null,
              "list": [1, "two", {"three": 3}],
            }
            """);

        var root = Assert.IsType<JsonObject>(doc.Root);
        Assert.Equal(3L, JsonTree.ToPlain(root["n"]));
        Assert.Equal(0.25, JsonTree.ToPlain(root["d"]));
        Assert.Equal("3", JsonTree.ToPlain(root["s"]));
        Assert.Equal(false, JsonTree.ToPlain(root["b"]));
        Assert.True(root.ContainsKey("z"));
        Assert.Null(root["z"]);
        Assert.Equal(3L, JsonTree.ToPlain(root["list"]![2]!["three"]));
    }

    [Fact]
    public void Json_array_at_the_top_level_is_read()
    {
        var root = Assert.IsType<JsonArray>(StructuredText.Parse("  [1, 2]").Root);
        Assert.Equal(2, root.Count);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   \n")]
    [InlineData("# only a comment\n")]
    public void Empty_yaml_has_no_root(string text)
    {
        Assert.Null(StructuredText.Parse(text).Root);
    }

    [Fact]
    public void Malformed_json_names_the_line_column_and_error_id()
    {
        var e = ParseError("{\"a\": 1,\n \"b\": }", file: "/cfg/queue.json", errorId: "InvalidQueueConfiguration");
        Assert.Equal("InvalidQueueConfiguration", e.ErrorId);
        Assert.Equal(LaunchErrorCategory.InvalidData, e.Category);
        Assert.Contains("Invalid JSON at /cfg/queue.json:2:7", e.Message);
        Assert.Equal("/cfg/queue.json", e.Target);
    }

    [Fact]
    public void Malformed_json_without_a_file_names_line_and_column_and_targets_the_text()
    {
        var e = ParseError("[1, 2,,]");
        Assert.Equal("MyDocumentError", e.ErrorId);
        Assert.Contains("line 1, column 7", e.Message);
        Assert.Equal("[1, 2,,]", e.Target);
    }

    [Fact]
    public void Json_error_columns_count_characters_not_utf8_bytes()
    {
        // The second quote is the 16th character of the line; in UTF-8 bytes it would be the 19th.
        var e = ParseError("{\"name\": \"ééé\" \"x\": 1}");
        Assert.Contains("Invalid JSON at line 1, column 16", e.Message);
    }

    [Theory]
    [InlineData("{cpus: 2, memory: 4Gi, gpus: null}", """{"cpus": 2, "memory": "4Gi", "gpus": null}""")]
    [InlineData("{spec: {template: {spec: {nodeSelector: {pool: gpu}}}}}", """{"spec": {"template": {"spec": {"nodeSelector": {"pool": "gpu"}}}}}""")]
    [InlineData("[--epochs, 3, --lr, 0.1]", """["--epochs", 3, "--lr", 0.1]""")]
    [InlineData("{\"cpus\": 2, memory: \"4Gi\"}", """{"cpus": 2, "memory": "4Gi"}""")]
    public void Flow_style_yaml_starting_with_a_brace_is_read_as_yaml(string text, string expected)
    {
        var root = StructuredText.Parse(text).Root;
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), root), root?.ToJsonString());
    }

    [Fact]
    public void Broken_flow_yaml_reports_the_yaml_error()
    {
        var e = ParseError("{cpus: 2, memory: [4Gi}");
        Assert.StartsWith("Invalid YAML at line 1", e.Message);
    }

    [Theory]
    [InlineData("{\"a\": 1,\n \"b\": }")]
    [InlineData("{\"spec\": {\"cpus\": 2, \"mem\" 4}}")]
    [InlineData("[1, 2,,]")]
    public void Broken_json_is_not_rescued_as_yaml(string text)
    {
        Assert.StartsWith("Invalid JSON at", ParseError(text).Message);
    }

    [Fact]
    public void Malformed_yaml_names_the_line_column_and_error_id()
    {
        var e = ParseError("a: 1\n  b: 2\n", file: "/cfg/launch-config.yaml", errorId: "InvalidAgentConfigYaml");
        Assert.Equal("InvalidAgentConfigYaml", e.ErrorId);
        Assert.Equal(LaunchErrorCategory.InvalidData, e.Category);
        Assert.StartsWith("Invalid YAML at /cfg/launch-config.yaml:2:4:", e.Message);
        Assert.Equal("/cfg/launch-config.yaml", e.Target);
        Assert.DoesNotContain("Idx:", e.Message);
    }

    [Fact]
    public void Unterminated_yaml_quote_points_at_the_opening_quote()
    {
        var e = ParseError("name: ok\nimage: \"busybox\nother: 1\n");
        Assert.Contains("line 2, column 8", e.Message);
    }

    [Fact]
    public void Yaml_tab_indentation_names_the_line_with_the_tab()
    {
        var e = ParseError("builder:\n  type: docker\nqueues:\n\t- a\n");
        Assert.Equal("MyDocumentError", e.ErrorId);
        Assert.Contains("line 4, column 1", e.Message);
        Assert.Contains("tab", e.Message);
    }

    [Fact]
    public void Unclosed_yaml_flow_sequence_is_a_document_error_not_a_crash()
    {
        var e = ParseError("a: 1\nb: [1, 2\nc: 3\n", file: "f.yaml");
        Assert.Equal("MyDocumentError", e.ErrorId);
        Assert.Contains("f.yaml:3:1", e.Message);
    }

    [Fact]
    public void Duplicate_yaml_keys_are_refused_with_the_second_position()
    {
        var e = ParseError("max_jobs: 1\nqueues: [a]\nmax_jobs: 2\n", file: "c.yaml");
        Assert.Contains("max_jobs", e.Message);
        Assert.Contains("c.yaml:3:1", e.Message);
    }

    [Fact]
    public void Duplicate_nested_yaml_keys_are_refused()
    {
        var e = ParseError("builder:\n  type: docker\n  type: noop\n");
        Assert.Contains("type", e.Message);
        Assert.Contains("line 3, column 3", e.Message);
    }

    [Fact]
    public void Duplicate_json_keys_are_refused_with_their_position()
    {
        var e = ParseError("{\n  \"a\": 1,\n  \"a\": 2\n}", file: "q.json");
        Assert.Equal("MyDocumentError", e.ErrorId);
        Assert.Contains("'a'", e.Message);
        Assert.Contains("q.json:3:3", e.Message);
    }

    [Fact]
    public void Duplicate_json_keys_in_nested_objects_are_refused_but_equal_keys_in_sibling_objects_are_fine()
    {
        var e = ParseError("{\"x\": {\"k\": 1, \"k\": 1}}");
        Assert.Contains("'k'", e.Message);

        var ok = Assert.IsType<JsonObject>(StructuredText.Parse("{\"x\": {\"k\": 1}, \"y\": {\"k\": 2}, \"l\": [{\"k\": 1}, {\"k\": 2}]}").Root);
        Assert.Equal(2L, JsonTree.ToPlain(ok["y"]!["k"]));
    }

    [Fact]
    public void Several_yaml_documents_are_refused_naming_where_the_second_starts()
    {
        var e = ParseError("a: 1\n---\nb: 2\n", file: "two.yaml");
        Assert.Contains("found 2", e.Message);
        Assert.Contains("two.yaml:3:1", e.Message);
    }

    [Fact]
    public void One_yaml_document_with_explicit_markers_is_fine()
    {
        var root = Assert.IsType<JsonObject>(StructuredText.Parse("---\na: 1\n...\n").Root);
        Assert.Equal(1L, JsonTree.ToPlain(root["a"]));
    }

    [Fact]
    public void Non_scalar_yaml_keys_are_refused()
    {
        var e = ParseError("? [a, b]\n: 1\n");
        Assert.Contains("line 1, column 3", e.Message);
    }

    [Fact]
    public void An_unquoted_template_placeholder_as_a_key_is_refused_with_advice()
    {
        var e = ParseError("{{name}}: 1\n");
        Assert.Equal("MyDocumentError", e.ErrorId);
    }

    [Fact]
    public void Positions_of_keys_and_values_are_recorded_by_path()
    {
        var doc = StructuredText.Parse("""
            queues:
              - first
              - second
            builder:
              type: docker
              destination: registry.example.com/team/img
            """, "cfg.yaml");

        Assert.Equal(new SourcePosition("cfg.yaml", 5, 3), doc.PositionOf("builder.type"));
        Assert.Equal(new SourcePosition("cfg.yaml", 6, 3), doc.PositionOf("builder.destination"));
        Assert.Equal(new SourcePosition("cfg.yaml", 3, 5), doc.PositionOf("queues[1]"));
        // A path with no position of its own falls back to its nearest ancestor.
        Assert.Equal(new SourcePosition("cfg.yaml", 4, 1), doc.PositionOf("builder.platform"));
        Assert.Equal(" (cfg.yaml:5:3)", doc.Where("builder.type"));
    }

    [Fact]
    public void ParseFile_reads_the_file_and_names_it_in_errors()
    {
        using var dir = new TempDirectory();
        var good = dir.Write("good.yaml", "a: 1\n");
        var bad = dir.Write("bad.yaml", "a: [\n");

        var doc = StructuredText.ParseFile(good);
        Assert.Equal(good, doc.File);
        Assert.Equal(1L, JsonTree.ToPlain(doc.Root!["a"]));

        var e = Assert.ThrowsAny<LaunchException>(() => StructuredText.ParseFile(bad, "BadFile"));
        Assert.Equal("BadFile", e.ErrorId);
        Assert.Contains(bad + ":", e.Message);
    }

    [Fact]
    public void ParseFile_of_a_missing_file_is_a_read_error()
    {
        using var dir = new TempDirectory();
        var e = Assert.ThrowsAny<LaunchException>(() => StructuredText.ParseFile(dir.File("missing.yaml")));
        Assert.Equal("FileNotReadable", e.ErrorId);
        Assert.Equal(LaunchErrorCategory.ReadError, e.Category);
    }
}
