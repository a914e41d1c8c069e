using System.Globalization;
using System.Text;

namespace WandbLaunch.Engine.Text;

/// <summary>Python source for values, as Python writes them.</summary>
public static class PythonLiteral
{
    /// <summary>
    /// Python's <c>repr()</c> of a str: in single quotes (double quotes when it has a <c>'</c> and no <c>"</c>), with
    /// backslashes, the quote, <c>\t \n \r</c> and every non-printable character (Unicode "Other" and "Separator",
    /// except the space) escaped, so that the literal reads back as exactly <paramref name="value"/>.
    /// </summary>
    public static string Repr(string value)
    {
        var quote = value.Contains('\'') && !value.Contains('"') ? '"' : '\'';
        var text = new StringBuilder(value.Length + 2).Append(quote);
        for (var i = 0; i < value.Length; i++)
        {
            // A lone surrogate is a code point of its own (category Surrogate, so escaped), as in a Python str.
            var pair = char.IsSurrogatePair(value, i);
            var c = pair ? char.ConvertToUtf32(value[i], value[i + 1]) : value[i];
            if (pair) i++;
            if (c == quote || c == '\\') text.Append('\\').Append((char)c);
            else if (c == '\t') text.Append("\\t");
            else if (c == '\n') text.Append("\\n");
            else if (c == '\r') text.Append("\\r");
            else if (c < 0x20 || c == 0x7f) text.Append(CultureInfo.InvariantCulture, $"\\x{c:x2}");
            else if (c < 0x7f || Printable(c)) text.Append(char.ConvertFromUtf32(c));
            else if (c <= 0xff) text.Append(CultureInfo.InvariantCulture, $"\\x{c:x2}");
            else if (c <= 0xffff) text.Append(CultureInfo.InvariantCulture, $"\\u{c:x4}");
            else text.Append(CultureInfo.InvariantCulture, $"\\U{c:x8}");
        }
        return text.Append(quote).ToString();
    }

    private static bool Printable(int c) => (Rune.IsValid(c) ? Rune.GetUnicodeCategory(new Rune(c)) : UnicodeCategory.Surrogate) switch
    {
        UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
            or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
            or UnicodeCategory.SpaceSeparator => false,
        _ => true,
    };
}
