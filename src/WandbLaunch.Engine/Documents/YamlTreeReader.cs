using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Errors;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace WandbLaunch.Engine.Documents;

/// <summary>
/// Builds the JSON tree of one YAML document straight from the parser's events, with an explicit stack instead of
/// recursion (YamlDotNet's representation model recurses once per level, so 20,000 levels end the process with a
/// stack overflow). While it reads it holds the document to <see cref="DocumentLimits"/>: nesting depth, and the
/// number of values and characters of text after every alias is expanded, so an alias bomb stops after a bounded
/// amount of work and memory.
/// </summary>
internal sealed partial class YamlTreeReader(IParser parser, string? file, string errorId, string excerpt)
{
    private sealed class Frame(JsonNode container, string path, AnchorName anchor, long nodesAtStart, long charsAtStart)
    {
        public JsonNode Container { get; } = container;
        public string Path { get; } = path;
        public AnchorName Anchor { get; } = anchor;
        public long NodesAtStart { get; } = nodesAtStart;
        public long CharsAtStart { get; } = charsAtStart;
        public string? PendingKey { get; set; }
        public SourcePosition PendingKeyAt { get; set; }
        public int Index { get; set; }
        /// <summary>Levels of nesting below this one, for aliases of it placed deeper in the document.</summary>
        public int Height { get; set; }
    }

    /// <summary>What an anchor stands for: its tree, its scalar text when it is a scalar (usable as a key), and its size.</summary>
    private sealed record Anchored(JsonNode? Node, string? ScalarText, long Nodes, long Chars, int Height);

    private readonly Dictionary<string, SourcePosition> _positions = [];
    private readonly Dictionary<string, Anchored> _anchors = new(StringComparer.Ordinal);
    private readonly Stack<Frame> _stack = new();
    private long _nodes;
    private long _chars;
    private bool _expandedAliases;
    private JsonNode? _root;

    public (JsonNode? Root, Dictionary<string, SourcePosition> Positions) Read()
    {
        var documents = 0;
        while (parser.MoveNext())
        {
            switch (parser.Current)
            {
                case DocumentStart when documents++ == 1:
                    parser.MoveNext();
                    var second = parser.Current!.Start;
                    throw LaunchException.InvalidData(errorId,
                        $"Expected one YAML document but found {CountDocuments(documents)} (the second starts at {At(second)}).", (object?)file ?? excerpt);
                case Scalar scalar:
                    OnScalar(scalar);
                    break;
                case AnchorAlias alias:
                    OnAlias(alias);
                    break;
                case MappingStart mapping:
                    Open(new JsonObject(), mapping.Anchor, mapping.Start);
                    break;
                case SequenceStart sequence:
                    Open(new JsonArray(), sequence.Anchor, sequence.Start);
                    break;
                case MappingEnd or SequenceEnd:
                    Close();
                    break;
            }
        }
        return (_root, _positions);
    }

    /// <summary>The documents in the stream, for the message; the rest are only scanned, not built.</summary>
    private string CountDocuments(int seen)
    {
        try
        {
            while (parser.MoveNext())
            {
                if (parser.Current is DocumentStart) seen++;
            }
            return seen.ToString(CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is YamlException or InvalidOperationException)
        {
            return $"at least {seen}";
        }
    }

    private SourcePosition At(Mark mark) => new(file, (int)mark.Line, (int)mark.Column);

    private bool ExpectingKey => _stack.TryPeek(out var top) && top.Container is JsonObject && top.PendingKey is null;

    private string ChildPath()
    {
        if (!_stack.TryPeek(out var top)) return "";
        return top.Container is JsonObject ? DocumentPath.Key(top.Path, top.PendingKey!) : DocumentPath.Index(top.Path, top.Index);
    }

    private void OnScalar(Scalar scalar)
    {
        Count(1, scalar.Value.Length, scalar.Start, byAlias: false);
        if (ExpectingKey)
        {
            SetKey(scalar.Value, scalar.Start);
            if (!scalar.Anchor.IsEmpty) _anchors[scalar.Anchor.Value] = new(Value(scalar), scalar.Value, 1, scalar.Value.Length, 0);
            return;
        }
        var value = Value(scalar);
        if (!scalar.Anchor.IsEmpty) _anchors[scalar.Anchor.Value] = new(value, scalar.Value, 1, scalar.Value.Length, 0);
        _positions[ChildPath()] = At(scalar.Start);
        Place(value, 0);
    }

    private void OnAlias(AnchorAlias alias)
    {
        var name = alias.Value.Value;
        if (!_anchors.TryGetValue(name, out var anchored) || _stack.Any(f => !f.Anchor.IsEmpty && f.Anchor.Value == name))
        {
            var reason = _stack.Any(f => !f.Anchor.IsEmpty && f.Anchor.Value == name)
                ? $"the alias *{name} refers to a node that contains it; a document cannot contain itself."
                : $"the alias *{name} refers to no anchor &{name} before it.";
            throw LaunchException.InvalidData(errorId, $"Invalid YAML at {At(alias.Start)}: {reason}", (object?)file ?? excerpt);
        }
        Count(anchored.Nodes, anchored.Chars, alias.Start, byAlias: true);
        if (ExpectingKey)
        {
            if (anchored.ScalarText is null) throw InvalidKey(alias.Start);
            SetKey(anchored.ScalarText, alias.Start);
            return;
        }
        if (_stack.Count + anchored.Height > DocumentLimits.MaxDepth) throw DocumentLimits.TooDeep(At(alias.Start).ToString(), (object?)file ?? excerpt);
        _positions[ChildPath()] = At(alias.Start);
        Place(anchored.Node?.DeepClone(), anchored.Height);
    }

    private void Open(JsonNode container, AnchorName anchor, Mark start)
    {
        if (ExpectingKey) throw InvalidKey(start);
        if (_stack.Count + 1 > DocumentLimits.MaxDepth) throw DocumentLimits.TooDeep(At(start).ToString(), (object?)file ?? excerpt);
        Count(1, 0, start, byAlias: false);
        var path = ChildPath();
        _positions[path] = At(start);
        _stack.Push(new Frame(container, path, anchor, _nodes, _chars));
    }

    private void Close()
    {
        var frame = _stack.Pop();
        var height = frame.Height + 1;
        if (!frame.Anchor.IsEmpty)
        {
            _anchors[frame.Anchor.Value] = new(frame.Container, null, _nodes - frame.NodesAtStart + 1, _chars - frame.CharsAtStart, height);
        }
        Place(frame.Container, height);
    }

    private void SetKey(string key, Mark start)
    {
        var top = _stack.Peek();
        if (((JsonObject)top.Container).ContainsKey(key))
        {
            throw LaunchException.InvalidData(errorId, $"Invalid YAML at {At(start)}: duplicate key '{key}'.", (object?)file ?? key);
        }
        top.PendingKey = key;
        top.PendingKeyAt = At(start);
    }

    private void Place(JsonNode? value, int height)
    {
        if (!_stack.TryPeek(out var parent))
        {
            _root = value;
            return;
        }
        parent.Height = Math.Max(parent.Height, height);
        if (parent.Container is JsonObject obj)
        {
            var path = DocumentPath.Key(parent.Path, parent.PendingKey!);
            obj[parent.PendingKey!] = value;
            _positions[path] = parent.PendingKeyAt;
            parent.PendingKey = null;
        }
        else
        {
            ((JsonArray)parent.Container).Add(value);
            parent.Index++;
        }
    }

    private void Count(long nodes, long chars, Mark at, bool byAlias)
    {
        _nodes += nodes;
        _chars += chars;
        _expandedAliases |= byAlias;
        if (_nodes <= DocumentLimits.MaxNodes && _chars <= DocumentLimits.MaxCharacters) return;
        if (_expandedAliases) throw DocumentLimits.AliasExpansion(At(at).ToString(), (object?)file ?? excerpt);
        throw DocumentLimits.TooLarge(
            $"The document has more than {DocumentLimits.Format(DocumentLimits.MaxNodes)} values (at {At(at)}); at most {DocumentLimits.Format(DocumentLimits.MaxNodes)} are allowed.",
            (object?)file ?? excerpt);
    }

    private LaunchException InvalidKey(Mark start) =>
        LaunchException.InvalidData(errorId,
            $"Invalid key at {At(start)}: keys must be plain strings. A template placeholder such as {{{{name}}}} must be quoted in YAML: \"{{{{name}}}}\".",
            (object?)file ?? At(start).ToString());

    [GeneratedRegex(@"^[-+]?(0|[1-9][0-9]*)$")]
    private static partial Regex IntPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatPattern();

    /// <summary>YAML 1.2 core schema: plain true/false/null/numbers are typed, quoted or !!str scalars are strings.</summary>
    private JsonNode? Value(Scalar scalar)
    {
        var value = scalar.Value;
        var tag = scalar.Tag.IsEmpty ? null : scalar.Tag.Value;
        if (scalar.Style != ScalarStyle.Plain || tag is "tag:yaml.org,2002:str")
        {
            return JsonValue.Create(value);
        }
        switch (value)
        {
            case "" or "~" or "null" or "Null" or "NULL":
                return null;
            case "true" or "True" or "TRUE":
                return JsonValue.Create(true);
            case "false" or "False" or "FALSE":
                return JsonValue.Create(false);
        }
        if (IntPattern().IsMatch(value) && long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
        {
            return JsonValue.Create(l);
        }
        if (FloatPattern().IsMatch(value) && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d))
        {
            // 1e400 reads as infinity, which no JSON can hold.
            if (!double.IsFinite(d)) throw DocumentLimits.NotFinite(value, At(scalar.Start).ToString(), (object?)file ?? excerpt);
            return JsonValue.Create(d);
        }
        return JsonValue.Create(value);
    }
}
