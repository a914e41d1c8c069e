using System.Globalization;
using System.Text;

namespace WandbLaunch.Engine.Text;

/// <summary>
/// Makes user values safe to print: control characters (newlines, ESC, NUL, the rest of C0 and C1, DEL) and the
/// invisible characters that reorder or split lines (U+2028/U+2029, bidi overrides) are written as visible escapes,
/// so a queue name, a run id or a job's output cannot forge lines or rewrite the operator's terminal.
/// <list type="bullet">
/// <item><c>\n</c> <c>\r</c> <c>\t</c> <c>\e</c> (ESC), <c>\xHH</c> for any other C0/C1 control and DEL (NUL is
/// <c>\x00</c>), <c>\uHHHH</c> for U+2028, U+2029, U+200E/U+200F, U+202A–U+202E, U+2066–U+2069.</item>
/// <item><see cref="Escape"/> (values placed in messages) is reversible (<see cref="Unescape"/>): a backslash is
/// doubled where it would otherwise read as the start of an escape, and only there, so Windows paths stay as written.</item>
/// <item><see cref="EscapeControls"/> (whole lines as they are printed) escapes only the characters, leaving
/// backslashes alone: text that is already escaped passes through unchanged.</item>
/// </list>
/// </summary>
public static class Printable
{
    private const string EscapeLetters = "nrteux\\";

    /// <summary>Whether <paramref name="c"/> is written as an escape.</summary>
    public static bool NeedsEscape(char c) =>
        c < 0x20 || c is >= '\u007f' and <= '\u009f'
        || c is '\u2028' or '\u2029' or '\u200e' or '\u200f' || c is >= '\u202a' and <= '\u202e' || c is >= '\u2066' and <= '\u2069';

    /// <summary>Whether <paramref name="text"/> has anything <see cref="Escape"/> would change.</summary>
    public static bool IsPrintable(string? text)
    {
        if (text is null) return true;
        foreach (var c in text)
        {
            if (NeedsEscape(c)) return false;
        }
        return true;
    }

    /// <summary>
    /// A value for a message: in single quotes, control characters escaped (<see cref="Escape"/>), at
    /// most 100 characters shown (then how long it is), so no value can forge console lines or escape sequences.
    /// </summary>
    public static string Quote(string? value)
    {
        if (value is null) return "(none)";
        const int shown = 100;
        var text = "'" + Escape(value.Length > shown ? value[..shown] : value) + "'";
        return value.Length > shown ? text + string.Create(CultureInfo.InvariantCulture, $"… ({value.Length} characters)") : text;
    }

    /// <summary>A user value as it is put in a message: controls escaped, reversibly.</summary>
    public static string Escape(string? text)
    {
        if (text is null) return "";
        if (IsPrintable(text) && !text.Contains('\\')) return text;
        var sb = new StringBuilder(text.Length + 8);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\\')
            {
                var next = i + 1 < text.Length ? text[i + 1] : '\0';
                var startsEscape = i + 1 < text.Length && (EscapeLetters.Contains(next) || NeedsEscape(next));
                sb.Append(startsEscape ? @"\\" : @"\");
            }
            else
            {
                Append(sb, c, keepTab: false, keepNewline: false);
            }
        }
        return sb.ToString();
    }

    /// <summary>
    /// A line as it is printed: every control character escaped (tab kept when <paramref name="keepTab"/>, line feeds
    /// kept when <paramref name="keepNewlines"/>; a carriage return always shows, as it could overwrite the line),
    /// backslashes unchanged. Idempotent.
    /// </summary>
    public static string EscapeControls(string? text, bool keepTab = false, bool keepNewlines = false)
    {
        if (text is null) return "";
        if (IsPrintable(text)) return text;
        var sb = new StringBuilder(text.Length + 8);
        foreach (var c in text) Append(sb, c, keepTab, keepNewlines);
        return sb.ToString();
    }

    /// <summary>The value <see cref="Escape"/> was given.</summary>
    public static string Unescape(string escaped)
    {
        var sb = new StringBuilder(escaped.Length);
        for (var i = 0; i < escaped.Length; i++)
        {
            var c = escaped[i];
            if (c != '\\' || i + 1 >= escaped.Length)
            {
                sb.Append(c);
                continue;
            }
            var next = escaped[i + 1];
            switch (next)
            {
                case '\\': sb.Append('\\'); i++; break;
                case 'n': sb.Append('\n'); i++; break;
                case 'r': sb.Append('\r'); i++; break;
                case 't': sb.Append('\t'); i++; break;
                case 'e': sb.Append('\u001b'); i++; break;
                case 'x' when i + 3 < escaped.Length && Hex(escaped.AsSpan(i + 2, 2)) is { } x:
                    sb.Append(x);
                    i += 3;
                    break;
                case 'u' when i + 5 < escaped.Length && Hex(escaped.AsSpan(i + 2, 4)) is { } u:
                    sb.Append(u);
                    i += 5;
                    break;
                default: sb.Append('\\'); break;
            }
        }
        return sb.ToString();
    }

    private static char? Hex(ReadOnlySpan<char> digits) =>
        int.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value) ? (char)value : null;

    private static void Append(StringBuilder sb, char c, bool keepTab, bool keepNewline)
    {
        if (!NeedsEscape(c) || c == '\t' && keepTab || c == '\n' && keepNewline)
        {
            sb.Append(c);
            return;
        }
        switch (c)
        {
            case '\n': sb.Append(@"\n"); break;
            case '\r': sb.Append(@"\r"); break;
            case '\t': sb.Append(@"\t"); break;
            case '\u001b': sb.Append(@"\e"); break;
            case < '\u0100': sb.Append(@"\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture)); break;
            default: sb.Append(@"\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)); break;
        }
    }
}
