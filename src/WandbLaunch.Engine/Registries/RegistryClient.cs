using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Registries;

/// <summary>
/// Talks to a Docker Registry v2: checks credentials and whether a tag exists (HEAD of its manifest), with the
/// registry's basic or bearer-token flow. Loopback registries are reached over HTTP, as Docker does by default.
/// </summary>
public sealed partial class RegistryClient : IDisposable
{
    private static readonly string[] ManifestTypes =
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ];

    private readonly HttpClient _http;

    public RegistryClient(HttpMessageHandler? handler = null)
    {
        _http = handler is null ? new HttpClient() : new HttpClient(handler);
        _http.Timeout = TimeSpan.FromSeconds(30);
    }

    private static string BaseUrl(ImageReference image) =>
        (image.IsLoopback ? "http://" : "https://") + (image.Registry == ImageReference.DockerHub ? "registry-1.docker.io" : image.Registry);

    /// <summary>Throws RegistryAuthenticationFailed when the registry refuses the credential (or demands one and there is none).</summary>
    public async Task CheckLoginAsync(ImageReference image, RegistryCredential? credential, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Get, $"{BaseUrl(image)}/v2/", image, credential, "pull", cancellationToken).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden) throw AuthFailed(image, credential);
    }

    /// <summary>True when <paramref name="image"/>'s tag exists in its registry.</summary>
    public async Task<bool> ManifestExistsAsync(ImageReference image, RegistryCredential? credential, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Head, $"{BaseUrl(image)}/v2/{image.Repository}/manifests/{image.Tag}", image, credential, "pull", cancellationToken).ConfigureAwait(false);
        return response.StatusCode switch
        {
            HttpStatusCode.OK => true,
            HttpStatusCode.NotFound => false,
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => throw AuthFailed(image, credential),
            var status => throw new LaunchException("RegistryError", LaunchErrorCategory.ResourceUnavailable,
                $"The registry {image.Registry} answered {(int)status} {status} when asked for {image}.", image.ToString()),
        };
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string url, ImageReference image, RegistryCredential? credential, string action, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await SendLoggedAsync(Request(method, url, null), cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.Unauthorized) return response;
            var challenge = response.Headers.WwwAuthenticate.FirstOrDefault();
            if (challenge is null) return response;
            AuthenticationHeaderValue? authorization;
            EngineLog.Verbose(Source, () => $"{Printable.Escape(image.Registry)} asks for {Printable.Escape(challenge.Scheme)} authentication; " +
                (credential is null ? "there are no credentials for it" : $"using the credentials of user {Printable.Quote(credential.Username)} (from {Printable.Escape(credential.Source)})"));
            if (challenge.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
            {
                if (credential is null) return response;
                authorization = Basic(credential);
            }
            else if (challenge.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
            {
                var token = await TokenAsync(challenge.Parameter ?? "", image, credential, action, cancellationToken).ConfigureAwait(false);
                if (token is null) return response;
                authorization = new AuthenticationHeaderValue("Bearer", token);
            }
            else
            {
                return response;
            }
            response.Dispose();
            return await SendLoggedAsync(Request(method, url, authorization), cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            EngineLog.Verbose(Source, () => $"cannot reach {Printable.Escape(image.Registry)}: {Printable.Escape(e.Message)}");
            throw new LaunchException("RegistryUnreachable", LaunchErrorCategory.ResourceUnavailable,
                $"Cannot reach the registry {image.Registry}: {e.Message}", image.Registry, e);
        }
    }

    private const string Source = "registry";

    /// <summary>
    /// Sends one request, saying at Debug its method, URL, status and time. The Authorization header is never
    /// shown; the URLs are the registry's own API paths and its token realm (service and scope), which carry no secret.
    /// </summary>
    private async Task<HttpResponseMessage> SendLoggedAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!EngineLog.IsEnabled(DiagnosticLevel.Debug)) return await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        var start = Stopwatch.GetTimestamp();
        var what = $"{request.Method} {Printable.Escape(request.RequestUri?.ToString())}{(request.Headers.Authorization is { } auth ? $" (with {Printable.Escape(auth.Scheme)} authorization)" : "")}";
        try
        {
            var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            EngineLog.Debug(Source, string.Create(CultureInfo.InvariantCulture,
                $"{what}: {(int)response.StatusCode} {response.StatusCode} ({Stopwatch.GetElapsedTime(start).TotalMilliseconds:0} ms)"));
            return response;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            EngineLog.Debug(Source, string.Create(CultureInfo.InvariantCulture,
                $"{what}: failed after {Stopwatch.GetElapsedTime(start).TotalMilliseconds:0} ms: {Printable.Escape(e.Message)}"));
            throw;
        }
    }

    [GeneratedRegex(@"(\w+)=""([^""]*)""")]
    private static partial Regex ChallengeParameter();

    private async Task<string?> TokenAsync(string challenge, ImageReference image, RegistryCredential? credential, string action, CancellationToken cancellationToken)
    {
        var parameters = ChallengeParameter().Matches(challenge).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.OrdinalIgnoreCase);
        if (!parameters.TryGetValue("realm", out var realm)) return null;
        var query = new List<string>();
        if (parameters.TryGetValue("service", out var service)) query.Add("service=" + Uri.EscapeDataString(service));
        query.Add("scope=" + Uri.EscapeDataString(parameters.TryGetValue("scope", out var scope) ? scope : $"repository:{image.Repository}:{action}"));
        var url = realm + (realm.Contains('?') ? "&" : "?") + string.Join('&', query);
        using var response = await SendLoggedAsync(Request(HttpMethod.Get, url, credential is null ? null : Basic(credential)), cancellationToken).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden) throw AuthFailed(image, credential);
        if (!response.IsSuccessStatusCode) return null;
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)) as JsonObject;
        return json?["token"]?.GetValue<string>() ?? json?["access_token"]?.GetValue<string>();
    }

    private static HttpRequestMessage Request(HttpMethod method, string url, AuthenticationHeaderValue? authorization)
    {
        var request = new HttpRequestMessage(method, url);
        foreach (var type in ManifestTypes) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
        request.Headers.Authorization = authorization;
        return request;
    }

    private static AuthenticationHeaderValue Basic(RegistryCredential credential) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.Username}:{credential.Password}")));

    private static LaunchException AuthFailed(ImageReference image, RegistryCredential? credential) =>
        new("RegistryAuthenticationFailed", LaunchErrorCategory.PermissionDenied,
            credential is null
                ? $"The registry {image.Registry} requires credentials and none were found. Log in with 'docker login {image.Registry}' (the agent reads the Docker config file) or pass -RegistryCredential to Start-WandbLaunchAgent."
                : $"The registry {image.Registry} refused the credentials of user '{credential.Username}' (from {credential.Source}). Check the user name and password.",
            image.Registry);

    public void Dispose() => _http.Dispose();
}
