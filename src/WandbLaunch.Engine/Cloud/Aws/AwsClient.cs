using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using Amazon.Runtime;
using Amazon.Runtime.Internal;
using Amazon.Runtime.Internal.Auth;
using Amazon.Runtime.Internal.Util;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Secrets;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Cloud.Aws;

/// <summary>How often and how long an <see cref="AwsClient"/> retries throttled, failing and unanswered requests.</summary>
public sealed record AwsRetryPolicy(int MaxAttempts, TimeSpan BaseDelay, TimeSpan MaxDelay)
{
    /// <summary>As the AWS SDKs' standard mode, a little more patient: 5 attempts, full jitter from 0.5 s doubling to 20 s.</summary>
    public static readonly AwsRetryPolicy Standard = new(5, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(20));

    /// <summary>The wait before attempt <paramref name="attempt"/> + 1: Retry-After when the service sent one (capped), else full jitter.</summary>
    public TimeSpan Delay(int attempt, TimeSpan? retryAfter)
    {
        if (retryAfter is { } after) return after < MaxDelay ? after : MaxDelay;
        var ceiling = Math.Min(MaxDelay.TotalMilliseconds, BaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1));
        return TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * ceiling);
    }
}

/// <summary>
/// A small client for AWS's JSON 1.1 services (SageMaker, ECR) and the query protocol (STS) on AWSSDK.Core: requests
/// signed by the SDK's own SigV4 signer with credentials from <see cref="AwsCredentialSource"/>, sent to the endpoint
/// the AWS SDKs would use (<c>AWS_ENDPOINT_URL_&lt;SERVICE&gt;</c>, then <c>AWS_ENDPOINT_URL</c>, then the
/// service's regional endpoint), retried with capped, jittered back-off on throttling, 5xx and network errors (and
/// <c>Retry-After</c>), errors turned into <see cref="AwsException"/>. One client serves every job of an agent in
/// one region; it is safe to share between threads.
/// </summary>
public sealed class AwsClient : IDisposable
{
    private const string Source = "aws";
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(60);
    private const int MaxAnswerBytes = 16 << 20;

    private readonly HttpClient _http;
    private readonly AwsCredentialSource _credentials;
    private readonly Func<string, string?> _environment;
    private readonly Dictionary<string, (Uri Endpoint, bool Configured)> _endpoints = new(StringComparer.Ordinal);
    private readonly Dictionary<string, EndpointConfig> _signingConfigs = new(StringComparer.Ordinal);

    public AwsClient(string region, AwsCredentialSource credentials, Func<string, string?> environment, AwsRetryPolicy? retry = null, HttpMessageHandler? handler = null)
    {
        Region = region;
        _credentials = credentials;
        _environment = environment;
        Retry = retry ?? AwsRetryPolicy.Standard;
        _http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        _http.Timeout = RequestTimeout;
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("WandbLaunch/" + (typeof(AwsClient).Assembly.GetName().Version?.ToString(3) ?? "0"));
    }

    public string Region { get; }

    public AwsRetryPolicy Retry { get; }

    public AwsCredentialSource Credentials => _credentials;

    /// <summary>
    /// The endpoint for <paramref name="service"/>. The agent's environment is read first, by the AWS SDKs' rules
    /// (<c>AWS_IGNORE_CONFIGURED_ENDPOINT_URLS</c>, the service's variable, the global one); then the SDK's own
    /// resolution (the process environment and <c>endpoint_url</c> in the shared config file's profile or services
    /// section); then the regional endpoint in the region's partition (<c>amazonaws.com</c>, <c>amazonaws.com.cn</c>...).
    /// </summary>
    public Uri EndpointFor(AwsService service)
    {
        lock (_endpoints)
        {
            if (!_endpoints.TryGetValue(service.ServiceId, out var resolved))
            {
                resolved = Resolve(service);
                _endpoints[service.ServiceId] = resolved;
                EngineLog.Verbose(Source, () => $"{service} in {Region}: {resolved.Endpoint}{(resolved.Configured ? " (configured endpoint)" : "")}");
            }
            return resolved.Endpoint;
        }
    }

    private (Uri, bool) Resolve(AwsService service)
    {
        string? Value(string name) => _environment(name) is { Length: > 0 } v ? v.Trim() : null;
        var ignore = string.Equals(Value("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true", StringComparison.OrdinalIgnoreCase);
        if (!ignore && (Value(service.EndpointVariable) ?? Value("AWS_ENDPOINT_URL")) is { } configured) return (Checked(configured, service), true);
        var config = new EndpointConfig(service) { IgnoreConfiguredEndpointUrls = ignore };
        if (!ignore && config.ServiceURL is { Length: > 0 } fromSdk) return (Checked(fromSdk, service), true);
        var suffix = Amazon.RegionEndpoint.GetBySystemName(Region).PartitionDnsSuffix ?? "amazonaws.com";
        return (new Uri($"https://{service.EndpointPrefix}.{Region}.{suffix}/"), false);
    }

    private static Uri Checked(string url, AwsService service) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri
            : throw Errors.LaunchException.Invalid("InvalidAwsEndpoint",
                $"The endpoint for AWS {service} is {Printable.Quote(url)} ({service.EndpointVariable} or AWS_ENDPOINT_URL); it must be an http(s) URL such as https://localhost:4566.", url);

    /// <summary>Calls a JSON 1.1 operation (<c>X-Amz-Target: &lt;prefix&gt;.&lt;operation&gt;</c>) and returns its answer.</summary>
    public async Task<JsonObject> CallJsonAsync(AwsService service, string operation, JsonObject body, CancellationToken cancellationToken)
    {
        var payload = Encoding.UTF8.GetBytes(body.ToJsonString());
        var answer = await SendAsync(service, operation, payload, "application/x-amz-json-1.1",
            headers => headers["X-Amz-Target"] = $"{service.JsonTargetPrefix}.{operation}", cancellationToken).ConfigureAwait(false);
        if (answer.Length == 0) return new JsonObject();
        try
        {
            return JsonNode.Parse(answer) as JsonObject ?? throw new JsonException("not an object");
        }
        catch (JsonException e)
        {
            throw Malformed(service, operation, e.Message);
        }
    }

    /// <summary>Calls a query-protocol operation (form-encoded POST) and returns the XML answer's root.</summary>
    public async Task<XElement> CallQueryAsync(AwsService service, string action, IReadOnlyList<KeyValuePair<string, string>> parameters, CancellationToken cancellationToken)
    {
        var form = new List<KeyValuePair<string, string>> { new("Action", action), new("Version", service.QueryVersion!) };
        form.AddRange(parameters);
        var payload = Encoding.UTF8.GetBytes(string.Join('&', form.Select(p => $"{Uri.EscapeDataString(p.Key)}={Uri.EscapeDataString(p.Value)}")));
        var answer = await SendAsync(service, action, payload, "application/x-www-form-urlencoded; charset=utf-8", _ => { }, cancellationToken).ConfigureAwait(false);
        try
        {
            return XDocument.Parse(Encoding.UTF8.GetString(answer)).Root ?? throw new System.Xml.XmlException("empty");
        }
        catch (System.Xml.XmlException e)
        {
            throw Malformed(service, action, e.Message);
        }
    }

    private static AwsException Malformed(AwsService service, string operation, string why) =>
        new("AwsMalformedAnswer", Errors.LaunchErrorCategory.InvalidData, $"AWS {service} {operation} answered something that is not its protocol's answer: {why}",
            service, operation, null, null, HttpStatusCode.OK, null);

    private async Task<byte[]> SendAsync(AwsService service, string operation, byte[] payload, string contentType, Action<IDictionary<string, string>> addHeaders,
        CancellationToken cancellationToken)
    {
        var endpoint = EndpointFor(service);
        for (var attempt = 1; ; attempt++)
        {
            AwsException failure;
            TimeSpan? retryAfter = null;
            var credentials = await _credentials.GetAsync(cancellationToken).ConfigureAwait(false);
            using var request = Sign(service, endpoint, payload, contentType, addHeaders, credentials);
            var clock = Stopwatch.StartNew();
            try
            {
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
                var answer = await ReadCappedAsync(response.Content, cancellationToken).ConfigureAwait(false);
                EngineLog.Debug(Source, () => $"{service} {operation} → {(int)response.StatusCode} in {clock.ElapsedMilliseconds} ms");
                if (response.IsSuccessStatusCode) return answer;
                var (code, message) = service.QueryVersion is null ? JsonError(response, answer) : QueryError(answer);
                var requestId = response.Headers.TryGetValues("x-amzn-RequestId", out var ids) ? ids.FirstOrDefault() : null;
                var redactor = SecretRedactor.Of([credentials.SecretKey, credentials.Token]);
                failure = AwsException.FromAnswer(service, operation, response.StatusCode, code, redactor.RedactOrNull(message), requestId, _credentials.Description);
                retryAfter = RetryAfter(response);
            }
            catch (HttpRequestException e)
            {
                failure = AwsException.Unreachable(service, operation, endpoint, e);
            }
            catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                failure = AwsException.Unreachable(service, operation, endpoint, new TimeoutException($"no answer within {RequestTimeout.TotalSeconds:0} s", e));
            }
            if (!failure.IsTransient || attempt >= Retry.MaxAttempts) throw failure;
            var delay = Retry.Delay(attempt, retryAfter);
            EngineLog.Verbose(Source, () => $"{service} {operation}: {failure.Code ?? failure.InnerException?.Message ?? "no answer"}; attempt {attempt + 1} of {Retry.MaxAttempts} in {delay.TotalSeconds:0.0} s");
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
        }
    }

    private HttpRequestMessage Sign(AwsService service, Uri endpoint, byte[] payload, string contentType, Action<IDictionary<string, string>> addHeaders, ImmutableCredentials credentials)
    {
        EndpointConfig config;
        lock (_signingConfigs)
        {
            if (!_signingConfigs.TryGetValue(service.ServiceId, out config!))
            {
                config = new EndpointConfig(service) { AuthenticationRegion = Region };
                _signingConfigs[service.ServiceId] = config;
            }
        }
        var unsigned = new DefaultRequest(new NoRequest(), service.ServiceId)
        {
            HttpMethod = "POST",
            Endpoint = endpoint,
            ResourcePath = endpoint.AbsolutePath is { Length: > 1 } path ? path : "/",
            Content = payload,
            AuthenticationRegion = Region,
        };
        unsigned.Headers["Content-Type"] = contentType;
        addHeaders(unsigned.Headers);
        // The signer signs what the request carries; a session token must be on it (and is signed with it).
        if (credentials.UseToken) unsigned.Headers["X-Amz-Security-Token"] = credentials.Token;
        new AWS4Signer().Sign(unsigned, config, new RequestMetrics(), new BasicAWSCredentials(credentials.AccessKey, credentials.SecretKey));

        var message = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new ByteArrayContent(payload) };
        foreach (var (name, value) in unsigned.Headers)
        {
            if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase)) message.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(value);
            else if (name.Equals("Host", StringComparison.OrdinalIgnoreCase)) continue; // HttpClient sends the same host[:port] from the URI.
            else message.Headers.TryAddWithoutValidation(name, value);
        }
        return message;
    }

    private static async Task<byte[]> ReadCappedAsync(HttpContent content, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > MaxAnswerBytes) throw new HttpRequestException($"the answer is larger than {MaxAnswerBytes >> 20} MB");
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    /// <summary>A JSON protocol error: <c>__type</c> (maybe <c>namespace#Code</c>) or the x-amzn-ErrorType header, and <c>message</c>/<c>Message</c>.</summary>
    private static (string? Code, string? Message) JsonError(HttpResponseMessage response, byte[] answer)
    {
        string? code = response.Headers.TryGetValues("x-amzn-ErrorType", out var types) ? types.FirstOrDefault() : null;
        string? message = null;
        try
        {
            if (answer.Length > 0 && JsonNode.Parse(answer) is JsonObject error)
            {
                code = Text(error["__type"]) ?? Text(error["code"]) ?? code;
                message = Text(error["message"]) ?? Text(error["Message"]) ?? Text(error["errorMessage"]);
            }
        }
        catch (JsonException)
        {
            message = Encoding.UTF8.GetString(answer, 0, Math.Min(answer.Length, 500));
        }
        if (code is not null)
        {
            code = code.Split(':')[0];
            if (code.LastIndexOf('#') is var hash and >= 0) code = code[(hash + 1)..];
        }
        return (code, message);

        static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
    }

    private static (string? Code, string? Message) QueryError(byte[] answer)
    {
        try
        {
            var root = XDocument.Parse(Encoding.UTF8.GetString(answer)).Root;
            var error = root?.Descendants().FirstOrDefault(e => e.Name.LocalName == "Error");
            return (error?.Elements().FirstOrDefault(e => e.Name.LocalName == "Code")?.Value, error?.Elements().FirstOrDefault(e => e.Name.LocalName == "Message")?.Value);
        }
        catch (System.Xml.XmlException)
        {
            return (null, Encoding.UTF8.GetString(answer, 0, Math.Min(answer.Length, 500)));
        }
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        if (response.Headers.RetryAfter is { } after)
        {
            if (after.Delta is { } delta) return delta;
            if (after.Date is { } date) return date - DateTimeOffset.UtcNow is var wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }
        return response.Headers.TryGetValues("Retry-After", out var values) && double.TryParse(values.FirstOrDefault(), NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds)
            ? TimeSpan.FromSeconds(seconds)
            : null;
    }

    public void Dispose() => _http.Dispose();

    /// <summary>
    /// The SDK's client configuration for one service: its service id lets the SDK resolve configured endpoints,
    /// and the signer reads the signing name and region from it.
    /// </summary>
    private sealed class EndpointConfig : ClientConfig
    {
        private readonly AwsService _service;

        public EndpointConfig(AwsService service)
            : base(new DefaultConfigurationProvider([new DefaultConfiguration { Name = DefaultConfigurationMode.Standard, RetryMode = RequestRetryMode.Standard }]))
        {
            _service = service;
            ServiceId = service.ServiceId;
            AuthenticationServiceName = service.SigningName;
        }

        public override string RegionEndpointServiceName => _service.SigningName;

        public override string ServiceVersion => _service.QueryVersion ?? "";

        public override string UserAgent => "WandbLaunch";

        public override Amazon.Runtime.Endpoints.Endpoint DetermineServiceOperationEndpoint(Amazon.Runtime.Endpoints.ServiceOperationEndpointParameters parameters) =>
            throw new NotSupportedException("WandbLaunch resolves AWS endpoints itself.");
    }

    private sealed class NoRequest : AmazonWebServiceRequest;
}
