using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Storage.Wandb;

/// <summary>
/// W&amp;B's GraphQL endpoint, <c>POST &lt;base&gt;/graphql</c> with Basic <c>api:&lt;key&gt;</c>: one HttpClient per
/// connection, a timeout per request, retries (see <see cref="WandbRetryPolicy"/>) on 429, 5xx, timeouts and network
/// errors, none on other 4xx. A 200 answer with <c>errors</c> is an error too. Every message and diagnostic is passed
/// through the key's redactor (a server may echo what it was sent); the Authorization header is never logged.
/// </summary>
public sealed class WandbGraphQLClient : IDisposable
{
    /// <summary>W&amp;B's own clients wait 20 s for an answer (HTTP_TIMEOUT).</summary>
    public static readonly TimeSpan DefaultRequestTimeout = TimeSpan.FromSeconds(20);

    /// <summary>Answers larger than this are refused: a queue's item list is a few MB at most.</summary>
    public const int MaxResponseBytes = 64 << 20;

    private const int MaxMessageChars = 1000;
    private const string Source = "wandb";

    private readonly HttpClient _http;
    private readonly Lazy<HttpClient> _unauthenticated;
    private readonly Uri _endpoint;
    private readonly Secrets.SecretRedactor _redactor;
    private readonly TimeSpan _requestTimeout;

    public WandbGraphQLClient(Uri baseUrl, WandbApiKey key, TimeSpan? requestTimeout = null)
    {
        _endpoint = new Uri(baseUrl.ToString().TrimEnd('/') + "/graphql");
        var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes("api:" + key.Reveal()));
        // A server may echo the key or the whole credential it was sent.
        _redactor = key.Redactor.With(basic);
        _requestTimeout = requestTimeout ?? DefaultRequestTimeout;
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), AllowAutoRedirect = false })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", basic);
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("WandbLaunch", ModuleVersion));
        _http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        // Upload and download URLs are signed (a bucket's, on wandb.ai): as the SDK does, they get no Authorization header.
        _unauthenticated = new Lazy<HttpClient>(() => new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = Timeout.InfiniteTimeSpan });
    }

    /// <summary>The module's version, as the User-Agent names it.</summary>
    public static string ModuleVersion { get; } =
        typeof(WandbGraphQLClient).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? typeof(WandbGraphQLClient).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <summary>The GraphQL endpoint.</summary>
    public Uri Endpoint => _endpoint;

    /// <summary>
    /// Runs one GraphQL operation and returns its <c>data</c>. <paramref name="operation"/> names it in messages and
    /// diagnostics (the SDK's operation name, e.g. <c>popFromRunQueue</c>).
    /// </summary>
    public async Task<JsonObject> ExecuteAsync(string operation, string query, JsonObject? variables, WandbRetryPolicy retry, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["query"] = query, ["variables"] = variables ?? new JsonObject() }.ToJsonString();
        var clock = Stopwatch.StartNew();
        for (var attempt = 1; ; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var outcome = await SendOnceAsync(operation, body, cancellationToken).ConfigureAwait(false);
            if (outcome.Data is { } data) return data;
            var failure = outcome.Failure!;
            if (!outcome.Retryable) throw failure;
            var wait = retry.Delay(attempt, Random.Shared);
            if (outcome.RetryAfter is { } after && after > wait) wait = after;
            if (clock.Elapsed + wait > retry.Budget)
            {
                EngineLog.Verbose(Source, () => $"{operation}: giving up after {attempt} attempt(s) in {clock.Elapsed.TotalSeconds:0.#} s: {failure.Message}");
                throw failure;
            }
            EngineLog.Verbose(Source, () => $"{operation}: attempt {attempt} failed ({failure.Message}); retrying in {wait.TotalSeconds:0.##} s");
            await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One attempt's data or failure; the failure's <see cref="LaunchException.IsTransient"/> says whether to try again.</summary>
    private sealed record Outcome(JsonObject? Data, LaunchException? Failure, TimeSpan? RetryAfter = null)
    {
        public bool Retryable => Failure is { IsTransient: true };
    }

    private async Task<Outcome> SendOnceAsync(string operation, string body, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_requestTimeout);
        var started = Stopwatch.StartNew();
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, _endpoint) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            var text = await ReadCappedAsync(response.Content, timeout.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            EngineLog.Debug(Source, () => $"POST {_endpoint.AbsolutePath} {operation} -> {status} in {started.ElapsedMilliseconds} ms");
            return Interpret(operation, status, text, RetryAfter(response));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            EngineLog.Debug(Source, () => $"POST {_endpoint.AbsolutePath} {operation} -> no answer in {_requestTimeout.TotalSeconds:0.#} s");
            return new Outcome(null, new WandbUnreachableException(_endpoint.ToString(),
                $"The W&B server at {_endpoint} did not answer {operation} within {_requestTimeout.TotalSeconds:0.#} s."));
        }
        catch (HttpRequestException e)
        {
            EngineLog.Debug(Source, () => $"POST {_endpoint.AbsolutePath} {operation} -> network error in {started.ElapsedMilliseconds} ms");
            return new Outcome(null, new WandbUnreachableException(_endpoint.ToString(),
                $"Cannot reach the W&B server at {_endpoint} ({operation}): {Clean(e.Message)}", e));
        }
        catch (ResponseTooLargeException)
        {
            return new Outcome(null, new WandbServerException(operation, 200, $"The W&B server's answer to {operation} is larger than {MaxResponseBytes >> 20} MB."));
        }
    }

    private Outcome Interpret(string operation, int status, string text, TimeSpan? retryAfter)
    {
        if (status is 401 or 403)
        {
            var why = status == 401 ? "refused the API key" : "does not allow this API key to do that";
            return new Outcome(null, new WandbAuthException(operation, status,
                $"The W&B server at {_endpoint.GetLeftPart(UriPartial.Authority)} {why} ({operation}, HTTP {status}{ServerSays(text)}). Check WANDB_API_KEY, or run Connect-WandbLaunch -ApiKey with a valid key.")
            {
                RecommendedAction = "Check WANDB_API_KEY / Connect-WandbLaunch -ApiKey (get a key at <server>/authorize).",
            });
        }
        if (status == 429 || status >= 500)
        {
            return new Outcome(null, new WandbServerException(operation, status,
                $"The W&B server answered {operation} with HTTP {status}{ServerSays(text)}."), retryAfter);
        }
        if (status is < 200 or >= 300)
        {
            return new Outcome(null, new WandbServerException(operation, status,
                $"The W&B server refused {operation} with HTTP {status}{ServerSays(text)}."));
        }
        JsonObject? root;
        try
        {
            root = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { MaxDepth = 64 }) as JsonObject;
        }
        catch (JsonException)
        {
            root = null;
        }
        if (root is null)
        {
            return new Outcome(null, new WandbServerException(operation, status, $"The W&B server's answer to {operation} is not GraphQL JSON."));
        }
        if (Errors(root) is { } errors)
        {
            return new Outcome(null, new WandbServerException(operation, status, $"The W&B server refused {operation}: {errors}"));
        }
        if (root["data"] is not JsonObject data)
        {
            return new Outcome(null, new WandbServerException(operation, status, $"The W&B server's answer to {operation} has no data."));
        }
        return new Outcome(data, null);
    }

    /// <summary>The messages of a GraphQL <c>errors</c> array, or null when there are none.</summary>
    private string? Errors(JsonObject root)
    {
        if (root["errors"] is not JsonArray { Count: > 0 } errors) return null;
        var messages = errors.Select(e => e is JsonObject o && o["message"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : e?.ToJsonString() ?? "null");
        return Clean(string.Join("; ", messages));
    }

    private string ServerSays(string text)
    {
        string? message = null;
        try
        {
            if (JsonNode.Parse(text) is JsonObject root) message = Errors(root) ?? (root["error"] as JsonValue)?.ToString();
        }
        catch (JsonException)
        {
        }
        message ??= text.Length > 0 && text.Length <= 300 && !text.Contains('<') ? Clean(text) : null;
        return message is null ? "" : $": {message}";
    }

    /// <summary>A server's text as it may appear in a message: secrets masked, controls escaped, length capped.</summary>
    private string Clean(string text)
    {
        var clean = Printable.Escape(_redactor.Redact(text.Trim()));
        return clean.Length > MaxMessageChars ? clean[..MaxMessageChars] + "…" : clean;
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta) return delta;
        if (header?.Date is { } date) return date - DateTimeOffset.UtcNow is var wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        return null;
    }

    private static async Task<string> ReadCappedAsync(HttpContent content, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength > MaxResponseBytes) throw new ResponseTooLargeException();
        await using var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > MaxResponseBytes) throw new ResponseTooLargeException();
            buffer.Write(chunk, 0, read);
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private sealed class ResponseTooLargeException : Exception;

    /// <summary>
    /// PUTs a run file to the upload URL <c>createRunFiles</c> gave, with its <c>uploadHeaders</c> ("Name:Value"),
    /// once: a file the agent fails to upload is reported, and the item fails without it, as with W&amp;B's agent.
    /// </summary>
    public Task UploadAsync(Uri url, byte[] content, IEnumerable<string> headers, CancellationToken cancellationToken) =>
        UploadAsync(url, new ByteArrayContent(content), headers, "a run file", cancellationToken);

    /// <summary>
    /// PUTs <paramref name="content"/> to a signed upload URL with the headers the server gave ("Name:Value"), without
    /// the Authorization header (the URL may be a bucket's, on another host). <paramref name="what"/> names the upload in messages.
    /// </summary>
    public async Task UploadAsync(Uri url, HttpContent content, IEnumerable<string> headers, string what, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, url) { Content = content };
        foreach (var header in headers)
        {
            var colon = header.IndexOf(':');
            if (colon <= 0) continue;
            var (name, value) = (header[..colon].Trim(), header[(colon + 1)..].Trim());
            if (!request.Headers.TryAddWithoutValidation(name, value)) request.Content.Headers.TryAddWithoutValidation(name, value);
        }
        var host = url.GetLeftPart(UriPartial.Authority);
        var started = Stopwatch.StartNew();
        // The request timeout, plus a second per 256 KB: a large file is not cut off, a stalled upload is.
        var allowed = _requestTimeout + TimeSpan.FromSeconds((content.Headers.ContentLength ?? 0) / (256.0 * 1024));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(allowed);
        try
        {
            using var response = await _unauthenticated.Value.SendAsync(request, timeout.Token).ConfigureAwait(false);
            EngineLog.Debug(Source, () => $"PUT {Printable.Quote(url.GetLeftPart(UriPartial.Path))} -> {(int)response.StatusCode} in {started.ElapsedMilliseconds} ms");
            if (!response.IsSuccessStatusCode)
            {
                throw new WandbServerException("upload", (int)response.StatusCode, $"{host} refused {what}'s upload with HTTP {(int)response.StatusCode}.");
            }
        }
        catch (HttpRequestException e)
        {
            throw new WandbUnreachableException(host, $"Cannot upload {what} to {host}: {Clean(e.Message)}", e);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new WandbUnreachableException(host, $"{UpperFirst(what)}'s upload to {host} did not finish within {allowed.TotalSeconds:0.#} s.");
        }
    }

    /// <summary>
    /// GETs a signed download URL (a manifest's or a file's <c>directUrl</c>) without the Authorization header, as
    /// the SDK does: the URL may lead to another host, which must never see the key. The answer is refused when it
    /// says, or turns out, to be longer than <paramref name="maxBytes"/>; the stream fails with
    /// <c>ArtifactDownloadTooLarge</c> at the first byte past it. The caller disposes the stream.
    /// </summary>
    public async Task<Stream> DownloadAsync(Uri url, long maxBytes, string what, CancellationToken cancellationToken)
    {
        var host = url.GetLeftPart(UriPartial.Authority);
        var started = Stopwatch.StartNew();
        HttpResponseMessage? response = null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_requestTimeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            response = await _unauthenticated.Value.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            EngineLog.Debug(Source, () => $"GET {Printable.Quote(url.GetLeftPart(UriPartial.Path))} -> {(int)response.StatusCode} in {started.ElapsedMilliseconds} ms");
            if (!response.IsSuccessStatusCode)
            {
                var status = (int)response.StatusCode;
                throw status == 404
                    ? new WandbServerException("download", status, $"{host} has no {what} (HTTP 404).")
                    : new WandbServerException("download", status, $"{host} refused the download of {what} with HTTP {status}.");
            }
            if (response.Content.Headers.ContentLength is { } length && length > maxBytes)
            {
                throw TooLarge(what, host, maxBytes);
            }
            var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            var bounded = new BoundedReadStream(body, maxBytes, response, () => TooLarge(what, host, maxBytes), _requestTimeout,
                () => new WandbUnreachableException(host, $"The download of {what} from {host} stalled: nothing arrived for {_requestTimeout.TotalSeconds:0.#} s."));
            response = null;
            return bounded;
        }
        catch (HttpRequestException e)
        {
            throw new WandbUnreachableException(host, $"Cannot download {what} from {host}: {Clean(e.Message)}", e);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new WandbUnreachableException(host, $"The download of {what} from {host} did not start within {_requestTimeout.TotalSeconds:0.#} s.");
        }
        finally
        {
            response?.Dispose();
        }
    }

    private static LaunchException TooLarge(string what, string host, long maxBytes) =>
        LaunchException.InvalidData("ArtifactDownloadTooLarge", $"{UpperFirst(what)} from {host} is larger than the {maxBytes} bytes its manifest promises; the download is refused.", host);

    private static string UpperFirst(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];

    public void Dispose()
    {
        _http.Dispose();
        if (_unauthenticated.IsValueCreated) _unauthenticated.Value.Dispose();
    }
}
