using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Secrets;

namespace WandbLaunch.Engine.Storage.Wandb;

/// <summary>
/// A W&amp;B API key, held so that it never prints: <see cref="ToString"/> is the mask, and the only way to the value
/// is <see cref="Reveal"/>, which the HTTP client calls to build the Authorization header (and the agent to give a job
/// its WANDB_API_KEY). Equal keys are equal values, so two connections with the same settings share one backend.
/// </summary>
public sealed class WandbApiKey : IEquatable<WandbApiKey>
{
    /// <summary>W&amp;B keys are 40 (cloud) to ~90 (self-hosted, <c>local-…</c>) characters; anything far longer is not a key.</summary>
    public const int MaxLength = 512;

    private readonly string _value;

    private WandbApiKey(string value, string source)
    {
        _value = value;
        Source = source;
        Redactor = SecretRedactor.Of([value]);
    }

    /// <summary>Where the key came from (-ApiKey, WANDB_API_KEY, a netrc file path), for diagnostics.</summary>
    public string Source { get; }

    /// <summary>Hides this key (and its escaped, base64 and URL-encoded forms) in any text.</summary>
    public SecretRedactor Redactor { get; }

    /// <summary>
    /// A key from <paramref name="source"/>. It goes into an HTTP header, so only printable ASCII without spaces is
    /// accepted (a newline would let a hostile file add headers); the message never contains the value.
    /// </summary>
    public static WandbApiKey Of(string value, string source)
    {
        var trimmed = value.Trim();
        if (trimmed.Length == 0 || trimmed.Length > MaxLength || trimmed.Any(c => c <= ' ' || c > '~'))
        {
            throw new LaunchException("WandbApiKeyInvalid", LaunchErrorCategory.InvalidArgument,
                $"The W&B API key from {source} is not a valid key: it must be 1 to {MaxLength} printable ASCII characters without spaces.")
            {
                RecommendedAction = "Copy the key again from https://wandb.ai/authorize (or your server's /authorize page).",
            };
        }
        return new WandbApiKey(trimmed, source);
    }

    /// <summary>The key itself. Callers must not print, log or store it.</summary>
    public string Reveal() => _value;

    public override string ToString() => SecretRedactor.Mask;

    public bool Equals(WandbApiKey? other) => other is not null && string.Equals(_value, other._value, StringComparison.Ordinal);

    public override bool Equals(object? obj) => Equals(obj as WandbApiKey);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(_value);
}
