using System.Collections.Concurrent;
using System.Net.Http;
using System.Text;
using System.Text.Json.Nodes;
using System.Web;

namespace WandbLaunch.Tests.CloudStorage;

/// <summary>
/// Azure AD's token endpoint (client credentials, v2.0) and an Azure Container Registry's token service and
/// manifests, on 127.0.0.1, as far as a login with <c>az acr login</c>'s token exchange goes: <c>POST
/// /&lt;tenant&gt;/oauth2/v2.0/token</c> (AAD access tokens for a registered client and secret), <c>POST
/// /oauth2/exchange</c> (an AAD token this server issued → an ACR refresh token, a JWT with <c>exp</c>), <c>GET
/// /oauth2/token</c> (basic auth with user 00000000-… and a refresh token → an access token) and <c>HEAD
/// /v2/&lt;repository&gt;/manifests/&lt;tag&gt;</c> (bearer only, 401 with the realm challenge otherwise). Requests
/// reach it through <see cref="Router"/>, which sends any https URL here and names the host it was meant for in X-Forwarded-Host.
/// </summary>
public sealed class AcrServer : LoopbackServer
{
    public const string AcrUser = "00000000-0000-0000-0000-000000000000";
    public const string ArmScope = "https://management.azure.com/.default";

    private const string ForwardedHost = "X-Forwarded-Host";

    private readonly ConcurrentDictionary<string, bool> _aadTokens = new();
    private readonly ConcurrentDictionary<string, bool> _refreshTokens = new();
    private readonly ConcurrentDictionary<string, bool> _accessTokens = new();
    private readonly ConcurrentDictionary<string, bool> _tags = new();
    private readonly ConcurrentQueue<string> _rejections = new();

    public AcrServer(string tenant, string clientId, string clientSecret)
    {
        Tenant = tenant;
        ClientId = clientId;
        ClientSecret = clientSecret;
    }

    public string Tenant { get; }

    public string ClientId { get; }

    public string ClientSecret { get; }

    /// <summary>How long the refresh tokens it issues are valid.</summary>
    public TimeSpan RefreshLifetime { get; set; } = TimeSpan.FromHours(3);

    /// <summary>How many tokens it issued, by endpoint.</summary>
    public int AadTokensIssued => _aadTokens.Count;

    public int RefreshTokensIssued => _refreshTokens.Count;

    public IReadOnlyList<string> Rejections => _rejections.ToList();

    public void AddTag(string repository, string tag) => _tags[$"{repository}:{tag}"] = true;

    /// <summary>A handler that sends every request here, keeping the Host header of the URL it was sent to.</summary>
    public HttpMessageHandler Router() => new Routing(Url);

    protected override Task<Reply> HandleAsync(Incoming request)
    {
        var host = request.Header(ForwardedHost) ?? request.Header("host") ?? "";
        var form = request.Method == "POST" ? HttpUtility.ParseQueryString(Encoding.UTF8.GetString(request.Body)) : null;
        if (request.Method == "GET" && request.RawPath == "/common/discovery/instance")
        {
            return Json(200, new JsonObject
            {
                ["tenant_discovery_endpoint"] = $"https://{host}/{Tenant}/v2.0/.well-known/openid-configuration",
                ["api-version"] = "1.1",
                ["metadata"] = new JsonArray(),
            });
        }
        if (request.Method == "POST" && request.RawPath == $"/{Tenant}/oauth2/v2.0/token") return AadToken(form!);
        if (request.Method == "POST" && request.RawPath == "/oauth2/exchange") return Exchange(host, form!);
        if (request.Method == "GET" && request.RawPath == "/oauth2/token") return RegistryToken(host, request);
        if (request.RawPath.StartsWith("/v2/", StringComparison.Ordinal) && request.RawPath.Contains("/manifests/", StringComparison.Ordinal)) return Manifest(host, request);
        return Json(404, new JsonObject { ["error"] = "not_found", ["error_description"] = $"{request.Method} {request.RawPath}" });
    }

    private Task<Reply> AadToken(System.Collections.Specialized.NameValueCollection form)
    {
        if (form["grant_type"] != "client_credentials") return AadError(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.");
        if (form["client_id"] != ClientId) return AadError(400, "unauthorized_client", $"AADSTS700016: Application with identifier '{form["client_id"]}' was not found in the directory.");
        if (form["client_secret"] != ClientSecret) return AadError(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.");
        if (form["scope"] != ArmScope) return AadError(400, "invalid_scope", $"AADSTS70011: The provided value for scope {form["scope"]} is not valid.");
        var token = "aad-" + Guid.NewGuid().ToString("N");
        _aadTokens[token] = true;
        return Json(200, new JsonObject { ["token_type"] = "Bearer", ["expires_in"] = 3599, ["ext_expires_in"] = 3599, ["access_token"] = token });
    }

    private Task<Reply> AadError(int status, string error, string description)
    {
        _rejections.Enqueue(error);
        return Json(status, new JsonObject { ["error"] = error, ["error_description"] = description, ["error_codes"] = new JsonArray(7000215) });
    }

    private Task<Reply> Exchange(string host, System.Collections.Specialized.NameValueCollection form)
    {
        if (form["grant_type"] != "access_token") return AcrError(400, "UNSUPPORTED", "grant_type must be access_token");
        if (form["service"] != host) return AcrError(400, "UNAUTHORIZED", $"service {form["service"]} is not {host}");
        if (form["access_token"] is not { } aad || !_aadTokens.ContainsKey(aad)) return AcrError(401, "UNAUTHORIZED", "invalid AAD access token");
        var exp = DateTimeOffset.UtcNow.Add(RefreshLifetime).ToUnixTimeSeconds();
        var token = Jwt(new JsonObject { ["jti"] = Guid.NewGuid().ToString(), ["exp"] = exp, ["aud"] = host, ["grant_type"] = "refresh_token" });
        _refreshTokens[token] = true;
        return Json(200, new JsonObject { ["refresh_token"] = token });
    }

    private Task<Reply> RegistryToken(string host, Incoming request)
    {
        var basic = request.Header("authorization");
        if (basic is null || !basic.StartsWith("Basic ", StringComparison.Ordinal)) return AcrError(401, "UNAUTHORIZED", "authentication required");
        var pair = Encoding.UTF8.GetString(Convert.FromBase64String(basic["Basic ".Length..])).Split(':', 2);
        if (pair[0] != AcrUser || !_refreshTokens.ContainsKey(pair[1]) || request.QueryValue("service") != host) return AcrError(401, "UNAUTHORIZED", "authentication required");
        var token = "acr-access-" + Guid.NewGuid().ToString("N");
        _accessTokens[token] = true;
        return Json(200, new JsonObject { ["access_token"] = token });
    }

    private Task<Reply> Manifest(string host, Incoming request)
    {
        var auth = request.Header("authorization");
        if (auth is null || !auth.StartsWith("Bearer ", StringComparison.Ordinal) || !_accessTokens.ContainsKey(auth["Bearer ".Length..]))
        {
            var repository = request.RawPath[4..request.RawPath.IndexOf("/manifests/", StringComparison.Ordinal)];
            return Task.FromResult(Reply.Text(401, "application/json", """{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}""",
                new Dictionary<string, string> { ["WWW-Authenticate"] = $"Bearer realm=\"https://{host}/oauth2/token\",service=\"{host}\",scope=\"repository:{repository}:pull\"" }));
        }
        var at = request.RawPath.IndexOf("/manifests/", StringComparison.Ordinal);
        var key = $"{request.RawPath[4..at]}:{request.RawPath[(at + "/manifests/".Length)..]}";
        return _tags.ContainsKey(key)
            ? Task.FromResult(Reply.Text(200, "application/vnd.oci.image.manifest.v1+json", "{}", new Dictionary<string, string> { ["Docker-Content-Digest"] = "sha256:" + new string('b', 64) }))
            : Task.FromResult(Reply.Text(404, "application/json", """{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest tagged by the tag is not found"}]}"""));
    }

    private Task<Reply> AcrError(int status, string code, string message)
    {
        _rejections.Enqueue(code);
        return Json(status, new JsonObject { ["errors"] = new JsonArray(new JsonObject { ["code"] = code, ["message"] = message }) });
    }

    private static Task<Reply> Json(int status, JsonObject body) => Task.FromResult(Reply.Text(status, "application/json", body.ToJsonString()));

    private static string Jwt(JsonObject claims)
    {
        static string Encode(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return $"{Encode("""{"alg":"RS256","typ":"JWT"}""")}.{Encode(claims.ToJsonString())}.{Encode("signature")}";
    }

    private sealed class Routing(Uri target) : DelegatingHandler(new HttpClientHandler())
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var original = request.RequestUri!;
            // HttpListener answers only its own Host: the host the request was meant for travels beside it.
            request.Headers.Remove(ForwardedHost);
            request.Headers.Add(ForwardedHost, original.Authority);
            request.RequestUri = new UriBuilder(original) { Scheme = "http", Host = target.Host, Port = target.Port }.Uri;
            return base.SendAsync(request, cancellationToken);
        }
    }
}
