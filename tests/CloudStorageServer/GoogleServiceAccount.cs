using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace WandbLaunch.Tests.CloudStorage;

/// <summary>
/// A Google service account as Google's OAuth 2.0 token endpoint knows it: its RSA key (the key file's private_key),
/// the JWT-bearer grant (the assertion's RS256 signature checked with the account's public key, iss the account,
/// aud the token URI (or Google's own, see <see cref="GoogleTokenUrl"/>), a scope the server accepts, iat/exp at most an hour apart and current) and the access tokens
/// issued, each with an expiry. Stand-ins (Cloud Storage, Vertex AI, Artifact Registry) share it.
/// </summary>
public sealed class GoogleServiceAccount
{
    private readonly RSA _key = RSA.Create(2048);
    private readonly ConcurrentDictionary<string, DateTime> _tokens = new(StringComparer.Ordinal);

    public GoogleServiceAccount(string project, string account)
    {
        Project = project;
        ClientEmail = $"{account}@{project}.iam.gserviceaccount.com";
    }

    /// <summary>
    /// Google's token URL. Google.Apis.Auth signs the assertion for this audience whatever the key file's token_uri
    /// (it only sends the request there); google-auth (Python) signs for token_uri. Google's endpoint takes both.
    /// </summary>
    public const string GoogleTokenUrl = "https://oauth2.googleapis.com/token";

    public string Project { get; }

    public string ClientEmail { get; }

    /// <summary>How long a new access token lives (Google: an hour; expires_in says 3599).</summary>
    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Access tokens issued so far.</summary>
    public int TokensIssued => _tokens.Count;

    /// <summary>The access tokens issued (tests look for them where they must never appear).</summary>
    public IReadOnlyCollection<string> IssuedTokens => _tokens.Keys.ToList();

    /// <summary>Ends every access token issued so far (as a revoked key or a clock past their expiry would).</summary>
    public void ExpireTokens()
    {
        foreach (var token in _tokens.Keys) _tokens[token] = DateTime.UtcNow.AddSeconds(-1);
    }

    /// <summary>The service account's key file, as the IAM console downloads it, with token_uri pointing at <paramref name="tokenUri"/>.</summary>
    public string KeyJson(Uri tokenUri, RSA? otherKey = null) => new JsonObject
    {
        ["type"] = "service_account",
        ["project_id"] = Project,
        ["private_key_id"] = "0123456789abcdef0123456789abcdef01234567",
        ["private_key"] = (otherKey ?? _key).ExportPkcs8PrivateKeyPem() + "\n",
        ["client_email"] = ClientEmail,
        ["client_id"] = "104857600000000000001",
        ["auth_uri"] = "https://accounts.google.com/o/oauth2/auth",
        ["token_uri"] = tokenUri.ToString(),
        ["auth_provider_x509_cert_url"] = "https://www.googleapis.com/oauth2/v1/certs",
        ["universe_domain"] = "googleapis.com",
    }.ToJsonString();

    /// <summary>The result of a token request: the status and the JSON body Google answers, and why it refused.</summary>
    public sealed record TokenAnswer(int Status, JsonObject Body, string? Refusal);

    /// <summary>
    /// Answers a token request (a form body) sent to <paramref name="tokenUri"/>; <paramref name="scopeAccepted"/>
    /// says whether the assertion's scopes let it use the service.
    /// </summary>
    public TokenAnswer Token(byte[] formBody, Uri tokenUri, Func<IReadOnlyList<string>, bool> scopeAccepted, string scopeRefusal)
    {
        var form = Encoding.UTF8.GetString(formBody).Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2)).ToDictionary(p => Uri.UnescapeDataString(p[0].Replace('+', ' ')), p => p.Length > 1 ? Uri.UnescapeDataString(p[1].Replace('+', ' ')) : "");
        TokenAnswer Refuse(string error, string description) =>
            new(400, new JsonObject { ["error"] = error, ["error_description"] = description }, $"token: {description}");
        if (form.GetValueOrDefault("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer") return Refuse("unsupported_grant_type", "Invalid grant_type");
        var parts = form.GetValueOrDefault("assertion", "").Split('.');
        if (parts.Length != 3) return Refuse("invalid_request", "Invalid JWT assertion");
        JsonObject header, claims;
        try
        {
            header = (JsonObject)JsonNode.Parse(Base64Url(parts[0]))!;
            claims = (JsonObject)JsonNode.Parse(Base64Url(parts[1]))!;
        }
        catch (Exception)
        {
            return Refuse("invalid_request", "Invalid JWT assertion");
        }
        if (header["alg"]?.GetValue<string>() != "RS256") return Refuse("invalid_grant", "Invalid JWT: alg must be RS256");
        if (!Signed(parts)) return Refuse("invalid_grant", "Invalid JWT Signature.");
        if (claims["iss"]?.GetValue<string>() != ClientEmail) return Refuse("invalid_grant", "Invalid JWT: iss is not the service account");
        if (claims["aud"]?.GetValue<string>() is not { } aud || (aud != tokenUri.ToString() && aud != GoogleTokenUrl)) return Refuse("invalid_grant", "Invalid JWT: aud is not the token URI");
        if (!Current(claims)) return Refuse("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.");
        if (!scopeAccepted(Scopes(claims))) return Refuse("invalid_scope", scopeRefusal);
        var token = Issue();
        return new TokenAnswer(200, new JsonObject { ["access_token"] = token, ["expires_in"] = (int)TokenLifetime.TotalSeconds - 1, ["token_type"] = "Bearer" }, null);
    }

    /// <summary>Issues an access token (as the metadata server does for its account).</summary>
    public string Issue()
    {
        var token = "ya29.loopback-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        _tokens[token] = DateTime.UtcNow.Add(TokenLifetime);
        return token;
    }

    /// <summary>Null when <paramref name="token"/> is an access token issued here and current; else why not.</summary>
    public string? AccessTokenProblem(string token) =>
        !_tokens.TryGetValue(token, out var expires) ? "unknown bearer token" : expires < DateTime.UtcNow ? "expired access token" : null;

    /// <summary>
    /// Null when <paramref name="token"/> is a self-signed JWT of the account (what Google's libraries send for a
    /// key without asking the token endpoint, and Google accepts): RS256 with the account's key, iss and sub the
    /// account, aud <paramref name="audience"/> or an accepted scope, at most an hour long and current; else why not.
    /// </summary>
    public string? SelfSignedJwtProblem(string token, Uri audience, Func<IReadOnlyList<string>, bool> scopeAccepted)
    {
        var parts = token.Split('.');
        if (parts.Length != 3) return "unknown bearer token";
        JsonObject header, claims;
        try
        {
            header = (JsonObject)JsonNode.Parse(Base64Url(parts[0]))!;
            claims = (JsonObject)JsonNode.Parse(Base64Url(parts[1]))!;
        }
        catch (Exception)
        {
            return "unknown bearer token";
        }
        if (header["alg"]?.GetValue<string>() != "RS256") return "self-signed JWT: alg is not RS256";
        if (!Signed(parts)) return "self-signed JWT: bad signature";
        if (claims["iss"]?.GetValue<string>() != ClientEmail || claims["sub"]?.GetValue<string>() != ClientEmail) return "self-signed JWT: iss/sub is not the service account";
        var aud = claims["aud"]?.GetValue<string>();
        if (aud != audience.ToString() && !scopeAccepted(Scopes(claims))) return $"self-signed JWT: aud {aud} is not {audience} and no accepted scope is granted";
        if (!Current(claims)) return "self-signed JWT: expired or longer than an hour";
        return null;
    }

    private bool Signed(string[] parts) =>
        _key.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), Base64Url(parts[2]), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);

    private static IReadOnlyList<string> Scopes(JsonObject claims) => (claims["scope"]?.GetValue<string>() ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);

    private static bool Current(JsonObject claims)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var iat = claims["iat"]?.GetValue<long>() ?? 0;
        var exp = claims["exp"]?.GetValue<long>() ?? 0;
        return iat <= now + 300 && exp >= now && exp - iat <= 3600;
    }

    private static byte[] Base64Url(string text)
    {
        var padded = text.Replace('-', '+').Replace('_', '/');
        padded += new string('=', (4 - padded.Length % 4) % 4);
        return Convert.FromBase64String(padded);
    }
}
