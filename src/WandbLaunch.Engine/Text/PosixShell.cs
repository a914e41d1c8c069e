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

    [GeneratedRegex(@"^[A-Za-z0-9_@%+=:,./-]+$")]
    private static partial Regex Safe();
}
