using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace WandbLaunch.Engine.Documents;

/// <summary>
/// Changes keys of a YAML file's text in place, so that everything the change does not touch stays as the user
/// wrote it: comments, blank lines, key order, quoting and indentation. A key that is set to a scalar keeps the
/// comment after it on its line; a key whose value becomes or was a collection is written again as block YAML at
/// its indentation; a new key is added at the end of its mapping; a removed key's lines go. Where the text cannot
/// be edited so (a flow-style or JSON document, anchors, or an edit that would not read back to the wanted tree),
/// the whole document is written anew with <see cref="YamlWriter"/>.
/// </summary>
public static class YamlEditor
{
    /// <summary>
    /// Returns <paramref name="original"/> with the keys in <paramref name="changedPaths"/> (dotted key paths, such
    /// as <c>builder.destination</c>) made as they are in <paramref name="wanted"/>: present with its value, or absent.
    /// </summary>
    /// <param name="original">The file's text.</param>
    /// <param name="wanted">The whole document after the change.</param>
    /// <param name="changedPaths">The key paths that changed; every other key is as in <paramref name="original"/>.</param>
    public static string Edit(string original, JsonObject wanted, IEnumerable<string> changedPaths)
    {
        var rewrite = YamlWriter.Write(wanted);
        try
        {
            var crlf = original.Contains("\r\n", StringComparison.Ordinal);
            var text = crlf ? original.Replace("\r\n", "\n", StringComparison.Ordinal) : original;
            var edited = TryEdit(text, wanted, changedPaths);
            if (edited is null || !ReadsAs(edited, rewrite)) return rewrite;
            return crlf ? edited.Replace("\n", "\r\n", StringComparison.Ordinal) : edited;
        }
        catch (Exception e) when (e is YamlException or Errors.LaunchException or InvalidOperationException or ArgumentException or FormatException)
        {
            return rewrite;
        }
    }

    private static bool ReadsAs(string edited, string rewrite) =>
        JsonNode.DeepEquals(StructuredText.Parse(edited).Root, StructuredText.Parse(rewrite).Root);

    /// <summary>
    /// Lines <paramref name="Start"/>..<paramref name="End"/> (0-based; End &lt; Start inserts) become <paramref name="Lines"/>.
    /// <paramref name="Mapping"/> is the mapping the edit changes; <paramref name="Value"/> the value it rewrites or
    /// removes (null for an insertion).
    /// </summary>
    private sealed record LineEdit(int Start, int End, IReadOnlyList<string> Lines, YamlMappingNode Mapping, YamlNode? Value);

    private static string? TryEdit(string text, JsonObject wanted, IEnumerable<string> changedPaths)
    {
        // YamlStream recurses once per level and expands nothing lazily: hold the text to the document limits first.
        StructuredText.Parse(text);
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: "" or null })
        {
            // Empty, or only comments: keep them and add the document after them.
            return text.Length == 0 || text.EndsWith('\n') ? text + YamlWriter.Write(wanted) : text + "\n" + YamlWriter.Write(wanted);
        }
        if (stream.Documents.Count > 1 || stream.Documents[0].RootNode is not YamlMappingNode { Style: not YamlDotNet.Core.Events.MappingStyle.Flow } root) return null;
        if (text.Contains('&') && text.Contains('*') && HasAnchors(root)) return null;

        var source = new Source(text, root);
        var edits = new List<LineEdit>();
        var targets = new HashSet<(YamlNode, string)>();
        foreach (var path in changedPaths)
        {
            var parts = path.Split('.');
            var mapping = root;
            JsonNode? wantedParent = wanted;
            for (var i = 0; i < parts.Length; i++)
            {
                var key = parts[i];
                var wantedHere = (wantedParent as JsonObject)?[key];
                var present = (wantedParent as JsonObject)?.ContainsKey(key) == true;
                var entry = mapping.Children.FirstOrDefault(c => c.Key is YamlScalarNode s && s.Value == key);
                var last = i == parts.Length - 1;
                if (entry.Key is null)
                {
                    if (present && targets.Add((mapping, key))) edits.Add(Insert(source, mapping, key, wantedHere));
                    break;
                }
                if (!last && present && entry.Value is YamlMappingNode { Style: not YamlDotNet.Core.Events.MappingStyle.Flow } child && wantedHere is JsonObject)
                {
                    mapping = child;
                    wantedParent = wantedHere;
                    continue;
                }
                if (targets.Add((mapping, key))) edits.Add(present ? Replace(source, mapping, entry.Key, entry.Value, key, wantedHere) : Remove(source, mapping, entry.Key, entry.Value));
                break;
            }
        }
        return Apply(source, edits);
    }

    private static bool HasAnchors(YamlNode node) =>
        !node.Anchor.IsEmpty || node switch
        {
            YamlMappingNode m => m.Children.Any(c => HasAnchors(c.Key) || HasAnchors(c.Value)),
            YamlSequenceNode s => s.Children.Any(HasAnchors),
            _ => false,
        };

    /// <summary>Applies the edits from the bottom up; an edit inside a value another edit rewrites is left out.</summary>
    private static string Apply(Source source, List<LineEdit> edits)
    {
        var rewritten = edits.Where(e => e.Value is not null).Select(e => e.Value!).ToList();
        var kept = edits.Where(e => !source.AncestorsOf(e.Mapping).Any(a => rewritten.Any(r => ReferenceEquals(r, a)))).ToList();
        var lines = source.Lines;
        // Bottom up; two keys added at one place go in the order they were asked for.
        foreach (var edit in kept.Select((e, i) => (e, i)).OrderByDescending(x => x.e.Start).ThenByDescending(x => x.e.End).ThenByDescending(x => x.i).Select(x => x.e))
        {
            lines.RemoveRange(edit.Start, edit.End - edit.Start + 1);
            lines.InsertRange(edit.Start, edit.Lines);
        }
        return string.Join('\n', lines);
    }

    /// <summary>
    /// The last line (0-based) of an entry: the line before the next key at its level or an outer one (YamlDotNet's
    /// collection nodes do not record where they end), leaving trailing blank and comment lines out.
    /// </summary>
    private static int LastLine(Source source, YamlNode key)
    {
        var start = (int)key.Start.Index;
        var at = source.NextKey(key) - 1;
        while (at > start && char.IsWhiteSpace(source.Text[at])) at--;
        var end = source.Text.AsSpan(0, Math.Max(at, 0)).Count('\n');
        var first = (int)key.Start.Line - 1;
        while (end > first && (source.Lines[end].Trim().Length == 0 || source.Lines[end].TrimStart().StartsWith('#'))) end--;
        return Math.Max(end, first);
    }

    /// <summary>The text, its lines, and where every mapping key starts.</summary>
    private sealed class Source
    {
        public Source(string text, YamlNode root)
        {
            Text = text;
            Lines = text.Split('\n').ToList();
            Collect(root);
        }

        public string Text { get; }

        public List<string> Lines { get; }

        public List<(int Index, int Column)> Keys { get; } = [];

        private readonly Dictionary<YamlNode, YamlNode> _parents = new(ReferenceEqualityComparer.Instance);

        /// <summary>The node and every node it is in, up to the root.</summary>
        public IEnumerable<YamlNode> AncestorsOf(YamlNode node)
        {
            for (YamlNode? at = node; at is not null; at = _parents.GetValueOrDefault(at)) yield return at;
        }

        /// <summary>Where the next key at the level of <paramref name="key"/> or an outer one starts (the end of the text if none).</summary>
        public int NextKey(YamlNode key) =>
            Keys.Where(k => k.Index > key.Start.Index && k.Column <= key.Start.Column).Select(k => k.Index).DefaultIfEmpty(Text.Length).Min();

        private void Collect(YamlNode node)
        {
            switch (node)
            {
                case YamlMappingNode mapping:
                    foreach (var (k, v) in mapping.Children)
                    {
                        Keys.Add(((int)k.Start.Index, (int)k.Start.Column));
                        _parents[v] = mapping;
                        Collect(v);
                    }
                    break;
                case YamlSequenceNode sequence:
                    foreach (var item in sequence.Children)
                    {
                        _parents[item] = sequence;
                        Collect(item);
                    }
                    break;
            }
        }
    }

    private static List<string> Entry(string key, JsonNode? value, int indent)
    {
        var rendered = YamlWriter.Write(new JsonObject { [key] = value?.DeepClone() }).TrimEnd('\n').Split('\n');
        var pad = new string(' ', indent);
        return rendered.Select(l => l.Length == 0 ? l : pad + l).ToList();
    }

    private static LineEdit Insert(Source source, YamlMappingNode mapping, string key, JsonNode? value)
    {
        if (mapping.Children.Count == 0) throw new InvalidOperationException("an empty block mapping cannot be extended in place");
        var lastKey = mapping.Children.Last().Key;
        var after = LastLine(source, lastKey);
        var indent = (int)mapping.Children.First().Key.Start.Column - 1;
        return new LineEdit(after + 1, after, Entry(key, value, indent), mapping, null);
    }

    private static LineEdit Remove(Source source, YamlMappingNode mapping, YamlNode key, YamlNode value) =>
        new((int)key.Start.Line - 1, LastLine(source, key), [], mapping, value);

    private static LineEdit Replace(Source source, YamlMappingNode mapping, YamlNode key, YamlNode value, string name, JsonNode? wanted)
    {
        var first = (int)key.Start.Line - 1;
        var last = LastLine(source, key);
        var entry = Entry(name, wanted, (int)key.Start.Column - 1);
        // A scalar replaced by a scalar on the key's own line: only the value's text changes, so a comment after it stays.
        if (value is YamlScalarNode old && wanted is not JsonObject and not JsonArray && entry.Count == 1 &&
            (int)old.Start.Line == (int)key.Start.Line && (int)old.End.Line == (int)old.Start.Line && old.Style is not ScalarStyle.Literal and not ScalarStyle.Folded)
        {
            var line = source.Lines[first];
            var scalar = Entry("k", wanted, 0)[0]["k: ".Length..];
            var start = (int)old.Start.Column - 1;
            var end = (int)old.End.Column - 1;
            var updated = old.Value is "" && start == end
                ? line[..start].TrimEnd() + " " + scalar + line[start..]
                : line[..start] + scalar + line[end..];
            return new LineEdit(first, first, [updated], mapping, value);
        }
        return new LineEdit(first, last, entry, mapping, value);
    }
}
