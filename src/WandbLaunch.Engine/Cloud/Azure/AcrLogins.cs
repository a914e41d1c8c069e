using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Identity;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Registries;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Cloud.Azure;

/// <summary>
/// Logs in to an Azure Container Registry (<c>&lt;name&gt;.azurecr.io</c>) as <c>az acr login</c> does, so that the
/// docker builder can push there and the agent can ask whether an image exists (W&amp;B's agent cannot: its ACR
/// registry has no username and password). An Azure AD access token for Azure Resource Manager (from the agent's
/// environment: a client secret, a workload identity's federated token, else <c>DefaultAzureCredential</c>;
/// <c>AZURE_AUTHORITY_HOST</c> moves the token endpoint) is exchanged at <c>https://&lt;registry&gt;/oauth2/exchange</c>
/// for an ACR refresh token; the login is user <see cref="User"/> with that token as password, kept per registry
/// until five minutes before it expires. Tokens are never logged.
/// </summary>
public sealed partial class AcrLogins : IDisposable
{
    /// <summary>The user name ACR expects with a refresh token as password.</summary>
    public const string User = "00000000-0000-0000-0000-000000000000";

    /// <summary>The Azure AD scope whose tokens ACR exchanges (Azure Resource Manager's, as az acr login asks).</summary>
    public const string Scope = "https://management.azure.com/.default";

    private const string Source = "acr";

    private static readonly TimeSpan Margin = TimeSpan.FromMinutes(5);

    private readonly Func<string, string?> _environment;
    private readonly HttpMessageHandler? _handler;
    private readonly HttpClient _http;
    private readonly Func<DateTimeOffset> _now;
    private readonly ConcurrentDictionary<string, (RegistryCredential Login, DateTimeOffset Expires)> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (LaunchException Error, DateTimeOffset Until)> _failures = new(StringComparer.Ordinal);

    /// <summary>How long a failed login is answered from memory, so that each build does not wait for it again.</summary>
    private static readonly TimeSpan FailureMemory = TimeSpan.FromMinutes(1);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private TokenCredential? _credential;

    /// <param name="environment">The agent's environment (AZURE_* variables).</param>
    /// <param name="handler">Sends every request, Azure AD's included (tests send them to a loopback stand-in).</param>
    /// <param name="now">The clock the cache uses.</param>
    public AcrLogins(Func<string, string?> environment, HttpMessageHandler? handler = null, Func<DateTimeOffset>? now = null)
    {
        _environment = environment;
        _handler = handler;
        _http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        _http.Timeout = TimeSpan.FromSeconds(30);
        _now = now ?? (() => DateTimeOffset.UtcNow);
    }

    [GeneratedRegex(@"^[a-z0-9]{5,50}\.azurecr\.io$")]
    private static partial Regex AcrHost();

    /// <summary>Whether <paramref name="registry"/> is an Azure Container Registry host.</summary>
    public static bool IsHost(string registry) => AcrHost().IsMatch(registry);

    /// <summary>The login for <paramref name="registry"/>, from the cache while it is good. Throws <see cref="LaunchException"/> saying what to fix.</summary>
    public async Task<RegistryCredential> LoginAsync(string registry, CancellationToken cancellationToken)
    {
        if (!IsHost(registry)) throw new ArgumentException($"'{registry}' is not an Azure Container Registry host.", nameof(registry));
        if (Cached(registry) is { } cached) return cached;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Cached(registry) is { } again) return again;
            if (_failures.TryGetValue(registry, out var failure) && failure.Until > _now()) throw failure.Error;
            AccessToken aad;
            string refresh;
            try
            {
                aad = await AadTokenAsync(registry, cancellationToken).ConfigureAwait(false);
                refresh = await ExchangeAsync(registry, aad.Token, cancellationToken).ConfigureAwait(false);
            }
            catch (LaunchException e)
            {
                _failures[registry] = (e, _now() + FailureMemory);
                throw;
            }
            _failures.TryRemove(registry, out _);
            var expires = JwtExpiry(refresh) ?? aad.ExpiresOn;
            var login = new RegistryCredential(User, refresh) { Source = "Azure AD token exchanged at " + registry };
            _cache[registry] = (login, expires);
            EngineLog.Verbose(Source, () => $"logged in to {registry} with an ACR refresh token (valid until {expires:u})");
            return login;
        }
        finally
        {
            _gate.Release();
        }
    }

    private RegistryCredential? Cached(string registry) =>
        _cache.TryGetValue(registry, out var entry) && entry.Expires - Margin > _now() ? entry.Login : null;

    private async Task<AccessToken> AadTokenAsync(string registry, CancellationToken cancellationToken)
    {
        _credential ??= Credential();
        try
        {
            return await _credential.GetTokenAsync(new TokenRequestContext([Scope]), cancellationToken).ConfigureAwait(false);
        }
        catch (AuthenticationFailedException e)
        {
            throw new LaunchException("AcrLoginFailed", LaunchErrorCategory.PermissionDenied,
                $"No Azure AD token to log in to {registry}: {FirstLine(e.Message)} Set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET " +
                "(or AZURE_FEDERATED_TOKEN_FILE for a workload identity), run the agent with a managed identity, or give -RegistryCredential.", registry, e);
        }
    }

    /// <summary>The Azure AD credential the agent's environment describes.</summary>
    private TokenCredential Credential()
    {
        var tenant = Value("AZURE_TENANT_ID");
        var client = Value("AZURE_CLIENT_ID");
        Uri? authority = null;
        if (Value("AZURE_AUTHORITY_HOST") is { } host)
        {
            if (!Uri.TryCreate(host, UriKind.Absolute, out authority) || authority.Scheme != Uri.UriSchemeHttps)
            {
                throw LaunchException.Invalid("InvalidAzureAuthorityHost",
                    $"AZURE_AUTHORITY_HOST is '{Printable.Escape(host)}'; it must be an https URL such as https://login.microsoftonline.com/.", host);
            }
        }
        T Configure<T>(T options) where T : TokenCredentialOptions
        {
            // A build asks synchronously: an unreachable token endpoint must not hold it for the SDK's default back-off.
            options.Retry.MaxRetries = 2;
            options.Retry.Delay = TimeSpan.FromMilliseconds(250);
            options.Retry.NetworkTimeout = TimeSpan.FromSeconds(20);
            if (authority is not null) options.AuthorityHost = authority;
            if (_handler is not null) options.Transport = new HttpClientTransport(_handler);
            return options;
        }
        if (tenant is not null && client is not null && Value("AZURE_CLIENT_SECRET") is { } secret)
        {
            return new ClientSecretCredential(tenant, client, secret, Configure(new ClientSecretCredentialOptions()));
        }
        if (tenant is not null && client is not null && Value("AZURE_FEDERATED_TOKEN_FILE") is { } tokenFile)
        {
            return new WorkloadIdentityCredential(Configure(new WorkloadIdentityCredentialOptions { TenantId = tenant, ClientId = client, TokenFilePath = tokenFile }));
        }
        return new DefaultAzureCredential(Configure(new DefaultAzureCredentialOptions()));
    }

    private async Task<string> ExchangeAsync(string registry, string aadToken, CancellationToken cancellationToken)
    {
        var form = new List<KeyValuePair<string, string>>
        {
            new("grant_type", "access_token"),
            new("service", registry),
            new("access_token", aadToken),
        };
        if (Value("AZURE_TENANT_ID") is { } tenant) form.Add(new("tenant", tenant));
        using var request = new HttpRequestMessage(HttpMethod.Post, $"https://{registry}/oauth2/exchange") { Content = new FormUrlEncodedContent(form) };
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new LaunchException("AcrLoginFailed", LaunchErrorCategory.ResourceUnavailable, $"{registry} cannot be reached to log in: {e.Message}", registry, e);
        }
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            EngineLog.Debug(Source, () => $"POST https://{registry}/oauth2/exchange: {(int)response.StatusCode}");
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new LaunchException("AcrLoginFailed",
                    response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden ? LaunchErrorCategory.PermissionDenied : LaunchErrorCategory.ResourceUnavailable,
                    $"{registry} refused the Azure AD token ({(int)response.StatusCode} {ErrorMessage(body)}): the identity needs the AcrPush role on the registry " +
                    "(az role assignment create --role AcrPush --assignee <client id> --scope <registry id>), or give -RegistryCredential.", registry);
            }
            try
            {
                if (JsonNode.Parse(body)?["refresh_token"] is JsonValue value && value.TryGetValue<string>(out var token) && token.Length > 0) return token;
            }
            catch (JsonException)
            {
            }
            throw new LaunchException("AcrLoginFailed", LaunchErrorCategory.InvalidData, $"{registry} answered the token exchange without a refresh_token.", registry);
        }
    }

    /// <summary>The registry's error message (never a token: ACR's errors are {"errors": [{"code", "message"}]}).</summary>
    private static string ErrorMessage(string body)
    {
        try
        {
            if (JsonNode.Parse(body)?["errors"]?[0] is JsonObject error)
            {
                return Printable.Escape($"{error["code"]?.ToString()}: {error["message"]?.ToString()}");
            }
        }
        catch (JsonException)
        {
        }
        return "no error message";
    }

    /// <summary>The <c>exp</c> claim of a JWT, or null when the token is not one.</summary>
    internal static DateTimeOffset? JwtExpiry(string token)
    {
        var parts = token.Split('.');
        if (parts.Length != 3) return null;
        try
        {
            var payload = parts[1].Replace('-', '+').Replace('_', '/');
            payload = payload.PadRight(payload.Length + ((4 - (payload.Length % 4)) % 4), '=');
            var claims = JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(payload)));
            return claims?["exp"] is JsonValue exp && exp.TryGetValue<long>(out var seconds) ? DateTimeOffset.FromUnixTimeSeconds(seconds) : null;
        }
        catch (Exception e) when (e is FormatException or JsonException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    private string? Value(string name) => _environment(name) is { Length: > 0 } value ? value.Trim() : null;

    private static string FirstLine(string text) => text.Split('\n')[0].Trim();

    public void Dispose()
    {
        _http.Dispose();
        _gate.Dispose();
    }
}
