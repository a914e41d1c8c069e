using System.Globalization;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Documents;

/// <summary>
/// The limits every JSON or YAML document and every value given to a cmdlet (hashtables, objects) is held to, so
/// that no input can exhaust memory (an alias bomb) or the stack (deep nesting ends pwsh with a stack overflow,
/// which cannot be caught). Far above any real launch config, queue config, spec or Kubernetes manifest.
/// </summary>
public static class DocumentLimits
{
    /// <summary>
    /// Deepest nesting of mappings and lists (the root mapping is level 1); the same as System.Text.Json's default,
    /// so that every stored tree can be read back.
    /// </summary>
    public const int MaxDepth = 64;

    /// <summary>Largest document text or file: 16 MiB (in characters for text, in bytes for a file).</summary>
    public const int MaxCharacters = 16 * 1024 * 1024;

    /// <summary>Most values (mappings, lists, scalars) in one document or value, counting every alias expansion.</summary>
    public const int MaxNodes = 1_000_000;

    internal static string Format(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    internal static LaunchException TooDeep(string where, object? target) =>
        LaunchException.InvalidData("DocumentTooDeep",
            $"The document nests mappings and lists more than {MaxDepth} levels deep at {where}; at most {MaxDepth} levels are allowed.", target);

    internal static LaunchException TooLarge(string what, object? target) =>
        LaunchException.InvalidData("DocumentTooLarge", what, target);

    internal static LaunchException AliasExpansion(string where, object? target) =>
        LaunchException.InvalidData("DocumentAliasExpansionTooLarge",
            $"The YAML aliases at {where} expand the document beyond {Format(MaxNodes)} values or {Format(MaxCharacters)} characters of text; " +
            "aliases may repeat parts of a document only up to these limits (an alias bomb is refused).", target);

    internal static LaunchException NotFinite(string text, string where, object? target) =>
        LaunchException.InvalidData("NumberNotFinite",
            $"The number {text} at {where} is not finite (NaN, an infinity, or beyond ±1.7976931348623157E+308); numbers must be finite.", target);
}
