using System.Text.RegularExpressions;

namespace WandbLaunch.Engine.Tests.Architecture;

/// <summary>
/// The engine's folders (one concern each) depend one way (the layers are listed in docs/architecture.md). This reads
/// the engine's sources, finds which top-level folders each folder's code names (through <c>using</c> directives and
/// qualified names), and fails on any cycle.
/// </summary>
public sealed partial class FolderDependencyTests
{
    [Fact]
    public void Engine_folders_depend_one_way()
    {
        var cycles = Cycles(FolderGraph());
        Assert.True(cycles.Count == 0, "Engine folders depend on each other in a cycle: " + string.Join("; ", cycles) +
            ". Move the shared type to a folder both can depend on, or invert the dependency through an interface.");
    }

    [Fact]
    public void A_dependency_back_down_the_layers_is_reported_as_a_cycle()
    {
        // Guards the cycle check itself, on the real graph: one edge from a low folder back up to one that uses it.
        var graph = FolderGraph();
        graph["Queues"].Add("Agent");
        Assert.Contains(Cycles(graph), c => c.StartsWith("Queues -> ", StringComparison.Ordinal) && c.Contains("Agent", StringComparison.Ordinal));
    }

    [Fact]
    public void The_scan_sees_the_dependencies_that_are_known_to_exist()
    {
        // Guards the scan itself: without it an empty graph would pass the cycle test.
        var graph = FolderGraph();
        Assert.Contains("Errors", graph["Queues"]);
        Assert.Contains("Storage", graph["Agent"]);
        Assert.Contains("Documents", graph["Config"]);
        Assert.Contains("Docker", graph["Queues"]); // a qualified name (Docker.ContainerArgs), no using directive
        Assert.Contains("Specs", graph["Storage"]);
        Assert.DoesNotContain("Agent", graph["Errors"]);
        Assert.DoesNotContain("Agent", graph["Storage"]);
    }

    /// <summary>Each folder with a dependency that leads back to it, as "from -> the folders on the way back".</summary>
    private static List<string> Cycles(Dictionary<string, HashSet<string>> graph) =>
        graph.Keys.Where(f => graph[f].Any(next => Reaches(graph, next, f)))
            .Select(f => $"{f} -> {string.Join(" | ", graph[f].Where(next => Reaches(graph, next, f)))}").ToList();

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
