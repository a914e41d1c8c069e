using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace WandbLaunch.Engine.Docker;

/// <summary>What to build with BuildKit: the engine API's <c>POST /build?version=2</c> parameters.</summary>
public sealed record BuildKitRequest
{
    public required IReadOnlyList<string> Tags { get; init; }

    /// <summary>The Dockerfile's path inside the context.</summary>
    public required string Dockerfile { get; init; }

    public string? Platform { get; init; }

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>The network build steps run in (<c>default</c>, <c>none</c>, <c>host</c>); null: the engine's default.</summary>
    public string? NetworkMode { get; init; }

    /// <summary>Credentials for pulling base images, by registry host.</summary>
    public IReadOnlyDictionary<string, (string Username, string Password)> Auth { get; init; } = new Dictionary<string, (string, string)>();
}

/// <summary>How a BuildKit build ended: the image id, or the error and the step it happened in.</summary>
public sealed record BuildKitResult(string? ImageId, string? Error, string? FailedStep);

/// <summary>
/// Builds with the engine's BuildKit through its HTTP API, the way <c>docker buildx build --load</c> does against a
/// local engine: the context travels as the request body (no BuildKit session is needed for that), progress comes
/// back as <c>moby.buildkit.trace</c> messages (<see cref="BuildKitTrace"/>). Docker.DotNet has no parameter for
/// the builder version, hence this one request of our own.
/// </summary>
public static class BuildKitBuild
{
    /// <summary>The API version of the request: BuildKit came with 1.39; 1.41 is what every engine since 20.10 speaks.</summary>
    private const string ApiVersion = "v1.41";

    /// <summary>Whether requests can reach <paramref name="endpoint"/> with this client (unix sockets and plain TCP).</summary>
    public static bool CanReach(Uri endpoint) => endpoint.Scheme is "unix" or "tcp" or "http";

    /// <summary>Builds; <paramref name="onStep"/> hears each step that starts (BuildKit's name for it), <paramref name="onOutput"/> each whole line a step prints.</summary>
    public static async Task<BuildKitResult> BuildAsync(Uri endpoint, BuildKitRequest request, Stream context,
        Action<string> onStep, Action<string> onOutput, CancellationToken cancellationToken)
    {
        using var client = CreateClient(endpoint);
        using var message = new HttpRequestMessage(HttpMethod.Post, $"/{ApiVersion}/build?{Query(request)}")
        {
            Content = new StreamContent(context),
        };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-tar");
        if (request.Auth.Count > 0) message.Headers.Add("X-Registry-Config", RegistryConfig(request.Auth));
        using var response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            return new BuildKitResult(null, MessageOf(body) ?? $"HTTP {(int)response.StatusCode}", null);
        }
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        return await ReadAsync(stream, onStep, onOutput, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the engine's answer: JSON lines of trace messages, the image id, or an error.</summary>
    public static async Task<BuildKitResult> ReadAsync(Stream stream, Action<string> onStep, Action<string> onOutput, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        var announced = new HashSet<string>(StringComparer.Ordinal);
        var partial = new Dictionary<string, string>(StringComparer.Ordinal);
        string? imageId = null, error = null, failedStep = null;
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (line.Length == 0) continue;
            JsonObject? item;
            try
            {
                item = JsonNode.Parse(line) as JsonObject;
            }
            catch (JsonException)
            {
                continue;
            }
            if (item is null) continue;
            if (item["error"] is JsonValue e && e.TryGetValue<string>(out var text))
            {
                error = text;
                continue;
            }
            if (item["stream"] is JsonValue s && s.TryGetValue<string>(out var streamText))
            {
                foreach (var l in streamText.Split('\n', StringSplitOptions.RemoveEmptyEntries)) onOutput(l.TrimEnd('\r'));
                continue;
            }
            var id = item["id"] is JsonValue v && v.TryGetValue<string>(out var idText) ? idText : null;
            if (id == "moby.image.id")
            {
                imageId = item["aux"]?["ID"]?.GetValue<string>();
            }
            else if (id == "moby.buildkit.trace" && item["aux"] is JsonValue aux && aux.TryGetValue<string>(out var trace))
            {
                BuildKitTrace.Status status;
                try
                {
                    status = BuildKitTrace.Decode(trace);
                }
                catch (FormatException)
                {
                    continue;
                }
                foreach (var step in status.Steps)
                {
                    if (step.Name.Length > 0) names[step.Digest] = step.Name;
                    if (step.Started && announced.Add(step.Digest) && step.Name.Length > 0) onStep(step.Name);
                    if (step.Error is { } stepError && !stepError.EndsWith("context canceled", StringComparison.Ordinal))
                    {
                        failedStep ??= step.Name;
                    }
                }
                foreach (var log in status.Logs)
                {
                    var text2 = (partial.GetValueOrDefault(log.Digest) ?? "") + Encoding.UTF8.GetString(log.Message);
                    var lines = text2.Split('\n');
                    for (var i = 0; i < lines.Length - 1; i++) onOutput(lines[i].TrimEnd('\r'));
                    partial[log.Digest] = lines[^1];
                }
            }
        }
        foreach (var rest in partial.Values.Where(r => r.Length > 0)) onOutput(rest.TrimEnd('\r'));
        return new BuildKitResult(error is null ? imageId : null, error, error is null ? null : failedStep);
    }

    private static string Query(BuildKitRequest request)
    {
        var query = new List<string> { "version=2", "dockerfile=" + Uri.EscapeDataString(request.Dockerfile), "rm=1", "forcerm=1" };
        query.AddRange(request.Tags.Select(t => "t=" + Uri.EscapeDataString(t)));
        if (request.Platform is { Length: > 0 } platform) query.Add("platform=" + Uri.EscapeDataString(platform));
        if (request.NetworkMode is { Length: > 0 } network) query.Add("networkmode=" + Uri.EscapeDataString(network));
        if (request.Labels.Count > 0) query.Add("labels=" + Uri.EscapeDataString(JsonSerializer.Serialize(request.Labels)));
        return string.Join('&', query);
    }

    /// <summary>The header the Docker CLI sends: URL-safe base64 of a JSON map from registry to credentials.</summary>
    private static string RegistryConfig(IReadOnlyDictionary<string, (string Username, string Password)> auth)
    {
        var map = new JsonObject();
        foreach (var (registry, (username, password)) in auth)
        {
            map[registry] = new JsonObject { ["username"] = username, ["password"] = password, ["serveraddress"] = registry };
        }
        return Convert.ToBase64String(Encoding.UTF8.GetBytes(map.ToJsonString())).Replace('+', '-').Replace('/', '_');
    }

    private static string? MessageOf(string body)
    {
        try
        {
            return JsonNode.Parse(body)?["message"]?.GetValue<string>() ?? body.Trim();
        }
        catch (JsonException)
        {
            return body.Trim();
        }
    }

    private static HttpClient CreateClient(Uri endpoint)
    {
        if (endpoint.Scheme == "unix")
        {
            var socket = endpoint.LocalPath;
            var handler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, cancellationToken) =>
                {
                    var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    try
                    {
                        await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), cancellationToken).ConfigureAwait(false);
                        return new NetworkStream(s, ownsSocket: true);
                    }
                    catch
                    {
                        s.Dispose();
                        throw;
                    }
                },
            };
            return new HttpClient(handler) { BaseAddress = new Uri("http://docker.sock"), Timeout = Timeout.InfiniteTimeSpan };
        }
        var http = new UriBuilder(endpoint) { Scheme = "http" }.Uri;
        return new HttpClient { BaseAddress = http, Timeout = Timeout.InfiniteTimeSpan };
    }
}
