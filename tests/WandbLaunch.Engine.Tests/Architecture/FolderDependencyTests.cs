using System.Text.RegularExpressions;

namespace WandbLaunch.Engine.Tests.Architecture;

/// <summary>
/// The engine's folders (one concern each) should depend one way. This reads the engine's sources, finds which
/// top-level folders each folder's code names (through <c>using</c> directives and qualified names), and fails on any
/// cycle. The dependencies that make cycles today are listed in <see cref="KnownWrongWay"/>, each with what would
/// remove it (docs/architecture.md); any other cycle fails the test, and so does a listed edge that no longer exists.
/// </summary>
public sealed partial class FolderDependencyTests
{
    /// <summary>Dependencies that point the wrong way today (from, to), to be removed.</summary>
    private static readonly Dictionary<(string From, string To), string> KnownWrongWay = new()
    {
        [("Storage", "Agent")] = "agent records (AgentRegistration, Heartbeat, LaunchAgentInfo) belong beside the backend interface",
        [("Queues", "Runners")] = "QueueRules checks local-container arguments; the runner's rules should be reached through Specs or an interface",
        [("Queues", "Specs")] = "QueueNames delegates to SpecNames; the name rules should live below both",
        [("Specs", "Runners")] = "LaunchSpecRules checks local-container arguments (ContainerArgs)",
        [("Specs", "Storage")] = "Ids and LaunchDefaults live in Storage but are not storage",
        [("Jobs", "Specs")] = "LaunchJob carries its LaunchSpec while Specs uses JobLog, JobFailedException and PushRequest; those belong below both",
        [("Jobs", "Storage")] = "PrivateFiles is a file-system concern (FileSystem/)",
        [("Registries", "Storage")] = "LaunchDefaults.Home is not storage",
        [("Documents", "Specs")] = "StructuredText refuses a NUL in a file path through SpecValues.CheckPath",
        [("Config", "Builders")] = "the agent-config validator asks the builders what they accept",
        [("Secrets", "Specs")] = "the redactor takes the API key's variable name and the spec's key from Specs",
    };

    [Fact]
    public void Engine_folders_depend_one_way_apart_from_the_known_wrong_way_dependencies()
    {
        var graph = FolderGraph();
        var stale = KnownWrongWay.Keys.Where(e => !graph[e.From].Contains(e.To)).Select(e => $"{e.From} -> {e.To}").ToList();
        Assert.True(stale.Count == 0, "These dependencies are gone; remove them from KnownWrongWay: " + string.Join(", ", stale));
        foreach (var (from, to) in KnownWrongWay.Keys) graph[from].Remove(to);
        var cycles = graph.Keys.Where(f => graph[f].Any(next => Reaches(graph, next, f)))
            .Select(f => $"{f} -> {string.Join(" | ", graph[f].Where(next => Reaches(graph, next, f)))}").ToList();
        Assert.True(cycles.Count == 0, "Engine folders depend on each other in a cycle: " + string.Join("; ", cycles) +
            ". Move the shared type to a folder both can depend on, or invert the dependency through an interface.");
    }

    [Fact]
    public void The_scan_sees_the_dependencies_that_are_known_to_exist()
    {
        // Guards the scan itself: without it an empty graph would pass the cycle test.
        var graph = FolderGraph();
        Assert.Contains("Errors", graph["Queues"]);
        Assert.Contains("Storage", graph["Agent"]);
        Assert.Contains("Documents", graph["Config"]);
        Assert.DoesNotContain("Agent", graph["Errors"]);
    }

    private static bool Reaches(Dictionary<string, HashSet<string>> graph, string from, string to)
    {
        var seen = new HashSet<string>();
        var pending = new Stack<string>([from]);
        while (pending.TryPop(out var folder))
        {
            if (folder == to) return true;
            if (!seen.Add(folder) || !graph.TryGetValue(folder, out var next)) continue;
            foreach (var n in next) pending.Push(n);
        }
        return false;
    }

    private static Dictionary<string, HashSet<string>> FolderGraph()
    {
        var engine = EngineSources();
        var folders = Directory.GetDirectories(engine).Select(Path.GetFileName).Where(f => f is not ("bin" or "obj")).Cast<string>().ToHashSet();
        var qualified = new Regex(@"(?<![\w.])(?:WandbLaunch\.Engine\.)?(" + string.Join('|', folders.Select(Regex.Escape)) + @")\.[A-Z]\w*", RegexOptions.CultureInvariant);
        var graph = folders.ToDictionary(f => f, _ => new HashSet<string>());
        foreach (var folder in folders)
        {
            foreach (var file in Directory.EnumerateFiles(Path.Combine(engine, folder), "*.cs", SearchOption.AllDirectories))
            {
                var code = WithoutCommentsAndStrings(File.ReadAllText(file));
                foreach (Match m in UsingEngine().Matches(code)) Add(m.Groups[1].Value);
                foreach (Match m in qualified.Matches(code)) Add(m.Groups[1].Value);
            }

            void Add(string target)
            {
                if (target != folder && folders.Contains(target)) graph[folder].Add(target);
            }
        }
        return graph;
    }

    private static string EngineSources()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "src", "WandbLaunch.Engine");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException("src/WandbLaunch.Engine was not found above " + AppContext.BaseDirectory);
    }

    private static string WithoutCommentsAndStrings(string code) => CommentsAndStrings().Replace(code, m => m.Value.StartsWith('/') ? " " : "\"\"");

    [GeneratedRegex(@"^\s*using\s+(?:static\s+)?WandbLaunch\.Engine\.(\w+)", RegexOptions.Multiline)]
    private static partial Regex UsingEngine();

    // Comments, verbatim/raw/interpolated/plain strings and char literals, roughly: enough that words in them are not read as code.
    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/|""""""[\s\S]*?""""""|@""(?:[^""]|"""")*""|\$?""(?:[^""\\\n]|\\.)*""|'(?:[^'\\\n]|\\.)'", RegexOptions.Singleline)]
    private static partial Regex CommentsAndStrings();
}
