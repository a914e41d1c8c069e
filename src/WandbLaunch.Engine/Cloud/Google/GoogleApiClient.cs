using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Cloud.Google;

/// <summary>
/// Calls Google REST APIs with an access token of <see cref="GoogleAuth"/>: JSON in and out, Google's errors as
/// <see cref="GoogleApiException"/>. 429, 503 and RESOURCE_EXHAUSTED/UNAVAILABLE are tried again after a capped,
/// jittered exponential back-off (honouring Retry-After); a 401 renews the token once. One client per credentials
/// is shared by every job.
/// </summary>
public sealed class GoogleApiClient
{
    private static readonly HttpClient Shared = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = TimeSpan.FromSeconds(60) };

    private readonly HttpClient _http;

    /// <summary>The largest answer read (a CustomJob with a hundred variables per pool is a few KB; a page of images less than a MB).</summary>
    public const int MaxResponseBytes = 16 * 1024 * 1024;

    public GoogleApiClient(GoogleAuth auth, HttpClient? http = null)
    {
        Auth = auth;
        _http = http ?? Shared;
    }

    public GoogleAuth Auth { get; }

    /// <summary>How often a retryable answer is tried again (so at most this + 1 requests).</summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>The first back-off; it doubles up to <see cref="MaxBackoff"/>, each wait between half of it and all of it (jitter).</summary>
    public TimeSpan BaseBackoff { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Waits between tries (tests replace it to record the waits).</summary>
    public Func<TimeSpan, CancellationToken, Task> Delay { get; init; } = Task.Delay;

    /// <summary>The back-off before retry <paramref name="attempt"/> (1-based): uniform in [cap/2, cap] with cap = min(max, base·2^(attempt-1)).</summary>
    public TimeSpan Backoff(int attempt)
    {
        var cap = Math.Min(MaxBackoff.TotalMilliseconds, BaseBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 20)));
        return TimeSpan.FromMilliseconds(cap / 2 + Random.Shared.NextDouble() * cap / 2);
    }

    /// <summary>
    /// Sends a request; returns the JSON answer (an empty object for an empty body). <paramref name="operation"/> names
    /// it in messages (e.g. "Creating the Vertex AI CustomJob"). A request that may have reached the service when the
    /// connection failed is sent again only when <paramref name="idempotent"/> (a create is not: it could run twice).
    /// </summary>
    public async Task<JsonObject> SendAsync(HttpMethod method, Uri url, JsonNode? body, string operation, CancellationToken cancellationToken, bool idempotent = true)
    {
        var renewed = false;
        var renewNow = false;
        for (var attempt = 0; ; attempt++)
        {
            var token = await Auth.AccessTokenAsync(renewNow, cancellationToken).ConfigureAwait(false);
            renewNow = false;
            using var request = new HttpRequestMessage(method, url);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            if (body is not null) request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException e)
            {
                if (attempt < MaxRetries && (idempotent || e.HttpRequestError == HttpRequestError.ConnectionError))
                {
                    await Delay(Backoff(attempt + 1), cancellationToken).ConfigureAwait(false);
                    continue;
                }
                throw new LaunchException("GoogleApiUnreachable", LaunchErrorCategory.ResourceUnavailable,
                    $"{operation} failed: {url.GetLeftPart(UriPartial.Authority)} cannot be reached ({e.Message}).", url.GetLeftPart(UriPartial.Authority), e);
            }
            catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                if (attempt < MaxRetries && idempotent)
                {
                    await Delay(Backoff(attempt + 1), cancellationToken).ConfigureAwait(false);
                    continue;
                }
                throw new LaunchException("GoogleApiTimeout", LaunchErrorCategory.OperationTimeout,
                    $"{operation} failed: {url.GetLeftPart(UriPartial.Authority)} did not answer in {_http.Timeout.TotalSeconds:0} s.", url.GetLeftPart(UriPartial.Authority), e);
            }
            using (response)
            {
                var text = await ReadBoundedAsync(response.Content, operation, cancellationToken).ConfigureAwait(false);
                var status = (int)response.StatusCode;
                if (response.IsSuccessStatusCode)
                {
                    if (string.IsNullOrWhiteSpace(text)) return new JsonObject();
                    try
                    {
                        return JsonNode.Parse(text) as JsonObject ?? throw new FormatException("not a JSON object");
                    }
                    catch (Exception e) when (e is System.Text.Json.JsonException or FormatException)
                    {
                        throw new LaunchException("GoogleApiBadAnswer", LaunchErrorCategory.InvalidData, $"{operation}: the service answered {status} with a body that is not a JSON object.", operation, e);
                    }
                }
                var error = GoogleApiException.From(operation, status, text);
                if (response.StatusCode == HttpStatusCode.Unauthorized && !renewed)
                {
                    renewed = renewNow = true;
                    continue;
                }
                if (error.IsTransient && attempt < MaxRetries)
                {
                    var wait = Backoff(attempt + 1);
                    if (response.Headers.RetryAfter?.Delta is { } after && after > wait) wait = after < MaxBackoff ? after : MaxBackoff;
                    Diagnostics.EngineLog.Verbose("google", $"{operation}: {status} {error.Status}; trying again in {wait.TotalSeconds:0.0} s");
                    await Delay(wait, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                throw error;
            }
        }
    }

    private static async Task<string> ReadBoundedAsync(HttpContent content, string operation, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > MaxResponseBytes)
            {
                throw new LaunchException("GoogleApiBadAnswer", LaunchErrorCategory.InvalidData, $"{operation}: the service's answer is larger than {MaxResponseBytes / (1024 * 1024)} MB.", operation);
            }
            buffer.Write(chunk, 0, read);
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
