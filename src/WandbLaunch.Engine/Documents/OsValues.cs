using System.Text.Json.Nodes;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Documents;

/// <summary>
/// Rules for the values in a document (a launch spec, a queue's configuration, a path from a file) that the OS would
/// otherwise take wrongly: NUL characters (the OS ends a string at the first NUL, so an argument, path or environment
/// value would be silently cut short) and environment variable names (empty, or with '=' or NUL, cannot be set).
/// </summary>
public static class OsValues
{
    /// <summary>Refuses a NUL character in any key or string of <paramref name="document"/> (a launch spec, a queue's configuration), naming where it is; <paramref name="what"/> names the document.</summary>
    public static void CheckNul(JsonObject document, string what)
    {
        var pending = new Stack<(JsonNode? Node, string Path)>();
        pending.Push((document, ""));
        while (pending.TryPop(out var item))
        {
            switch (item.Node)
            {
                case JsonObject obj:
                    foreach (var (key, value) in obj)
                    {
                        var path = DocumentPath.Key(item.Path, key);
                        if (key.Contains('\0')) throw Nul(what, $"the key {Printable.Quote(key)} at '{DocumentPath.Display(item.Path)}'", path);
                        pending.Push((value, path));
                    }
                    break;
                case JsonArray arr:
                    for (var i = 0; i < arr.Count; i++) pending.Push((arr[i], DocumentPath.Index(item.Path, i)));
                    break;
                case JsonValue when JsonTree.TryGetString(item.Node, out var text) && text.Contains('\0'):
                    throw Nul(what, $"'{DocumentPath.Display(item.Path)}' ({Printable.Quote(text)})", item.Path);
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
            $"The {what} {Printable.Quote(path)} contains a NUL character (\\u0000), which the operating system would take as the end of the path. Remove it.",
            Printable.Quote(path));
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
            $"{where} names the environment variable {Printable.Quote(name)}; a name must not be empty and must not contain '=' or a NUL character.",
            Printable.Quote(name));
    }
}
