using System.Text.Json.Nodes;

namespace WandbLaunch.Engine.Documents;

/// <summary>
/// A JSON or YAML document as a <see cref="JsonNode"/> tree, with the source position of every key and value
/// (by <see cref="DocumentPath"/>) so that validation errors can name the line and column.
/// </summary>
public sealed class ParsedDocument
{
    private readonly IReadOnlyDictionary<string, SourcePosition> _positions;

    internal ParsedDocument(JsonNode? root, string? file, IReadOnlyDictionary<string, SourcePosition> positions, string text = "")
    {
        Root = root;
        File = file;
        _positions = positions;
        Text = text;
    }

    public JsonNode? Root { get; }

    public string? File { get; }

    /// <summary>The text the document was read from ("" when it was made from a tree), for editing it in place.</summary>
    public string Text { get; }

    /// <summary>Where the value at <paramref name="path"/> (or its nearest ancestor that has a position) starts.</summary>
    public SourcePosition? PositionOf(string path)
    {
        for (var p = path; ; p = DocumentPath.Parent(p))
        {
            if (_positions.TryGetValue(p, out var pos)) return pos;
            if (p.Length == 0) return null;
        }
    }

    /// <summary>
    /// The same file with a changed tree (<paramref name="root"/>). Only the positions of paths that
    /// <paramref name="keep"/> accepts are kept, so that issues in changed parts name no line of the file, which
    /// does not hold them.
    /// </summary>
    internal ParsedDocument WithChanges(JsonNode? root, Func<string, bool> keep) =>
        new(root, File, _positions.Where(p => keep(p.Key)).ToDictionary(p => p.Key, p => p.Value), Text);

    /// <summary>" (file:line:col)" or "" — for appending to a message.</summary>
    public string Where(string path)
    {
        var pos = PositionOf(path);
        return pos is null ? (File is null ? "" : $" ({File})") : $" ({pos})";
    }
}
