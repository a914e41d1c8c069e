using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Errors;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace WandbLaunch.Engine.Documents;

/// <summary>
/// Reads JSON or YAML text into a <see cref="JsonNode"/> tree. Text that starts with '{' or '[' is read as JSON
/// (precise JSON errors) unless JSON stops at a bare word where it wants a quoted key or a value, which is flow-style
/// YAML (<c>{cpus: 2, memory: 4Gi}</c>): that is read as YAML. Anything else is read as YAML 1.2 (core schema: plain
/// true/false/null/numbers are typed, quoted scalars are strings). Errors carry the caller's error id and name the
/// file, line and column.
/// </summary>
public static partial class StructuredText
{
    public static ParsedDocument Parse(string text, string? file = null, string errorId = "InvalidDocument")
    {
        var trimmed = text.TrimStart();
        if (trimmed.StartsWith('{') || trimmed.StartsWith('['))
        {
            return ParseJson(text, file, errorId);
        }
        return ParseYaml(text, file, errorId);
    }

    public static ParsedDocument ParseFile(string path, string errorId = "InvalidDocument")
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LaunchException("FileNotReadable", LaunchErrorCategory.ReadError, $"Cannot read '{path}': {e.Message}", path, e);
        }
        return Parse(text, path, errorId);
    }

    private static ParsedDocument ParseJson(string text, string? file, string errorId)
    {
        try
        {
            var options = new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };
            var node = JsonNode.Parse(text, documentOptions: options);
            RefuseDuplicateKeys(text, file, errorId, options);
            return new ParsedDocument(node, file, new Dictionary<string, SourcePosition>(), text);
        }
        catch (JsonException e)
        {
            var pos = JsonErrorPosition(text, file, (int)(e.LineNumber ?? 0), (int)(e.BytePositionInLine ?? 0));
            if (IsFlowYaml(text, pos, e.Message)) return ParseYaml(text, file, errorId);
            var reason = JsonReason().Replace(e.Message, "").Trim();
            throw LaunchException.InvalidData(errorId, $"Invalid JSON at {pos}: {reason}", (object?)file ?? Excerpt(text));
        }
    }

    /// <summary>
    /// JsonNode.Parse accepts an object with the same key twice and fails only later, when the object is used.
    /// Refuse it here, as YAML does, naming the second occurrence.
    /// </summary>
    private static void RefuseDuplicateKeys(string text, string? file, string errorId, JsonDocumentOptions options)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = options.CommentHandling, AllowTrailingCommas = options.AllowTrailingCommas });
        var objects = new Stack<HashSet<string>>();
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject:
                    objects.Push(new HashSet<string>(StringComparer.Ordinal));
                    break;
                case JsonTokenType.EndObject:
                    objects.Pop();
                    break;
                case JsonTokenType.PropertyName:
                    var key = reader.GetString()!;
                    if (!objects.Peek().Add(key))
                    {
                        var offset = Encoding.UTF8.GetCharCount(bytes, 0, (int)reader.TokenStartIndex);
                        var lineStart = text.LastIndexOf('\n', Math.Max(offset - 1, 0)) + 1;
                        var line = 1 + text.AsSpan(0, lineStart).Count('\n');
                        var at = new SourcePosition(file, line, offset - lineStart + 1);
                        throw LaunchException.InvalidData(errorId, $"Duplicate key '{key}' at {at}.", (object?)file ?? key);
                    }
                    break;
            }
        }
    }

    /// <summary>
    /// Whether JSON failed at an unquoted word where a key or value starts (YAML's plain scalars), or at a sign not
    /// followed by a digit (<c>[--epochs, 3]</c>).
    /// </summary>
    private static bool IsFlowYaml(string text, SourcePosition pos, string message)
    {
        if (message.Contains("immediately after a sign character", StringComparison.Ordinal)) return true;
        if (!message.Contains("start of a property name", StringComparison.Ordinal) && !message.Contains("start of a value", StringComparison.Ordinal)) return false;
        var line = text.Split('\n').ElementAtOrDefault(pos.Line - 1) ?? "";
        var at = pos.Column - 1;
        return at >= 0 && at < line.Length && (char.IsLetter(line[at]) || line[at] is '_' or '$' or '.' or '/');
    }

    /// <summary>
    /// The reader reports a 0-based line and a 0-based UTF-8 byte offset in that line; users count characters.
    /// </summary>
    private static SourcePosition JsonErrorPosition(string text, string? file, int line, int byteInLine)
    {
        var lineStart = 0;
        for (var i = 0; i < line; i++)
        {
            var next = text.IndexOf('\n', lineStart);
            if (next < 0) break;
            lineStart = next + 1;
        }
        var lineEnd = text.IndexOf('\n', lineStart);
        var lineBytes = Encoding.UTF8.GetBytes(text[lineStart..(lineEnd < 0 ? text.Length : lineEnd)]);
        var column = Encoding.UTF8.GetCharCount(lineBytes, 0, Math.Clamp(byteInLine, 0, lineBytes.Length));
        return new SourcePosition(file, line + 1, column + 1);
    }

    [GeneratedRegex(@"\s*(Path:|LineNumber:).*$")]
    private static partial Regex JsonReason();

    private static ParsedDocument ParseYaml(string text, string? file, string errorId)
    {
        var stream = new YamlStream();
        var scanner = new Scanner(new StringReader(text));
        try
        {
            stream.Load(new Parser(scanner));
        }
        catch (YamlException e)
        {
            // Some scanner errors (a tab used as indentation) carry no position; the scanner stopped at the culprit.
            var mark = e.Start.Index == 0 && e.End.Index == 0 ? scanner.CurrentPosition : e.Start;
            var pos = new SourcePosition(file, (int)mark.Line, (int)mark.Column);
            var reason = e.InnerException is YamlException inner ? inner.Message : e.Message;
            reason = YamlReason().Replace(reason, "").Trim();
            throw LaunchException.InvalidData(errorId, $"Invalid YAML at {pos}: {reason}", (object?)file ?? Excerpt(text));
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet's scanner throws this instead of a YamlException on some malformed input, e.g. a flow
            // list or mapping left open at the end of a line ("queues: [a, b" followed by "max_jobs: 2").
            var at = scanner.CurrentPosition;
            var pos = new SourcePosition(file, (int)at.Line, (int)at.Column);
            throw LaunchException.InvalidData(errorId,
                $"Invalid YAML at {pos}: the text cannot be read past this point; an unclosed '[', '{{' or quote above it is the usual cause.",
                (object?)file ?? Excerpt(text));
        }
        if (stream.Documents.Count > 1)
        {
            var start = stream.Documents[1].RootNode.Start;
            throw LaunchException.InvalidData(errorId,
                $"Expected one YAML document but found {stream.Documents.Count} (the second starts at {new SourcePosition(file, (int)start.Line, (int)start.Column)}).",
                (object?)file ?? Excerpt(text));
        }
        var positions = new Dictionary<string, SourcePosition>();
        if (stream.Documents.Count == 0) return new ParsedDocument(null, file, positions, text);
        var root = Convert(stream.Documents[0].RootNode, "", file, positions, errorId);
        return new ParsedDocument(root, file, positions, text);
    }

    [GeneratedRegex(@"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\):\s*")]
    private static partial Regex YamlReason();

    private static JsonNode? Convert(YamlNode node, string path, string? file, Dictionary<string, SourcePosition> positions, string errorId)
    {
        positions[path] = new SourcePosition(file, (int)node.Start.Line, (int)node.Start.Column);
        switch (node)
        {
            case YamlMappingNode map:
                var obj = new JsonObject();
                foreach (var (keyNode, valueNode) in map.Children)
                {
                    if (keyNode is not YamlScalarNode { Value: { } key })
                    {
                        var at = new SourcePosition(file, (int)keyNode.Start.Line, (int)keyNode.Start.Column);
                        throw LaunchException.InvalidData(errorId,
                            $"Invalid key at {at}: keys must be plain strings. A template placeholder such as {{{{name}}}} must be quoted in YAML: \"{{{{name}}}}\".",
                            (object?)file ?? at.ToString());
                    }
                    var childPath = DocumentPath.Key(path, key);
                    if (obj.ContainsKey(key))
                    {
                        var at = new SourcePosition(file, (int)keyNode.Start.Line, (int)keyNode.Start.Column);
                        throw LaunchException.InvalidData(errorId, $"Duplicate key '{key}' at {at}.", (object?)file ?? key);
                    }
                    obj[key] = Convert(valueNode, childPath, file, positions, errorId);
                    positions[childPath] = new SourcePosition(file, (int)keyNode.Start.Line, (int)keyNode.Start.Column);
                }
                return obj;
            case YamlSequenceNode seq:
                var arr = new JsonArray();
                var i = 0;
                foreach (var child in seq.Children)
                {
                    arr.Add(Convert(child, DocumentPath.Index(path, i++), file, positions, errorId));
                }
                return arr;
            case YamlScalarNode scalar:
                return Scalar(scalar);
            default:
                throw LaunchException.InvalidData(errorId, $"Unsupported YAML node at {positions[path]}.", file);
        }
    }

    [GeneratedRegex(@"^[-+]?(0|[1-9][0-9]*)$")]
    private static partial Regex IntPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatPattern();

    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        var value = scalar.Value ?? "";
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
            return JsonValue.Create(d);
        }
        return JsonValue.Create(value);
    }

    private static string Excerpt(string text) => text.Length <= 80 ? text : text[..77] + "...";
}
