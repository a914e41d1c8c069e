using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Registries;

namespace WandbLaunch.Engine.Secrets;

/// <summary>
/// Every secret value in play (the W&amp;B API key, cloud keys, registry passwords) and the one place that hides them:
/// <see cref="Redact"/> replaces each value with <c>***</c> wherever it occurs, also inside longer text (a macro
/// such as <c>--token=${WANDB_API_KEY}</c> places the key inside an argument), and also in the forms rendered output
/// carries it in (JSON- or YAML-escaped, base64, URL-encoded). Redacting by value, not by variable name, is what
/// keeps a key out of a preview, a log line or a stored message however it got there.
/// </summary>
public sealed class SecretRedactor
{
    /// <summary>What a secret is replaced with.</summary>
    public const string Mask = "***";

    /// <summary>Shorter values are not treated as secrets: masking "1" or "abc" everywhere would garble every message.</summary>
    public const int MinLength = 4;

    /// <summary>The W&amp;B API key's environment variable.</summary>
    public const string ApiKeyVariable = "WANDB_API_KEY";

    /// <summary>Environment variables whose values are secrets (the agent's or the session's environment).</summary>
    public static readonly IReadOnlyList<string> SecretVariables =
    [
        ApiKeyVariable,
        "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
        "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_PASSWORD",
        "AZURE_STORAGE_KEY", "AZURE_STORAGE_ACCESS_KEY", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_SAS_TOKEN",
        "GOOGLE_API_KEY", "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE_CONTENT",
        "GITHUB_TOKEN", "GH_TOKEN", "GIT_PASSWORD", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
        "DOCKER_PASSWORD", "REGISTRY_PASSWORD",
    ];

    /// <summary>Holds no secrets.</summary>
    public static readonly SecretRedactor None = new([]);

    private const int MaxCredentialFileBytes = 1 << 20;

    // Longest first, so that a secret containing another is masked whole.
    private readonly string[] _forms;

    private SecretRedactor(IEnumerable<string> values)
    {
        Values = values.Where(v => v.Length >= MinLength).Distinct(StringComparer.Ordinal).ToArray();
        _forms = Values.SelectMany(Forms).Where(f => f.Length >= MinLength).Distinct(StringComparer.Ordinal)
            .OrderByDescending(f => f.Length).ThenBy(f => f, StringComparer.Ordinal).ToArray();
    }

    /// <summary>The secret values (each at least <see cref="MinLength"/> characters).</summary>
    public IReadOnlyList<string> Values { get; }

    /// <summary>A redactor for exactly <paramref name="values"/> (null, empty and too short ones are ignored).</summary>
    public static SecretRedactor Of(IEnumerable<string?> values) => new(values.Where(v => v is not null).Select(v => v!));

    /// <summary>
    /// Every secret an agent or a session knows: the variables of <see cref="SecretVariables"/> in
    /// <paramref name="environment"/>, the private key of <c>GOOGLE_APPLICATION_CREDENTIALS</c>, the passwords of
    /// the Docker config file's <c>auths</c>, and <paramref name="credential"/> (-RegistryCredential).
    /// </summary>
    public static SecretRedactor FromEnvironment(Func<string, string?> environment, RegistryCredential? credential = null)
    {
        var values = new List<string?>();
        foreach (var name in SecretVariables) values.AddRange(Parts(name, environment(name)));
        values.AddRange(GoogleCredentialSecrets(environment("GOOGLE_APPLICATION_CREDENTIALS")));
        values.AddRange(DockerConfigCredentials.KnownSecrets(environment));
        if (credential is not null) values.Add(credential.Password);
        return Of(values);
    }

    /// <summary>This redactor plus <paramref name="more"/>.</summary>
    public SecretRedactor With(params string?[] more) => Of(Values.Concat(more));

    /// <summary><paramref name="text"/> with every known secret replaced by <see cref="Mask"/>.</summary>
    public string Redact(string text)
    {
        if (_forms.Length == 0 || string.IsNullOrEmpty(text)) return text;
        // Repeated until nothing is found: a replacement can join text around it into another occurrence
        // ("a" + "***" when a secret is "a***"). Each replacement shortens the text, so this ends.
        bool changed;
        do
        {
            changed = false;
            foreach (var form in _forms)
            {
                if (text.Contains(form, StringComparison.Ordinal))
                {
                    text = text.Replace(form, Mask, StringComparison.Ordinal);
                    changed = true;
                }
            }
        }
        while (changed);
        return text;
    }

    /// <summary><see cref="Redact(string)"/> that passes null through.</summary>
    public string? RedactOrNull(string? text) => text is null ? null : Redact(text);

    /// <summary>Whether <paramref name="text"/> contains a known secret.</summary>
    public bool Reveals(string? text) => !string.IsNullOrEmpty(text) && _forms.Any(f => text.Contains(f, StringComparison.Ordinal));

    /// <summary>The ways rendered text may carry a value: as is, JSON/YAML-escaped, base64, URL-encoded.</summary>
    private static IEnumerable<string> Forms(string value)
    {
        yield return value;
        yield return JsonEncodedText.Encode(value, JavaScriptEncoder.UnsafeRelaxedJsonEscaping).ToString();
        yield return JsonEncodedText.Encode(value).ToString();
        // Base64 of the whole 3-byte groups: the same characters wherever the value starts a base64 text.
        var bytes = Encoding.UTF8.GetBytes(value);
        if (bytes.Length >= 6) yield return Convert.ToBase64String(bytes, 0, bytes.Length - bytes.Length % 3);
        yield return Uri.EscapeDataString(value);
        // A multi-line value (a PEM key) may be printed line by line: each long line is a secret too.
        if (value.Contains('\n'))
        {
            foreach (var line in value.Split('\n'))
            {
                var trimmed = line.Trim();
                if (trimmed.Length >= 16 && !trimmed.StartsWith("-----", StringComparison.Ordinal)) yield return trimmed;
            }
        }
    }

    /// <summary>A connection string's <c>AccountKey=</c>/<c>SharedAccessSignature=</c> parts are secrets on their own.</summary>
    private static IEnumerable<string?> Parts(string name, string? value)
    {
        if (string.IsNullOrEmpty(value)) yield break;
        yield return value;
        if (!value.Contains(';')) yield break;
        foreach (var part in value.Split(';'))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0) continue;
            var key = part[..eq].Trim();
            if (key.Equals("AccountKey", StringComparison.OrdinalIgnoreCase) || key.Equals("SharedAccessSignature", StringComparison.OrdinalIgnoreCase))
            {
                yield return part[(eq + 1)..];
            }
        }
    }

    /// <summary>The secrets of a Google credentials file (service account or user): private_key, client_secret, refresh_token.</summary>
    private static IEnumerable<string?> GoogleCredentialSecrets(string? path)
    {
        if (string.IsNullOrEmpty(path)) return [];
        try
        {
            var file = new FileInfo(path);
            if (!file.Exists || file.Length > MaxCredentialFileBytes) return [];
            if (JsonNode.Parse(File.ReadAllText(path)) is not JsonObject json) return [];
            return new[] { "private_key", "client_secret", "refresh_token" }
                .Select(k => json[k] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null)
                .ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or ArgumentException or NotSupportedException)
        {
            return [];
        }
    }
}
