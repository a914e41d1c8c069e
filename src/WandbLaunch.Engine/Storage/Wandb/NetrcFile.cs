using System.Text;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Storage.Wandb;

/// <summary>
/// Reads the password of one machine from a netrc file, where <c>wandb login</c> stores API keys
/// (<c>machine api.wandb.ai login user password &lt;key&gt;</c>). The file may be anything: it is read up to
/// <see cref="MaxBytes"/> (a larger one, a device or a directory is ignored), parsed strictly (an unknown keyword or a
/// keyword without its value makes the whole file unusable, as in Python's netrc), and a parse problem is reported
/// by line number only, never with the file's text, which holds secrets.
/// </summary>
public static class NetrcFile
{
    /// <summary>Real netrc files are a few hundred bytes.</summary>
    public const int MaxBytes = 64 * 1024;

    private const string Source = "wandb";

    /// <summary>The netrc file W&amp;B uses: <c>$NETRC</c>, else <c>~/.netrc</c> if it exists, else <c>~/_netrc</c> if it exists, else null.</summary>
    public static string? Locate(Func<string, string?> environment, string home)
    {
        if (environment("NETRC") is { Length: > 0 } named) return named == "~" || named.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(home, named.TrimStart('~', '/')) : named;
        foreach (var name in new[] { ".netrc", "_netrc" })
        {
            var path = Path.Combine(home, name);
            if (File.Exists(path)) return path;
        }
        return null;
    }

    /// <summary>The password for <paramref name="machine"/> (else the <c>default</c> entry's) in the file at <paramref name="path"/>, or null.</summary>
    public static string? ReadPassword(string path, string machine)
    {
        string text;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) return null;
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 4096, FileOptions.SequentialScan);
            // The length is checked while reading too: a FIFO or a special file reports none.
            var buffer = new byte[MaxBytes + 1];
            var read = 0;
            int n;
            while (read < buffer.Length && (n = stream.Read(buffer, read, buffer.Length - read)) > 0) read += n;
            if (read > MaxBytes)
            {
                EngineLog.Verbose(Source, $"netrc {Printable.Quote(path)} ignored: larger than {MaxBytes} bytes");
                return null;
            }
            text = new UTF8Encoding(false, true).GetString(buffer, 0, read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or DecoderFallbackException or NotSupportedException or ArgumentException)
        {
            EngineLog.Verbose(Source, $"netrc {Printable.Quote(path)} ignored: cannot be read as UTF-8 text ({e.GetType().Name})");
            return null;
        }
        return Parse(text, machine, out var problemLine) is { } password
            ? password
            : Report(path, problemLine);
    }

    private static string? Report(string path, int? problemLine)
    {
        if (problemLine is { } line) EngineLog.Verbose(Source, $"netrc {Printable.Quote(path)} ignored: not valid netrc syntax at line {line}");
        return null;
    }

    /// <summary>
    /// The password of <paramref name="machine"/> (compared exactly, as W&amp;B does, host[:port]) in netrc
    /// <paramref name="text"/>, else the <c>default</c> entry's; null when there is none or the text is not valid
    /// netrc (then <paramref name="problemLine"/> says where).
    /// </summary>
    public static string? Parse(string text, string machine, out int? problemLine)
    {
        problemLine = null;
        string? current = null;
        var isDefault = false;
        string? matched = null;
        string? fallback = null;
        var tokens = Tokenize(text).GetEnumerator();
        while (tokens.MoveNext())
        {
            var (token, line, ok) = tokens.Current;
            if (!ok)
            {
                problemLine = line;
                return null;
            }
            switch (token)
            {
                case "machine":
                    if (!Next(tokens, out current, ref problemLine)) return null;
                    isDefault = false;
                    break;
                case "default":
                    current = null;
                    isDefault = true;
                    break;
                case "login" or "account":
                    if (!Next(tokens, out _, ref problemLine)) return null;
                    break;
                case "password":
                    if (!Next(tokens, out var password, ref problemLine)) return null;
                    if (current is null && !isDefault)
                    {
                        problemLine = line;
                        return null;
                    }
                    if (isDefault) fallback ??= password;
                    else if (matched is null && string.Equals(current, machine, StringComparison.Ordinal)) matched = password;
                    break;
                case "macdef":
                    // A macro's body runs to the next empty line; the tokenizer skips it after this name.
                    if (!Next(tokens, out _, ref problemLine)) return null;
                    break;
                default:
                    problemLine = line;
                    return null;
            }
        }
        var found = matched ?? fallback;
        return string.IsNullOrEmpty(found) ? null : found;
    }

    private static bool Next(IEnumerator<(string Token, int Line, bool Ok)> tokens, out string value, ref int? problemLine)
    {
        value = "";
        if (!tokens.MoveNext())
        {
            // A keyword at the end of the file without its value.
            problemLine = tokens.Current.Line;
            return false;
        }
        var (token, line, ok) = tokens.Current;
        if (!ok)
        {
            problemLine = line;
            return false;
        }
        value = token;
        return true;
    }

    /// <summary>Whitespace-separated tokens; a token may be double-quoted with backslash escapes; <c>#</c> starts a comment at the start of a token.</summary>
    private static IEnumerable<(string Token, int Line, bool Ok)> Tokenize(string text)
    {
        var line = 1;
        var i = 0;
        var afterMacdef = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (c == '\n')
            {
                line++;
                i++;
                continue;
            }
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }
            if (afterMacdef == 2)
            {
                // Skip the macro body: everything up to an empty line.
                var end = text.IndexOf("\n\n", i, StringComparison.Ordinal);
                var stop = end < 0 ? text.Length : end + 2;
                line += text.AsSpan(i, stop - i).Count('\n');
                i = stop;
                afterMacdef = 0;
                continue;
            }
            if (c == '#')
            {
                while (i < text.Length && text[i] != '\n') i++;
                continue;
            }
            var token = new StringBuilder();
            if (c == '"')
            {
                i++;
                var closed = false;
                while (i < text.Length)
                {
                    var d = text[i++];
                    if (d == '"')
                    {
                        closed = true;
                        break;
                    }
                    if (d == '\\' && i < text.Length) d = text[i++];
                    if (d == '\n')
                    {
                        yield return ("", line, false);
                        yield break;
                    }
                    token.Append(d);
                }
                if (!closed)
                {
                    yield return ("", line, false);
                    yield break;
                }
            }
            else
            {
                while (i < text.Length && !char.IsWhiteSpace(text[i])) token.Append(text[i++]);
            }
            var value = token.ToString();
            afterMacdef = afterMacdef == 1 ? 2 : value == "macdef" ? 1 : 0;
            yield return (value, line, true);
        }
    }
}
