using System.Globalization;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Queues;

namespace WandbLaunch.Engine.Specs;

/// <summary>
/// Rules for the values in a launch spec that the OS or the queue would otherwise take wrongly: NUL characters (the
/// OS ends a string at the first NUL, so an argument, path or environment value would be silently cut short),
/// environment variable names (empty, or with '=' or NUL, cannot be set), and priorities (only the whole numbers
/// 0-3 or their names; 2.7 is not 2).
/// </summary>
public static class SpecValues
{
    /// <summary>Refuses a NUL character in any key or string of the spec (or a queue's configuration), naming where it is.</summary>
    public static void Check(JsonObject spec, string what = "launch spec")
    {
        var pending = new Stack<(JsonNode? Node, string Path)>();
        pending.Push((spec, ""));
        while (pending.TryPop(out var item))
        {
            switch (item.Node)
            {
                case JsonObject obj:
                    foreach (var (key, value) in obj)
                    {
                        var path = DocumentPath.Key(item.Path, key);
                        if (key.Contains('\0')) throw Nul(what, $"the key {Text.Printable.Quote(key)} at '{DocumentPath.Display(item.Path)}'", path);
                        pending.Push((value, path));
                    }
                    break;
                case JsonArray arr:
                    for (var i = 0; i < arr.Count; i++) pending.Push((arr[i], DocumentPath.Index(item.Path, i)));
                    break;
                case JsonValue when JsonTree.TryGetString(item.Node, out var text) && text.Contains('\0'):
                    throw Nul(what, $"'{DocumentPath.Display(item.Path)}' ({Text.Printable.Quote(text)})", item.Path);
            }
        }
    }

    private static LaunchException Nul(string document, string what, string path) =>
        LaunchException.Invalid("ValueContainsNul",
            $"The {document}'s {what} contains a NUL character (\\u0000), which the operating system would take as the end of the text. Remove it.",
            DocumentPath.Display(path));

    /// <summary>Refuses a path with a NUL character: the OS would open the file named by the text before it.</summary>
    public static void CheckPath(string path, string what)
    {
        if (!path.Contains('\0')) return;
        throw LaunchException.Invalid("ValueContainsNul",
            $"The {what} {Text.Printable.Quote(path)} contains a NUL character (\\u0000), which the operating system would take as the end of the path. Remove it.",
            Text.Printable.Quote(path));
    }

    /// <summary>
    /// Checks the environment variable names in <paramref name="args"/> (a resource's arguments): every <c>env</c>
    /// (and local-container <c>e</c>) mapping's keys, <c>NAME=value</c> entries, and Kubernetes <c>{name, value}</c> entries.
    /// </summary>
    public static void CheckEnvironment(JsonObject args, string where)
    {
        var pending = new Stack<(JsonNode? Node, string Path)>();
        pending.Push((args, where));
        while (pending.TryPop(out var item))
        {
            switch (item.Node)
            {
                case JsonObject obj:
                    foreach (var (key, value) in obj)
                    {
                        var path = DocumentPath.Key(item.Path, key);
                        if (key is "env" or "e") CheckEnvironmentList(value, path);
                        pending.Push((value, path));
                    }
                    break;
                case JsonArray arr:
                    for (var i = 0; i < arr.Count; i++) pending.Push((arr[i], DocumentPath.Index(item.Path, i)));
                    break;
            }
        }
    }

    private static void CheckEnvironmentList(JsonNode? env, string path)
    {
        switch (env)
        {
            case JsonObject map:
                foreach (var (name, _) in map) CheckEnvironmentName(name, path);
                break;
            case JsonArray list:
                foreach (var entry in list)
                {
                    if (JsonTree.TryGetString(entry, out var text) && text.Contains('=')) CheckEnvironmentName(text[..text.IndexOf('=')], path);
                    else if (entry is JsonObject { } k8s && JsonTree.TryGetString(k8s["name"], out var name)) CheckEnvironmentName(name, path);
                }
                break;
        }
    }

    /// <summary>An environment variable name must be non-empty and hold neither '=' nor NUL; a template placeholder is left for rendering.</summary>
    public static void CheckEnvironmentName(string name, string where)
    {
        if (name.Length > 0 && !name.Contains('=') && !name.Contains('\0')) return;
        if (name.Contains("{{", StringComparison.Ordinal) && !name.Contains('\0')) return;
        throw LaunchException.Invalid("InvalidEnvironmentVariableName",
            $"{where} names the environment variable {Text.Printable.Quote(name)}; a name must not be empty and must not contain '=' or a NUL character.",
            Text.Printable.Quote(name));
    }

    /// <summary>
    /// The spec's <c>priority</c>: a whole number 0-3 or a name (critical, high, medium, low). A fraction (2.7) or
    /// a number out of range (-1, 4, 1e9) is refused rather than rounded or clamped.
    /// </summary>
    public static LaunchPriority? Priority(JsonNode? node)
    {
        if (node is null) return null;
        if (JsonTree.TryGetNumber(node, out var n))
        {
            if (JsonTree.IsInteger(node) && n is >= 0 and <= 3) return (LaunchPriority)(int)n;
            throw LaunchException.Invalid("InvalidPriority",
                $"The spec's priority is {JsonTree.Show(node)}; use critical, high, medium, low or a whole number 0-3.", JsonTree.Show(node));
        }
        if (JsonTree.TryGetString(node, out var s)) return LaunchPriorities.Parse(s);
        throw LaunchException.Invalid("InvalidPriority", $"The spec's priority is {JsonTree.Show(node)}; use critical, high, medium, low or 0-3.", JsonTree.Show(node));
    }

}
