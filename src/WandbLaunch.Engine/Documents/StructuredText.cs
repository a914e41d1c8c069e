using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Errors;
using YamlDotNet.Core;

namespace WandbLaunch.Engine.Documents;

/// <summary>
/// Reads JSON or YAML text into a <see cref="JsonNode"/> tree. Text that starts with '{' or '[' is read as JSON
/// (precise JSON errors) unless JSON stops at a bare word where it wants a quoted key or a value, which is flow-style
/// YAML (<c>{cpus: 2, memory: 4Gi}</c>): that is read as YAML. Anything else is read as YAML 1.2 (core schema: plain
/// true/false/null/numbers are typed, quoted scalars are strings). Errors carry the caller's error id and name the
/// file, line and column. Every document is held to <see cref="DocumentLimits"/> (size, depth, values after alias
/// expansion, finite numbers), each with its own error id, before any code that could recurse or expand runs.
/// </summary>
public static partial class StructuredText
{
    public static ParsedDocument Parse(string text, string? file = null, string errorId = "InvalidDocument")
    {
        if (text.Length > DocumentLimits.MaxCharacters)
        {
            throw DocumentLimits.TooLarge(
                $"The document{(file is null ? "" : $" '{file}'")} has {DocumentLimits.Format(text.Length)} characters; at most {DocumentLimits.Format(DocumentLimits.MaxCharacters)} (16 MiB) are allowed.",
                (object?)file ?? Excerpt(text));
        }
        var trimmed = text.TrimStart();
        if (trimmed.StartsWith('{') || trimmed.StartsWith('['))
        {
            return ParseJson(text, file, errorId);
        }
        return ParseYaml(text, file, errorId);
    }

    public static ParsedDocument ParseFile(string path, string errorId = "InvalidDocument")
    {
        OsValues.CheckPath(path, "file path");
        string text;
        try
        {
            text = ReadBounded(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LaunchException("FileNotReadable", LaunchErrorCategory.ReadError, $"Cannot read '{path}': {e.Message}", path, e);
        }
        return Parse(text, path, errorId);
    }

    /// <summary>
    /// Reads at most <see cref="DocumentLimits.MaxCharacters"/> bytes: a huge file, a device such as /dev/zero or a
    /// pipe that never ends is refused without reading it all.
    /// </summary>
    private static string ReadBounded(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (stream.CanSeek && stream.Length > DocumentLimits.MaxCharacters) throw FileTooLarge(path, stream.Length);
        using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        var buffer = new char[Math.Min(DocumentLimits.MaxCharacters + 1, stream.CanSeek ? (int)stream.Length + 1 : 64 * 1024)];
        var text = new StringBuilder();
        int read;
        while ((read = reader.Read(buffer, 0, buffer.Length)) > 0)
        {
            text.Append(buffer, 0, read);
            if (text.Length > DocumentLimits.MaxCharacters) throw FileTooLarge(path, null);
        }
        return text.ToString();
    }

    private static LaunchException FileTooLarge(string path, long? bytes) =>
        DocumentLimits.TooLarge(
            $"'{path}' is {(bytes is { } b ? $"{DocumentLimits.Format(b)} bytes" : "larger than the limit")}; documents of at most {DocumentLimits.Format(DocumentLimits.MaxCharacters)} bytes (16 MiB) are read.",
            path);

    private static ParsedDocument ParseJson(string text, string? file, string errorId)
    {
        try
        {
            var options = new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, MaxDepth = DocumentLimits.MaxDepth };
            // The scan stops at the first syntax error, which JsonNode.Parse then reports (or reads as flow YAML).
            CheckJson(text, file, errorId, options);
            var node = JsonNode.Parse(text, documentOptions: options);
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
    /// One pass of the reader (it does not recurse) before the tree is built: refuses nesting past
    /// <see cref="DocumentLimits.MaxDepth"/>, more than <see cref="DocumentLimits.MaxNodes"/> values, numbers that
    /// are not finite (1e400), and an object with the same key twice (JsonNode.Parse accepts that and fails only
    /// later, when the object is used), naming where. Stops quietly at the first syntax error.
    /// </summary>
    private static void CheckJson(string text, string? file, string errorId, JsonDocumentOptions options)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        // The reader's own depth limit must not fire before ours, which names the place.
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = options.CommentHandling, AllowTrailingCommas = options.AllowTrailingCommas, MaxDepth = DocumentLimits.MaxDepth + 2 });
        var objects = new Stack<HashSet<string>>();
        var nodes = 0;
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType is not (JsonTokenType.PropertyName or JsonTokenType.EndObject or JsonTokenType.EndArray or JsonTokenType.Comment) &&
                    ++nodes > DocumentLimits.MaxNodes)
                {
                    throw DocumentLimits.TooLarge(
                        $"The document has more than {DocumentLimits.Format(DocumentLimits.MaxNodes)} values (at {PositionAt(text, bytes, file, reader.TokenStartIndex)}); at most {DocumentLimits.Format(DocumentLimits.MaxNodes)} are allowed.",
                        (object?)file ?? Excerpt(text));
                }
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject or JsonTokenType.StartArray when reader.CurrentDepth + 1 > DocumentLimits.MaxDepth:
                        throw DocumentLimits.TooDeep(PositionAt(text, bytes, file, reader.TokenStartIndex).ToString(), (object?)file ?? Excerpt(text));
                    case JsonTokenType.Number when !reader.TryGetDouble(out var number) || !double.IsFinite(number):
                        throw DocumentLimits.NotFinite(Encoding.UTF8.GetString(reader.ValueSpan), PositionAt(text, bytes, file, reader.TokenStartIndex).ToString(), (object?)file ?? Excerpt(text));
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
                            throw LaunchException.InvalidData(errorId, $"Duplicate key '{key}' at {PositionAt(text, bytes, file, reader.TokenStartIndex)}.", (object?)file ?? key);
                        }
                        break;
                }
            }
        }
        catch (JsonException)
        {
            // JsonNode.Parse reports it, or reads the text as flow-style YAML.
        }
    }

    private static SourcePosition PositionAt(string text, byte[] bytes, string? file, long byteOffset)
    {
        var offset = Encoding.UTF8.GetCharCount(bytes, 0, (int)byteOffset);
        var lineStart = offset == 0 ? 0 : text.LastIndexOf('\n', offset - 1) + 1;
        var line = 1 + text.AsSpan(0, lineStart).Count('\n');
        return new SourcePosition(file, line, offset - lineStart + 1);
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
        var scanner = new Scanner(new StringReader(text));
        try
        {
            var (root, positions) = new YamlTreeReader(new Parser(scanner), file, errorId, Excerpt(text)).Read();
            return new ParsedDocument(root, file, positions, text);
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
    }

    [GeneratedRegex(@"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\):\s*")]
    private static partial Regex YamlReason();

    private static string Excerpt(string text) => text.Length <= 80 ? text : text[..77] + "...";
}
