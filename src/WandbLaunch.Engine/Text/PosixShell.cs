using System.Text.RegularExpressions;

namespace WandbLaunch.Engine.Text;

/// <summary>Words for a POSIX <c>/bin/sh -c</c> script, quoted as Python's <c>shlex.quote</c> quotes them.</summary>
public static partial class PosixShell
{
    /// <summary>
    /// <paramref name="word"/> as one shell word: unchanged when it has only <c>[A-Za-z0-9_@%+=:,./-]</c>, <c>''</c> when
    /// empty, else in single quotes with each <c>'</c> written <c>'"'"'</c> (nothing is special inside single quotes:
    /// <c>$</c>, backquotes, <c>;</c> and newlines stay literal). A NUL cannot be passed to a program at all and is refused.
    /// </summary>
    public static string Quote(string word)
    {
        if (word.Contains('\0')) throw new ArgumentException("A shell word cannot contain a NUL character.", nameof(word));
        if (word.Length == 0) return "''";
        if (Safe().IsMatch(word)) return word;
        return "'" + word.Replace("'", "'\"'\"'", StringComparison.Ordinal) + "'";
    }

    /// <summary>Words joined by spaces, each quoted (<c>" ".join(shlex.quote(w) for w in words)</c>).</summary>
    public static string Join(IEnumerable<string> words) => string.Join(' ', words.Select(Quote));

    /// <summary>
    /// A command line split into words as Python's <c>shlex.split</c> (POSIX mode, no comments) splits it: words end at
    /// blanks; in single quotes nothing is special; in double quotes a backslash escapes only <c>"</c> and <c>\</c>;
    /// outside quotes a backslash keeps the next character as it is. An unclosed quote or a trailing backslash is refused
    /// with shlex's own message.
    /// </summary>
    public static IReadOnlyList<string> Split(string line)
    {
        var words = new List<string>();
        var word = new System.Text.StringBuilder();
        var inWord = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (c is ' ' or '\t' or '\r' or '\n')
            {
                if (inWord) words.Add(word.ToString());
                word.Clear();
                inWord = false;
                continue;
            }
            inWord = true;
            if (c == '\\')
            {
                if (++i == line.Length) throw new FormatException("No escaped character");
                word.Append(line[i]);
            }
            else if (c is '\'' or '"')
            {
                var close = c;
                while (true)
                {
                    if (++i == line.Length) throw new FormatException("No closing quotation");
                    if (line[i] == close) break;
                    if (close == '"' && line[i] == '\\' && i + 1 < line.Length && line[i + 1] is '"' or '\\') i++;
                    word.Append(line[i]);
                }
            }
            else
            {
                word.Append(c);
            }
        }
        if (inWord) words.Add(word.ToString());
        return words;
    }

    [GeneratedRegex(@"^[A-Za-z0-9_@%+=:,./-]+$")]
    private static partial Regex Safe();
}
