using System.Text.RegularExpressions;

namespace WandbLaunch.Engine.Documents;

/// <summary>Paths into a document as users read them: <c>builder.build-context-store</c>, <c>queues[1]</c>.</summary>
public static partial class DocumentPath
{
    [GeneratedRegex(@"^[A-Za-z0-9_\-]+$")]
    private static partial Regex PlainKey();

    public static string Key(string parent, string key)
    {
        var segment = PlainKey().IsMatch(key) ? key : "[\"" + key.Replace("\"", "\\\"") + "\"]";
        if (parent.Length == 0) return segment;
        return segment.StartsWith('[') ? parent + segment : parent + "." + segment;
    }

    public static string Index(string parent, int index) => $"{parent}[{index}]";

    public static string Parent(string path)
    {
        if (path.Length == 0) return path;
        var cut = Math.Max(path.LastIndexOf('.'), path.LastIndexOf('['));
        // A '.' inside a quoted key segment is rare enough that a wrong parent only costs a less precise position.
        return cut <= 0 ? "" : path[..cut];
    }

    public static string Display(string path) => path.Length == 0 ? "(document root)" : path;
}
