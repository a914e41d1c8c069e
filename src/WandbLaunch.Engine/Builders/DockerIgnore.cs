using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Builders;

/// <summary>
/// A build context's <c>.dockerignore</c>, read and matched as the docker CLI does (moby's <c>ignorefile</c> and
/// <c>patternmatcher</c>): a line starting with <c>#</c> is a comment; lines are trimmed, blank ones skipped; <c>!</c>
/// makes an exception; a pattern is cleaned (Go's <c>filepath.Clean</c>) and a leading <c>/</c> dropped; the glob is
/// Go's <c>filepath.Match</c> (<c>*</c>, <c>?</c>, <c>[...]</c>, <c>\</c>) plus <c>**</c> for any number of
/// directories; a pattern that matches a directory matches everything below it; the last matching line decides.
/// Costs are bounded: the file, its lines and its number of patterns are limited, and every glob becomes a
/// non-backtracking regex (linear in the path), so no pattern (<c>**/**/**/…</c>) can make a build hang.
/// </summary>
public sealed class DockerIgnore
{
    public const string FileName = ".dockerignore";

    /// <summary>Go's bufio.Scanner refuses a longer line, so the docker CLI does too.</summary>
    public const int MaxLineBytes = 64 * 1024;

    public const int MaxFileBytes = 1024 * 1024;
    public const int MaxPatterns = 4_096;

    public static readonly DockerIgnore None = new([]);

    private readonly IReadOnlyList<Pattern> _patterns;

    private DockerIgnore(IReadOnlyList<Pattern> patterns) => _patterns = patterns;

    public bool IsEmpty => _patterns.Count == 0;

    public bool HasExceptions => _patterns.Any(p => p.IsException);

    /// <summary>The patterns as the matcher keeps them (exceptions with their <c>!</c>), in file order.</summary>
    public IReadOnlyList<string> Patterns => _patterns.Select(p => (p.IsException ? "!" : "") + p.Text).ToList();

    /// <summary>Reads <paramref name="path"/>; a file that breaks Docker's syntax or the limits fails the build naming the line.</summary>
    public static DockerIgnore Read(string path)
    {
        byte[] bytes;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            bytes = new byte[MaxFileBytes + 1];
            var total = 0;
            int read;
            while (total < bytes.Length && (read = stream.Read(bytes, total, bytes.Length - total)) > 0) total += read;
            if (total > MaxFileBytes)
            {
                throw Failed($"The job's {FileName} is larger than {MaxFileBytes:N0} bytes; a build context's ignore file this large is refused so that matching stays cheap.");
            }
            Array.Resize(ref bytes, total);
        }
        return Parse(bytes);
    }

    public static DockerIgnore Parse(string text) => Parse(Encoding.UTF8.GetBytes(text));

    public static DockerIgnore Parse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.StartsWith("\uFEFF"u8)) bytes = bytes[3..];
        var patterns = new List<Pattern>();
        var lineNumber = 0;
        while (!bytes.IsEmpty)
        {
            lineNumber++;
            var end = bytes.IndexOf((byte)'\n');
            var lineBytes = end < 0 ? bytes : bytes[..end];
            bytes = end < 0 ? [] : bytes[(end + 1)..];
            if (lineBytes.EndsWith("\r"u8)) lineBytes = lineBytes[..^1];
            if (lineBytes.Length > MaxLineBytes)
            {
                throw Failed($"Line {lineNumber} of the job's {FileName} is longer than {MaxLineBytes:N0} bytes (the docker CLI refuses it too: bufio.Scanner: token too long).");
            }
            var line = Encoding.UTF8.GetString(lineBytes);
            if (line.StartsWith('#')) continue;
            var pattern = line.Trim();
            if (pattern.Length == 0) continue;
            var exception = pattern[0] == '!';
            if (exception) pattern = pattern[1..].Trim();
            if (pattern.Length > 0)
            {
                pattern = GoPath.Clean(pattern);
                if (pattern.Length > 1 && pattern[0] == '/') pattern = pattern[1..];
            }
            if (exception && pattern.Length == 0)
            {
                throw Failed($"Line {lineNumber} of the job's {FileName} is {Printable.Quote(line)}: an exception needs a pattern after '!' (Docker: illegal exclusion pattern: \"!\").");
            }
            if (patterns.Count == MaxPatterns)
            {
                throw Failed($"The job's {FileName} has more than {MaxPatterns:N0} patterns; one this large is refused so that matching stays cheap.");
            }
            try
            {
                patterns.Add(Pattern.Compile(pattern, exception));
            }
            catch (FormatException e)
            {
                throw Failed($"Line {lineNumber} of the job's {FileName} has the malformed pattern {Printable.Quote(line.Trim())}: {e.Message}. Patterns use Go's filepath.Match syntax (*, ?, [a-z], [^a-z], \\ escapes) plus **.");
            }
        }
        return new DockerIgnore(patterns);
    }

    /// <summary>
    /// Whether <paramref name="path"/> (relative, '/'-separated) is excluded, given its parent directory's
    /// <see cref="MatchState"/> (null for the context root); returns this path's own state for its children.
    /// The result equals moby's <c>MatchesOrParentMatches</c>: each pattern is tried on the path and its parents.
    /// </summary>
    public bool Excludes(string path, MatchState? parent, out MatchState state)
    {
        var matchedHere = new bool[_patterns.Count];
        var excluded = false;
        for (var i = 0; i < _patterns.Count; i++)
        {
            var pattern = _patterns[i];
            var matched = (parent?.Matched[i] ?? false) || pattern.Matches(path);
            matchedHere[i] = matched;
            if (matched) excluded = !pattern.IsException;
        }
        state = new MatchState(matchedHere);
        return excluded;
    }

    /// <summary>Whether <paramref name="path"/> is excluded; for tests and single checks (<see cref="Excludes(string, MatchState?, out MatchState)"/> for walks).</summary>
    public bool Excludes(string path)
    {
        MatchState? state = null;
        var parts = path.Split('/');
        var excluded = false;
        for (var i = 0; i < parts.Length; i++) excluded = Excludes(string.Join('/', parts[..(i + 1)]), state, out state);
        return excluded;
    }

    /// <summary>
    /// Whether the walk must enter excluded directory <paramref name="directory"/>: only when an exception could
    /// re-include something below it (one with a wildcard, or a literal one naming it or a path below it).
    /// </summary>
    public bool MayReincludeBelow(string directory)
    {
        var prefix = directory + "/";
        return _patterns.Any(p => p.IsException && (!p.IsLiteral || (p.Text + "/").StartsWith(prefix, StringComparison.Ordinal)));
    }

    /// <summary>For each pattern, whether it matched a path or one of its parents.</summary>
    public sealed class MatchState(bool[] matched)
    {
        internal bool[] Matched { get; } = matched;
    }

    private static JobFailedException Failed(string message) => new(FailureStage.Build, message);

    private enum MatchType
    {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }

    /// <summary>One cleaned pattern, matched as moby's patternmatcher matches it (its exact/prefix/suffix shortcuts included).</summary>
    private sealed class Pattern
    {
        private static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(5);

        private readonly MatchType _type;
        private readonly Regex? _regex;

        private Pattern(string text, bool exception, MatchType type, string regexSource)
        {
            Text = text;
            IsException = exception;
            _type = type;
            if (type != MatchType.Regex) return;
            try
            {
                _regex = new Regex(regexSource, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant, MatchTimeout);
            }
            catch (NotSupportedException)
            {
                // .NET's linear-time engine refuses automata past its size limit (about a thousand wildcards).
                throw new FormatException("it has too many wildcards to be matched in bounded time");
            }
        }

        public string Text { get; }
        public bool IsException { get; }
        public bool IsLiteral => _type == MatchType.Exact;

        public bool Matches(string path)
        {
            switch (_type)
            {
                case MatchType.Exact:
                    return path == Text;
                case MatchType.Prefix:
                    return path.StartsWith(Text[..^2], StringComparison.Ordinal);
                case MatchType.Suffix:
                    var suffix = Text[2..];
                    if (path.EndsWith(suffix, StringComparison.Ordinal)) return true;
                    return suffix.Length > 0 && suffix[0] == '/' && path == suffix[1..];
                default:
                    try
                    {
                        return _regex!.IsMatch(path);
                    }
                    catch (RegexMatchTimeoutException)
                    {
                        throw Failed($"Matching the {FileName} pattern {Printable.Quote(Text)} against {Printable.Quote(path)} took longer than {MatchTimeout.TotalSeconds} seconds; simplify the pattern.");
                    }
            }
        }

        /// <summary>Checks Go's filepath.Match syntax (FormatException naming the fault) and translates the glob as moby does.</summary>
        public static Pattern Compile(string text, bool exception)
        {
            var regex = new StringBuilder("^");
            var type = MatchType.Exact;
            var lastWasAnyDirectories = false;
            var i = 0;
            for (var step = 0; i < text.Length; step++)
            {
                var c = text[i++];
                var anyDirectories = false;
                if (c == '*' && i < text.Length && text[i] == '*')
                {
                    i++;
                    if (i < text.Length && text[i] == '/') i++;
                    if (i == text.Length)
                    {
                        if (type == MatchType.Exact) type = MatchType.Prefix;
                        else
                        {
                            regex.Append(".*");
                            type = MatchType.Regex;
                        }
                    }
                    else
                    {
                        // "(.*/)?" twice in a row means the same as once; collapsing keeps **/**/** cheap.
                        if (!lastWasAnyDirectories) regex.Append("(.*/)?");
                        anyDirectories = true;
                        type = MatchType.Regex;
                    }
                    if (step == 0) type = MatchType.Suffix;
                }
                else if (c == '*')
                {
                    regex.Append("[^/]*");
                    type = MatchType.Regex;
                }
                else if (c == '?')
                {
                    regex.Append("[^/]");
                    type = MatchType.Regex;
                }
                else if (c == '\\')
                {
                    if (i == text.Length) throw new FormatException("it ends with an unescaped '\\'");
                    regex.Append(Regex.Escape(text[i++].ToString()));
                    type = MatchType.Regex;
                }
                else if (c == '[')
                {
                    i = CharacterClass(text, i, regex);
                    type = MatchType.Regex;
                }
                else if (c == ']')
                {
                    // Go's filepath.Match takes a lone ']' as itself; moby's regex then fails to compile only in
                    // odd spots, so it is taken literally here.
                    regex.Append(@"\]");
                    type = MatchType.Regex;
                }
                else
                {
                    regex.Append(Regex.Escape(c.ToString()));
                }
                lastWasAnyDirectories = anyDirectories;
            }
            regex.Append('$');
            return new Pattern(text, exception, type, regex.ToString());
        }

        /// <summary>A <c>[...]</c> class from just after its '[' (Go's rules: optional '^', then one or more chars or ranges, '\' escapes), as a .NET class; returns the index after its ']'.</summary>
        private static int CharacterClass(string text, int i, StringBuilder regex)
        {
            var start = i - 1;
            var negated = i < text.Length && text[i] == '^';
            if (negated) i++;
            var members = new StringBuilder();
            var ranges = 0;
            while (true)
            {
                if (i < text.Length && text[i] == ']' && ranges > 0) return Finish(i + 1);
                var low = ClassChar(text, ref i, start);
                var high = low;
                if (text[i] == '-')
                {
                    i++;
                    high = ClassChar(text, ref i, start);
                    if (string.CompareOrdinal(high, low) < 0)
                    {
                        throw new FormatException($"the range {low}-{high} in the class at column {start + 1} runs backwards");
                    }
                }
                members.Append(ClassEscape(low));
                if (high != low) members.Append('-').Append(ClassEscape(high));
                ranges++;
            }

            int Finish(int next)
            {
                regex.Append('[').Append(negated ? "^" : "").Append(members).Append(']');
                return next;
            }
        }

        /// <summary>One member of a class (Go's getEsc): not '-' or ']' unescaped, and never the end of the pattern.</summary>
        private static string ClassChar(string text, ref int i, int classStart)
        {
            if (i >= text.Length) throw new FormatException($"the class '[' at column {classStart + 1} is never closed with ']'");
            if (text[i] is '-' or ']') throw new FormatException($"the class at column {classStart + 1} has '{text[i]}' where a character is expected (escape it with '\\')");
            if (text[i] == '\\')
            {
                i++;
                if (i >= text.Length) throw new FormatException($"the class '[' at column {classStart + 1} is never closed with ']'");
            }
            if (char.IsSurrogate(text[i])) throw new FormatException($"the class at column {classStart + 1} has a character outside Unicode's Basic Multilingual Plane, which is not supported in a class here");
            var member = text[i].ToString();
            i++;
            if (i >= text.Length) throw new FormatException($"the class '[' at column {classStart + 1} is never closed with ']'");
            return member;
        }

        private static string ClassEscape(string member) => "\\u" + ((int)member[0]).ToString("x4", CultureInfo.InvariantCulture);
    }
}

/// <summary>Go's path cleaning (filepath.Clean on Linux), which Docker applies to every .dockerignore pattern.</summary>
internal static class GoPath
{
    public static string Clean(string path)
    {
        if (path.Length == 0) return ".";
        var rooted = path[0] == '/';
        var parts = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".") continue;
            if (part == "..")
            {
                if (parts.Count > 0 && parts[^1] != "..") parts.RemoveAt(parts.Count - 1);
                else if (!rooted) parts.Add("..");
                continue;
            }
            parts.Add(part);
        }
        var cleaned = string.Join('/', parts);
        if (rooted) return "/" + cleaned;
        return cleaned.Length == 0 ? "." : cleaned;
    }
}
