using System.Collections;
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using YamlDotNet.RepresentationModel;

using static WandbLaunch.TestSupport.LaunchAssertions;

namespace WandbLaunch.Engine.HostileInputTests;

/// <summary>
/// YAML and JSON documents and values from cmdlets, built to exhaust the stack (deep nesting), memory (alias bombs,
/// huge files, values that contain themselves) or to hold numbers JSON cannot: each is refused with its own error
/// id, fast, and a document within the limits still reads as before. A stack overflow here ends the test host, so a
/// regression fails the whole run loudly.
/// </summary>
public sealed class DocumentsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    // ---- nesting depth

    /// <summary>The ways a document can nest: JSON lists and objects, YAML flow and block style.</summary>
    public enum Nesting { JsonList, JsonObject, YamlFlowList, YamlFlowMapping, YamlBlockMapping, YamlBlockList }

    private static string Nested(Nesting shape, int depth) => shape switch
    {
        Nesting.JsonList => new string('[', depth) + "1" + new string(']', depth),
        Nesting.JsonObject => string.Concat(Enumerable.Repeat("{\"a\": ", depth)) + "1" + new string('}', depth),
        Nesting.YamlFlowList => "x: " + new string('[', depth - 1) + "1" + new string(']', depth - 1),
        Nesting.YamlFlowMapping => "x: " + string.Concat(Enumerable.Repeat("{a: ", depth - 1)) + "1" + new string('}', depth - 1),
        // Block style costs its depth in indentation on every line, so it stays below a few thousand levels.
        Nesting.YamlBlockMapping => string.Concat(Enumerable.Range(0, depth).Select(i => new string(' ', i) + "a:\n")) + new string(' ', depth) + "1\n",
        Nesting.YamlBlockList => string.Concat(Enumerable.Range(0, depth).Select(i => new string(' ', 2 * i) + "-\n")) + new string(' ', 2 * depth) + "1\n",
        _ => throw new ArgumentOutOfRangeException(nameof(shape)),
    };

    private static int DepthOf(JsonNode? node)
    {
        var depth = 0;
        while (node is JsonObject or JsonArray)
        {
            depth++;
            node = node is JsonObject o ? o.First().Value : ((JsonArray)node)[0];
        }
        return depth;
    }

    private static readonly Gen<Nesting> Shapes = Gen.Elements(Enum.GetValues<Nesting>());

    [Property(MaxTest = 60)]
    public Property Nesting_past_the_limit_is_refused_naming_the_limit_and_never_overflows_the_stack() =>
        Prop.ForAll(
            Shapes.SelectMany(shape => Gen.Choose(DocumentLimits.MaxDepth + 1, shape is Nesting.YamlBlockMapping or Nesting.YamlBlockList ? 2_000 : 30_000).Select(depth => (shape, depth))).ToArbitrary(),
            c =>
            {
                var e = ThrowsLaunch("DocumentTooDeep", () => StructuredText.Parse(Nested(c.shape, c.depth), "deep.yaml", "InvalidQueueConfiguration"));
                Assert.Contains($"{DocumentLimits.MaxDepth} levels", e.Message);
                Assert.Contains("deep.yaml:", e.Message);
            });

    [Property(MaxTest = 60)]
    public Property Nesting_within_the_limit_reads_to_the_same_depth() =>
        Prop.ForAll(
            Shapes.SelectMany(shape => Gen.Choose(1, DocumentLimits.MaxDepth).Select(depth => (shape, depth))).ToArbitrary(),
            c => Assert.Equal(c.depth, DepthOf(StructuredText.Parse(Nested(c.shape, c.depth)).Root)));

    [Fact]
    public void Twenty_thousand_levels_of_every_kind_are_refused()
    {
        foreach (var text in new[] { new string('[', 20_000), "a: " + new string('[', 20_000), string.Concat(Enumerable.Repeat("{\"a\":", 20_000)), "a: " + string.Concat(Enumerable.Repeat("{a: ", 20_000)), new string('-', 1) + string.Concat(Enumerable.Repeat(" -", 20_000)) })
        {
            ThrowsLaunch("DocumentTooDeep", () => StructuredText.Parse(text));
        }
    }

    [Fact]
    public void An_alias_cannot_carry_a_deep_anchor_past_the_depth_limit()
    {
        var half = DocumentLimits.MaxDepth / 2 + 2;
        var text = "a: &deep " + new string('[', half) + new string(']', half) + "\nb: " + new string('[', half) + "*deep" + new string(']', half) + "\n";
        ThrowsLaunch("DocumentTooDeep", () => StructuredText.Parse(text));
    }

    // ---- aliases

    /// <summary>
    /// A chain of anchors, each a list of <paramref name="fanOut"/> aliases of the one before: the last expands to
    /// fanOut^levels scalars in a text of a few hundred bytes.
    /// </summary>
    private static string AliasBomb(int levels, int fanOut)
    {
        var text = new StringBuilder("l0: &l0 lol\n");
        for (var i = 1; i <= levels; i++)
        {
            text.Append($"l{i}: &l{i} [").Append(string.Join(", ", Enumerable.Repeat($"*l{i - 1}", fanOut))).Append("]\n");
        }
        return text.ToString();
    }

    /// <summary>Values (scalars, lists, keys) the bomb expands to.</summary>
    private static double Expanded(int levels, int fanOut) =>
        Enumerable.Range(0, levels + 1).Sum(level => Enumerable.Range(0, level + 1).Sum(i => Math.Pow(fanOut, i)) + 1);

    [Property(MaxTest = 80)]
    public Property Alias_chains_are_read_while_they_expand_within_the_limit_and_refused_fast_past_it() =>
        Prop.ForAll(
            Gen.Choose(1, 12).SelectMany(levels => Gen.Choose(2, 10).Select(fanOut => (levels, fanOut)))
                .Where(c => Expanded(c.levels, c.fanOut) is var n && (n < DocumentLimits.MaxNodes / 2 || n > DocumentLimits.MaxNodes * 2)).ToArbitrary(),
            c =>
            {
                var text = AliasBomb(c.levels, c.fanOut);
                if (Expanded(c.levels, c.fanOut) < DocumentLimits.MaxNodes / 2)
                {
                    var last = StructuredText.Parse(text).Root![$"l{c.levels}"];
                    Assert.Equal(Math.Pow(c.fanOut, c.levels), Leaves(last));
                    return;
                }
                var clock = Stopwatch.StartNew();
                var e = ThrowsLaunch("DocumentAliasExpansionTooLarge", () => StructuredText.Parse(text, "bomb.yaml"));
                Assert.Contains("bomb.yaml:", e.Message);
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"refusing the bomb took {clock.Elapsed}");
            });

    private static double Leaves(JsonNode? node) => node switch
    {
        JsonArray a => a.Sum(Leaves),
        JsonObject o => o.Sum(p => Leaves(p.Value)),
        _ => 1,
    };

    [Fact]
    public void The_classic_billion_laughs_is_refused_with_bounded_memory()
    {
        var text = """
            a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
            b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
            c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
            d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
            e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
            f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
            g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
            h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
            i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
            """;
        Assert.True(text.Length < 600);
        var before = GC.GetAllocatedBytesForCurrentThread();
        ThrowsLaunch("DocumentAliasExpansionTooLarge", () => StructuredText.Parse(text));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1L << 30, "refusing the bomb allocated more than 1 GiB");
    }

    [Fact]
    public void An_alias_of_a_long_string_counts_its_characters()
    {
        var text = $"a: &a {new string('x', 1 << 20)}\nb: [{string.Join(",", Enumerable.Repeat("*a", 20))}]\n";
        ThrowsLaunch("DocumentAliasExpansionTooLarge", () => StructuredText.Parse(text));
    }

    [Fact]
    public void An_alias_inside_its_own_anchor_or_of_no_anchor_is_invalid_yaml_not_a_hang()
    {
        Assert.Contains("contains it", ThrowsLaunch("InvalidQueueConfiguration", () => StructuredText.Parse("a: &a [1, *a]\n", null, "InvalidQueueConfiguration")).Message);
        Assert.Contains("no anchor", ThrowsLaunch("InvalidQueueConfiguration", () => StructuredText.Parse("a: *nowhere\n", null, "InvalidQueueConfiguration")).Message);
    }

    /// <summary>Random small documents with anchors and aliases: scalars, lists and mappings that alias earlier anchors.</summary>
    private static Gen<string> AnchoredDocument =>
        Gen.Choose(1, 8).SelectMany(count =>
            Gen.Choose(0, int.MaxValue).ListOf(count * 4).Select(r =>
            {
                var text = new StringBuilder();
                for (var i = 0; i < count; i++)
                {
                    string Earlier(int k) => i == 0 ? "1" : $"*a{r[k] % i}";
                    var value = (r[4 * i] % 5) switch
                    {
                        0 => $"s{r[4 * i + 1] % 100}",
                        1 => $"[{Earlier(4 * i + 1)}, {Earlier(4 * i + 2)}, x]",
                        2 => $"{{k: {Earlier(4 * i + 1)}, m: [{Earlier(4 * i + 2)}]}}",
                        3 => $"\n  - {Earlier(4 * i + 1)}\n  - n: {Earlier(4 * i + 3)}",
                        _ => $"{r[4 * i + 1] % 1000 - 500}",
                    };
                    text.Append($"a{i}: &a{i} {value}\n");
                }
                return text.ToString();
            }));

    [Property(MaxTest = 200)]
    public Property Documents_with_aliases_read_as_YamlDotNets_own_model_reads_them() =>
        Prop.ForAll(AnchoredDocument.ToArbitrary(), text =>
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(text));
            Assert.True(JsonNode.DeepEquals(Reference(stream.Documents[0].RootNode), StructuredText.Parse(text).Root), text);
        });

    /// <summary>The recursive conversion the reader replaced, as the reference for small documents.</summary>
    private static JsonNode? Reference(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(c => KeyValuePair.Create(((YamlScalarNode)c.Key).Value!, Reference(c.Value)))),
        YamlSequenceNode seq => new JsonArray(seq.Children.Select(Reference).ToArray()),
        YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain, Value: var v } when long.TryParse(v, out var l) => JsonValue.Create(l),
        YamlScalarNode s => JsonValue.Create(s.Value),
        _ => throw new InvalidOperationException(),
    };

    // ---- size

    [Fact]
    public void Text_and_files_past_the_size_limit_are_refused_before_they_are_read_whole()
    {
        var text = "a: " + new string('x', DocumentLimits.MaxCharacters);
        Assert.Contains("16 MiB", ThrowsLaunch("DocumentTooLarge", () => StructuredText.Parse(text)).Message);
        var file = _dir.Write("big.yaml", text);
        Assert.Contains(file, ThrowsLaunch("DocumentTooLarge", () => StructuredText.ParseFile(file)).Message);
    }

    [Fact]
    public void A_device_that_never_ends_is_refused_not_read_forever()
    {
        if (!File.Exists("/dev/zero")) return;
        var clock = Stopwatch.StartNew();
        ThrowsLaunch("DocumentTooLarge", () => StructuredText.ParseFile("/dev/zero"));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20));
    }

    [Fact]
    public void A_flat_document_with_more_values_than_the_limit_is_refused()
    {
        var json = "[" + string.Join(",", Enumerable.Repeat("0", DocumentLimits.MaxNodes + 1)) + "]";
        ThrowsLaunch("DocumentTooLarge", () => StructuredText.Parse(json));
        ThrowsLaunch("DocumentTooLarge", () => StructuredText.Parse("- " + string.Join("\n- ", Enumerable.Repeat("0", DocumentLimits.MaxNodes + 1))));
    }

    // ---- numbers

    [Property(MaxTest = 200)]
    public Property Numbers_that_overflow_a_double_are_refused_in_YAML_and_JSON_and_others_read_exactly() =>
        Prop.ForAll(
            Gen.Choose(1, 9).SelectMany(mantissa => Gen.Choose(-400, 5_000).Select(exponent => $"{mantissa}e{exponent}")).ToArbitrary(),
            number =>
            {
                var value = double.Parse(number, System.Globalization.CultureInfo.InvariantCulture);
                foreach (var text in new[] { $"{{\"cpus\": {number}}}", $"cpus: {number}\n" })
                {
                    if (double.IsFinite(value))
                    {
                        Assert.True(JsonTree.TryGetNumber(StructuredText.Parse(text).Root!["cpus"], out var read));
                        Assert.Equal(value, read);
                    }
                    else
                    {
                        Assert.Contains(number, ThrowsLaunch("NumberNotFinite", () => StructuredText.Parse(text, "n.yaml")).Message);
                    }
                }
            });

    // ---- values given to cmdlets (hashtables, lists)

    private static object Nest(int depth, bool list) =>
        Enumerable.Range(0, depth).Aggregate((object)1, (inner, _) => list ? new List<object> { inner } : new Hashtable { ["a"] = inner });

    [Property(MaxTest = 60)]
    public Property Nested_values_are_refused_past_the_depth_limit_and_read_back_from_JSON_within_it() =>
        Prop.ForAll(
            Gen.Choose(1, 30_000).SelectMany(depth => Gen.Elements(true, false).Select(list => (depth, list))).ToArbitrary(),
            c =>
            {
                if (c.depth > DocumentLimits.MaxDepth)
                {
                    ThrowsLaunch("ValueTooDeep", () => JsonTree.FromObject(Nest(c.depth, c.list)));
                    return;
                }
                var tree = JsonTree.FromObject(Nest(c.depth, c.list));
                // What is stored must read back with the store's own parser.
                Assert.True(JsonNode.DeepEquals(tree, JsonTree.ParseJson(JsonTree.ToJson(tree))));
            });

    [Property(MaxTest = 100)]
    public Property A_value_that_contains_itself_anywhere_is_refused_and_shared_parts_are_not_cycles() =>
        Prop.ForAll(
            Gen.Choose(1, 40).SelectMany(depth => Gen.Choose(0, depth - 1).SelectMany(target => Gen.Elements(true, false).Select(cycle => (depth, target, cycle)))).ToArbitrary(),
            c =>
            {
                // A chain of hashtables and lists; the deepest one holds either an ancestor (a cycle) or a
                // hashtable that also appears elsewhere (shared, not a cycle).
                var chain = new List<object>();
                for (var i = 0; i < c.depth; i++) chain.Add(i % 2 == 0 ? new Hashtable() : new ArrayList());
                var shared = new Hashtable { ["x"] = 1 };
                for (var i = 0; i < c.depth; i++)
                {
                    var child = i + 1 < c.depth ? chain[i + 1] : c.cycle ? chain[c.target] : shared;
                    if (chain[i] is Hashtable h) { h["next"] = child; h["shared"] = shared; }
                    else ((ArrayList)chain[i]).AddRange(new[] { child, shared });
                }
                if (c.cycle) ThrowsLaunch("ValueReferencesItself", () => JsonTree.FromObject(chain[0]));
                else Assert.NotNull(JsonTree.FromObject(chain[0]));
            });

    [Fact]
    public void Shared_parts_that_multiply_past_the_size_limit_are_refused()
    {
        object value = new List<object> { "x" };
        for (var i = 0; i < 40; i++) value = new List<object> { value, value };
        ThrowsLaunch("ValueTooLarge", () => JsonTree.FromObject(value));
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void Non_finite_numbers_in_values_are_refused(double number)
    {
        ThrowsLaunch("NumberNotFinite", () => JsonTree.FromObject(new Hashtable { ["cpus"] = number }));
        ThrowsLaunch("NumberNotFinite", () => JsonTree.FromObject(new Hashtable { ["a"] = new object[] { (float)number } }));
    }

    // ---- entry points

    private const string Bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n";

    [Fact]
    public void The_agent_config_file_is_held_to_the_limits()
    {
        ThrowsLaunch("DocumentAliasExpansionTooLarge", () => AgentConfigFile.Load(_dir.Write("bomb/launch-config.yaml", Bomb)));
        ThrowsLaunch("DocumentTooDeep", () => AgentConfigFile.Load(_dir.Write("deep/launch-config.yaml", "queues: " + new string('[', 20_000))));
    }

    [Fact]
    public void Editing_a_hostile_file_rewrites_it_instead_of_expanding_it()
    {
        var clock = Stopwatch.StartNew();
        var edited = YamlEditor.Edit(Bomb, new JsonObject { ["max_jobs"] = 2 }, ["max_jobs"]);
        Assert.Equal("max_jobs: 2", edited.Trim());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));
    }
}
