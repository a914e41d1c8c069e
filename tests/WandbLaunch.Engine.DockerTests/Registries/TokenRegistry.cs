using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace WandbLaunch.Engine.DockerTests.Registries;

/// <summary>
/// A loopback stand-in for a registry with token authentication (as Docker Hub, GHCR, Harbor do): every /v2/ call
/// without a valid token gets 401 and <c>WWW-Authenticate: Bearer realm=...,service=...[,scope=...]</c>; the realm
/// (<c>/token</c>) checks basic credentials, the service and the requested scope and issues a token for that scope;
/// manifests are served only with a token whose scope covers pulling their repository. Every request is recorded.
/// </summary>
public sealed class TokenRegistry : IDisposable
{
    public const string Service = "wbl-test-registry";
    private readonly HttpListener _listener = new();
    private readonly ConcurrentDictionary<string, string> _tokens = new();
    private readonly Task _loop;

    public TokenRegistry(string user, string password, IEnumerable<string> tags, IEnumerable<string>? publicRepositories = null)
    {
        User = user;
        Password = password;
        Tags = tags.ToHashSet(StringComparer.Ordinal);
        PublicRepositories = (publicRepositories ?? []).ToHashSet(StringComparer.Ordinal);
        Port = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public string User { get; }

    public string Password { get; }

    /// <summary>repository:tag pairs the registry has.</summary>
    public HashSet<string> Tags { get; }

    /// <summary>Repositories anyone may pull: anonymous token requests get a token for them.</summary>
    public HashSet<string> PublicRepositories { get; }

    public int Port { get; }

    /// <summary>host:port, as an image reference names the registry.</summary>
    public string Host => $"127.0.0.1:{Port}";

    public string Realm => $"http://{Host}/token";

    public ConcurrentQueue<Recorded> Requests { get; } = new();

    public sealed record Recorded(string Method, string Path, IReadOnlyDictionary<string, string> Query, string? Authorization, IReadOnlyList<string> Accept);

    private static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            try
            {
                Handle(context);
            }
            finally
            {
                context.Response.Close();
            }
        }
    }

    private void Handle(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        var query = request.QueryString.AllKeys.Where(k => k is not null).ToDictionary(k => k!, k => request.QueryString[k]!);
        var authorization = request.Headers["Authorization"];
        var accept = (request.Headers.GetValues("Accept") ?? []).SelectMany(a => a.Split(',')).Select(a => a.Trim()).ToList();
        var path = request.Url!.AbsolutePath;
        Requests.Enqueue(new Recorded(request.HttpMethod, path, query, authorization, accept));

        if (path == "/token")
        {
            Token(query, authorization, response);
            return;
        }
        if (path == "/v2/")
        {
            if (TokenScope(authorization) is null)
            {
                Challenge(response, scope: null);
                return;
            }
            response.StatusCode = 200;
            return;
        }
        var manifest = System.Text.RegularExpressions.Regex.Match(path, "^/v2/(.+)/manifests/([^/]+)$");
        if (!manifest.Success || request.HttpMethod is not ("HEAD" or "GET"))
        {
            response.StatusCode = 404;
            return;
        }
        var repository = manifest.Groups[1].Value;
        var pull = $"repository:{repository}:pull";
        if (TokenScope(authorization) is not { } granted || !granted.Split(' ').Contains(pull))
        {
            Challenge(response, pull);
            return;
        }
        if (!Tags.Contains($"{repository}:{manifest.Groups[2].Value}"))
        {
            response.StatusCode = 404;
            return;
        }
        response.StatusCode = 200;
        response.ContentType = "application/vnd.docker.distribution.manifest.v2+json";
        response.Headers["Docker-Content-Digest"] = "sha256:" + new string('0', 64);
    }

    private string? TokenScope(string? authorization) =>
        authorization is { } a && a.StartsWith("Bearer ", StringComparison.Ordinal) && _tokens.TryGetValue(a["Bearer ".Length..], out var scope) ? scope : null;

    private void Challenge(HttpListenerResponse response, string? scope)
    {
        response.StatusCode = 401;
        response.Headers["WWW-Authenticate"] = $"Bearer realm=\"{Realm}\",service=\"{Service}\"" + (scope is null ? "" : $",scope=\"{scope}\"");
        response.ContentType = "application/json";
    }

    private void Token(Dictionary<string, string> query, string? authorization, HttpListenerResponse response)
    {
        if (!query.TryGetValue("service", out var service) || service != Service || !query.TryGetValue("scope", out var scope))
        {
            response.StatusCode = 400;
            return;
        }
        var match = System.Text.RegularExpressions.Regex.Match(scope, "^repository:([a-z0-9._/-]+):pull$");
        if (!match.Success)
        {
            response.StatusCode = 400;
            return;
        }
        var authenticated = authorization == "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}"));
        if (!authenticated && (authorization is not null || !PublicRepositories.Contains(match.Groups[1].Value)))
        {
            response.StatusCode = 401;
            response.Headers["WWW-Authenticate"] = $"Basic realm=\"{Service}\"";
            return;
        }
        var token = Guid.NewGuid().ToString("N");
        _tokens[token] = scope;
        var body = Encoding.UTF8.GetBytes(new JsonObject { ["token"] = token, ["access_token"] = token, ["expires_in"] = 300 }.ToJsonString());
        response.StatusCode = 200;
        response.ContentType = "application/json";
        response.OutputStream.Write(body);
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
    }
}
