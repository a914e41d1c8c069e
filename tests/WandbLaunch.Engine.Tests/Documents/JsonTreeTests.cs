using System.Collections;
using System.Collections.Specialized;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Tests.Documents;

public class JsonTreeTests
{
    private enum Color
    {
        Red,
    }

    [Fact]
    public void FromObject_converts_hashtables_lists_and_primitives()
    {
        var table = new Hashtable
        {
            ["int"] = 3,
            ["long"] = 5_000_000_000L,
            ["double"] = 1.25,
            ["float"] = 0.5f,
            ["decimal"] = 2.5m,
            ["bool"] = true,
            ["string"] = "42",
            ["char"] = 'x',
            ["null"] = null,
            ["enum"] = Color.Red,
            ["list"] = new object?[] { 1, "two", null, new List<int> { 3 } },
            ["nested"] = new Dictionary<string, object> { ["deep"] = new OrderedDictionary { ["k"] = "v" } },
        };

        var obj = Assert.IsType<JsonObject>(JsonTree.FromObject(table));

        Assert.Equal("integer", JsonTree.KindOf(obj["int"]));
        Assert.Equal(3L, JsonTree.ToPlain(obj["int"]));
        Assert.Equal(5_000_000_000L, JsonTree.ToPlain(obj["long"]));
        Assert.Equal(1.25, JsonTree.ToPlain(obj["double"]));
        Assert.Equal(0.5, JsonTree.ToPlain(obj["float"]));
        Assert.Equal("2.5", obj["decimal"]!.ToJsonString());
        Assert.Equal(true, JsonTree.ToPlain(obj["bool"]));
        // Strings are never parsed: "42" stays a string.
        Assert.Equal("string", JsonTree.KindOf(obj["string"]));
        Assert.Equal("x", JsonTree.ToPlain(obj["char"]));
        Assert.True(obj.ContainsKey("null"));
        Assert.Null(obj["null"]);
        Assert.Equal("Red", JsonTree.ToPlain(obj["enum"]));
        Assert.Equal("[1,\"two\",null,[3]]", obj["list"]!.ToJsonString());
        Assert.Equal("v", (string?)obj["nested"]!["deep"]!["k"]);
    }

    [Fact]
    public void FromObject_keeps_the_order_of_ordered_dictionaries()
    {
        var ordered = new OrderedDictionary { ["z"] = 1, ["a"] = 2, ["m"] = 3 };
        var obj = Assert.IsType<JsonObject>(JsonTree.FromObject(ordered));
        Assert.Equal(["z", "a", "m"], obj.Select(p => p.Key));
    }

    [Fact]
    public void FromObject_writes_dates_as_utc_iso_8601()
    {
        var at = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.FromHours(2));
        Assert.Equal("2024-05-06T05:08:09.0000000+00:00", JsonTree.ToPlain(JsonTree.FromObject(at)));
    }

    [Fact]
    public void FromObject_copies_a_json_node_instead_of_sharing_it()
    {
        var node = new JsonObject { ["a"] = 1 };
        var copy = Assert.IsType<JsonObject>(JsonTree.FromObject(node));
        copy["a"] = 2;
        Assert.Equal(1, (int)node["a"]!);
    }

    [Fact]
    public void FromObject_refuses_other_types_naming_the_path_and_error_id()
    {
        var table = new Hashtable { ["spec"] = new Hashtable { ["items"] = new object[] { 1, new Uri("https://example.com") } } };
        var e = Assert.ThrowsAny<LaunchException>(() => JsonTree.FromObject(table, "InvalidLaunchSpec"));
        Assert.Equal("InvalidLaunchSpec", e.ErrorId);
        Assert.Equal(LaunchErrorCategory.InvalidArgument, e.Category);
        Assert.Contains("spec.items[1]", e.Message);
        Assert.Contains("System.Uri", e.Message);
    }

    [Fact]
    public void ToPlain_gives_ordered_case_insensitive_dictionaries_arrays_and_primitives()
    {
        var node = StructuredText.Parse("""{"Zeta": {"n": 1, "d": 1.5, "b": true, "s": "x", "z": null}, "alpha": [1, "a", [2]]}""").Root;

        var plain = Assert.IsType<OrderedDictionary>(JsonTree.ToPlain(node));
        Assert.Equal(["Zeta", "alpha"], plain.Keys.Cast<string>());
        var zeta = Assert.IsType<OrderedDictionary>(plain["zeta"]);
        Assert.Equal(1L, Assert.IsType<long>(zeta["n"]));
        Assert.Equal(1.5, Assert.IsType<double>(zeta["d"]));
        Assert.Equal(true, zeta["b"]);
        Assert.Equal("x", zeta["s"]);
        Assert.True(zeta.Contains("z"));
        Assert.Null(zeta["z"]);
        var alpha = Assert.IsType<object?[]>(plain["ALPHA"]);
        Assert.Equal(1L, alpha[0]);
        Assert.Equal("a", alpha[1]);
        Assert.Equal(new object?[] { 2L }, Assert.IsType<object?[]>(alpha[2]));
    }

    [Fact]
    public void FromObject_and_ToPlain_round_trip()
    {
        var original = new OrderedDictionary
        {
            ["name"] = "q",
            ["count"] = 2L,
            ["ratio"] = 0.5,
            ["flags"] = new object?[] { true, null, "x" },
            ["inner"] = new OrderedDictionary { ["k"] = "v" },
        };

        var back = Assert.IsType<OrderedDictionary>(JsonTree.ToPlain(JsonTree.FromObject(original)));

        Assert.Equal("q", back["name"]);
        Assert.Equal(2L, back["count"]);
        Assert.Equal(0.5, back["ratio"]);
        Assert.Equal(new object?[] { true, null, "x" }, Assert.IsType<object?[]>(back["flags"]));
        Assert.Equal("v", Assert.IsType<OrderedDictionary>(back["inner"])["k"]);
    }

    [Theory]
    [InlineData("1", "integer")]
    [InlineData("-3", "integer")]
    [InlineData("2.0", "number")]
    [InlineData("1e3", "number")]
    [InlineData("\"1\"", "string")]
    [InlineData("true", "boolean")]
    [InlineData("null", "null")]
    [InlineData("[]", "list")]
    [InlineData("{}", "mapping")]
    public void KindOf_names_values_as_users_read_them(string json, string kind)
    {
        Assert.Equal(kind, JsonTree.KindOf(JsonTree.ParseJson(json)));
    }

    [Fact]
    public void Show_shortens_long_values()
    {
        var shown = JsonTree.Show(JsonValue.Create(new string('a', 100)));
        Assert.Equal(60, shown.Length);
        Assert.EndsWith("...", shown);
        Assert.Equal("null", JsonTree.Show(null));
    }
}
