using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;

namespace WandbLaunch.Engine.HostileInputTests;

/// <summary>
/// Keys the engine does not know (W&amp;B's newer ones, a user's own) come back unchanged, in order, at the top level
/// and inside every mapping the engine knows: parse, change the known keys, store in SQLite, read back.
/// </summary>
public sealed class SpecRoundTripTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly SqliteLaunchBackend _backend;
    private readonly QueueKey _queue = new("ent", LaunchDefaults.Project, "q");

    public SpecRoundTripTests()
    {
        _backend = new SqliteLaunchBackend(_dir.File("launch.db"), "ent");
        TestQueues.CreateAsync(_backend, "ent", "q").GetAwaiter().GetResult();
    }

    public void Dispose()
    {
        _backend.Dispose();
        _dir.Dispose();
    }

    /// <summary>Where unknown keys are put: the top level and each mapping the typed spec reads keys from.</summary>
    private static readonly string[] Places = ["", "overrides", "docker", "git", "builder", "resource_args.local-process"];

    /// <summary>Key names no W&amp;B spec uses: odd characters, unicode, look-alikes of known keys.</summary>
    private static Gen<string> UnknownKeys() =>
        Gen.Elements("x", "launch_project", "Uri", "JOB", "docker image", "a.b", "训练", "🚀", "-", "$ref", "\u001b[31m", "\"quoted\"", "files", "user_id")
            .SelectMany(head => Gen.Choose(0, 999).Select(n => $"{head}_{n}"));

    /// <summary>Any JSON value without a NUL (which Submit refuses anywhere): strings, numbers, booleans, null, lists, mappings.</summary>
    private static Gen<JsonNode?> Values(int depth)
    {
        var text = ArbMap.Default.ArbFor<string>().Generator.Select(s => (JsonNode?)JsonValue.Create((s ?? "").Replace("\0", "")));
        var leaves = Gen.OneOf(
            text,
            ArbMap.Default.ArbFor<long>().Generator.Select(n => (JsonNode?)JsonValue.Create(n)),
            ArbMap.Default.ArbFor<bool>().Generator.Select(b => (JsonNode?)JsonValue.Create(b)),
            Gen.Constant<JsonNode?>(null));
        if (depth == 0) return leaves;
        var list = Values(depth - 1).ListOf().Select(items => (JsonNode?)new JsonArray(items.ToArray()));
        var mapping = Gen.Zip(UnknownKeys(), Values(depth - 1)).ListOf()
            .Select(pairs => (JsonNode?)Mapping(pairs.DistinctBy(p => p.Item1).Select(p => (p.Item1, p.Item2))));
        return Gen.Frequency((4, leaves), (1, list), (1, mapping));
    }

    private static JsonObject Mapping(IEnumerable<(string Key, JsonNode? Value)> pairs)
    {
        var obj = new JsonObject();
        foreach (var (key, value) in pairs) obj[key] = value;
        return obj;
    }

    private static Gen<List<(string Place, string Key, JsonNode? Value)>> Unknowns() =>
        Gen.Elements(Places).SelectMany(place => UnknownKeys().SelectMany(key => Values(2).Select(value => (Place: place, Key: key, Value: value)))).ListOf()
            .Select(list => list.DistinctBy(u => (u.Place, u.Key)).ToList());

    [Property(MaxTest = 100)]
    public Property Unknown_keys_survive_parse_change_store_and_read_unchanged_and_in_order() =>
        Prop.ForAll(Unknowns().ToArbitrary(), unknowns =>
        {
            var document = new JsonObject { ["uri"] = _dir.Path };
            foreach (var (place, key, value) in unknowns) TestSpecs.At(document, place, create: true)![key] = value?.DeepClone();

            var spec = LaunchSpec.Parse(document);
            spec.Name = "changed";
            spec.Project = "proj";
            spec.GitVersion = "main";
            spec.BuilderBaseImage = "python:3.12";
            spec.Overrides.EntryPoint = ["python", "train.py"];
            spec.Overrides.Args = ["--lr", "0.1"];
            spec.Overrides.RunConfig = new JsonObject { ["lr"] = 0.1 };
            var pushed = _backend.PushAsync(_queue, new PushRequest { Spec = spec.ToJsonObject() }, CancellationToken.None).GetAwaiter().GetResult();
            var read = _backend.GetJobAsync(pushed.Id, CancellationToken.None).GetAwaiter().GetResult()!.GetSpec();
            var stored = read.ToJsonObject();

            foreach (var place in Places)
            {
                var expected = unknowns.Where(u => u.Place == place).Select(u => u.Key).ToList();
                var actual = TestSpecs.At(stored, place, create: false)?.Select(p => p.Key).Where(k => expected.Contains(k)).ToList() ?? [];
                Assert.Equal(expected, actual);
            }
            foreach (var (place, key, value) in unknowns)
            {
                var back = TestSpecs.At(stored, place, create: false)![key];
                Assert.True(JsonNode.DeepEquals(value, back), $"{place}.{key}: {value?.ToJsonString() ?? "null"} came back as {back?.ToJsonString() ?? "null"}");
            }
            Assert.Equal("changed", read.Name);
            Assert.Equal("main", read.GitVersion);
            Assert.Equal("python:3.12", read.BuilderBaseImage);
            Assert.Equal(["python", "train.py"], read.Overrides.EntryPoint);
            Assert.Equal(["--lr", "0.1"], read.Overrides.Args);
            Assert.Equal(_dir.Path, read.Uri);
        });
}
