using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Secrets;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.HostileInputTests;

/// <summary>
/// Values printed to the console or written as agent notes cannot forge lines or rewrite the terminal: every
/// control character is escaped, escaping loses nothing, and a job's own output is kept in its log as written.
/// </summary>
public sealed class PrintedTextTests
{
    public sealed record HostileText(string Value)
    {
        public override string ToString() => JsonSerializer.Serialize(Value);
    }

    public static class Arbitraries
    {
        // Weighted towards what matters: controls (C0, C1, DEL, NUL, ESC sequences), backslashes followed by escape
        // letters, line and bidi separators, next to ordinary and non-ASCII text.
        private static readonly Gen<char> Chars = Gen.Frequency(
            (4, Gen.Choose(0x20, 0x7e).Select(i => (char)i)),
            (3, Gen.Elements('\\', 'n', 'r', 't', 'e', 'x', 'u', '0', 'f', '[')),
            (3, Gen.Choose(0, 0x1f).Select(i => (char)i)),
            (1, Gen.Choose(0x7f, 0x9f).Select(i => (char)i)),
            (1, Gen.Elements('\u2028', '\u2029', '\u202e', '\u2066', '\u200f', 'é', '中', '\u2400')),
            (1, Gen.Choose(0xa0, 0xd7ff).Select(i => (char)i)));

        public static Arbitrary<HostileText> HostileText() =>
            (from n in Gen.Choose(0, 40)
             from chars in Gen.ArrayOf(Chars, n)
             select new HostileText(new string(chars))).ToArbitrary();
    }

    private static bool HasNoControls(string text, bool tabAllowed = false) =>
        text.All(c => !Printable.NeedsEscape(c) || tabAllowed && c == '\t');

    [Property(Arbitrary = [typeof(Arbitraries)], MaxTest = 1000)]
    public bool Escaped_text_has_no_control_characters(HostileText text) => HasNoControls(Printable.Escape(text.Value));

    [Property(Arbitrary = [typeof(Arbitraries)], MaxTest = 1000)]
    public bool Escaping_is_reversible(HostileText text) => Printable.Unescape(Printable.Escape(text.Value)) == text.Value;

    [Property(Arbitrary = [typeof(Arbitraries)], MaxTest = 500)]
    public bool Different_values_print_differently(HostileText a, HostileText b) =>
        a.Value == b.Value || Printable.Escape(a.Value) != Printable.Escape(b.Value);

    [Property(Arbitrary = [typeof(Arbitraries)], MaxTest = 1000)]
    public bool Printed_lines_have_no_control_characters_and_escaping_them_again_changes_nothing(HostileText text)
    {
        var once = Printable.EscapeControls(text.Value);
        return HasNoControls(once) && Printable.EscapeControls(once) == once && Printable.EscapeControls(Printable.Escape(text.Value)) == Printable.Escape(text.Value);
    }

    [Property(Arbitrary = [typeof(Arbitraries)], MaxTest = 500)]
    public bool Job_output_keeps_its_tabs_and_nothing_else_raw(HostileText text)
    {
        var shown = Printable.EscapeControls(text.Value, keepTab: true);
        return HasNoControls(shown, tabAllowed: true) && shown.Count(c => c == '\t') == text.Value.Count(c => c == '\t');
    }

    [Property(MaxTest = 300)]
    public bool Plain_text_and_paths_are_printed_as_they_are(NonNull<string> text)
    {
        var plain = new string(text.Get.Where(c => !Printable.NeedsEscape(c) && c != '\\').ToArray());
        return Printable.Escape(plain) == plain && Printable.EscapeControls(plain) == plain;
    }

    [Theory]
    [InlineData("queue\u001b[31mred", @"queue\e[31mred")]
    [InlineData("two\nlines\r", @"two\nlines\r")]
    [InlineData("nul\0here", @"nul\x00here")]
    [InlineData("csi\u009b2J", @"csi\x9b2J")]
    [InlineData("rtl\u202eevil", @"rtl\u202eevil")]
    [InlineData(@"C:\Users\me\work", @"C:\Users\me\work")]
    [InlineData(@"C:\new\temp", @"C:\\new\\temp")]
    [InlineData("back\\\nslash", @"back\\\nslash")]
    public void Escape_writes_each_control_in_its_documented_form(string value, string printed)
    {
        Assert.Equal(printed, Printable.Escape(value));
        Assert.Equal(value, Printable.Unescape(printed));
    }

    [Fact]
    public void Agent_notes_are_one_escaped_line_and_the_job_s_output_is_kept_as_written()
    {
        using var dir = new TempDirectory();
        var path = dir.File("job.log");
        using (var log = new JobLog(path, SecretRedactor.None))
        {
            log.Output("\u001b[32mPASSED\u001b[0m\tok");
            log.Agent("took the job from queue evil\u001b]0;owned\u0007\nFAKE LINE");
        }
        var lines = File.ReadAllLines(path);
        Assert.Equal(2, lines.Length);
        Assert.Equal("\u001b[32mPASSED\u001b[0m\tok", lines[0]);
        Assert.Equal(@"[agent] took the job from queue evil\e]0;owned\x07\nFAKE LINE", lines[1]);
    }
}
