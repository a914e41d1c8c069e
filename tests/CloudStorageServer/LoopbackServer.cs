using System.Collections.Concurrent;
using System.Net;
using System.Text;
using WandbLaunch.TestSupport;

namespace WandbLaunch.Tests.CloudStorage;

/// <summary>A request as the server saw it, with the status it answered.</summary>
public sealed record RecordedRequest(string Method, string Path, string Query, IReadOnlyDictionary<string, string> Headers, int Status);

/// <summary>An HTTP server on 127.0.0.1 (a free port), answering each request with <see cref="HandleAsync"/>.</summary>
public abstract class LoopbackServer : IDisposable
{
    private readonly LoopbackHttpListener _http;
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();

    protected LoopbackServer()
    {
        _http = new LoopbackHttpListener(ServeAsync);
    }

    /// <summary>http://127.0.0.1:&lt;port&gt;</summary>
    public Uri Url => _http.Url;

    /// <summary>host:port, as emulator variables name a server.</summary>
    public string HostPort => $"{Url.Host}:{Url.Port}";

    public IReadOnlyList<RecordedRequest> Requests => _requests.ToList();

    private async Task ServeAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        var headers = request.Headers.AllKeys.Where(k => k is not null).ToDictionary(k => k!.ToLowerInvariant(), k => request.Headers[k]!);
        var raw = request.RawUrl ?? "/";
        var path = raw.Split('?')[0];
        var query = raw.Contains('?') ? raw[raw.IndexOf('?')..] : "";
        byte[] body;
        using (var buffer = new MemoryStream())
        {
            await request.InputStream.CopyToAsync(buffer).ConfigureAwait(false);
            body = buffer.ToArray();
        }
        Reply reply;
        try
        {
            reply = await HandleAsync(new Incoming(request.HttpMethod, path, query, headers, body)).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            reply = new Reply(500, "text/plain", Encoding.UTF8.GetBytes(e.ToString()));
        }
        _requests.Enqueue(new RecordedRequest(request.HttpMethod, path, query, headers, reply.Status));
        try
        {
            response.StatusCode = reply.Status;
            foreach (var (name, value) in reply.Headers ?? new Dictionary<string, string>()) response.Headers[name] = value;
            if (reply.ContentType is not null) response.ContentType = reply.ContentType;
            response.ContentLength64 = reply.Body.Length;
            if (reply.Body.Length > 0 && request.HttpMethod != "HEAD") await response.OutputStream.WriteAsync(reply.Body).ConfigureAwait(false);
            response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
        {
        }
    }

    /// <summary>A request: method, raw (still escaped) path and query (with its '?'), headers by lowercase name, body.</summary>
    public sealed record Incoming(string Method, string RawPath, string RawQuery, IReadOnlyDictionary<string, string> Headers, byte[] Body)
    {
        public string? Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out var value) ? value : null;

        /// <summary>The query's parameters, unescaped, in order.</summary>
        public IReadOnlyList<(string Name, string Value)> Query =>
            RawQuery.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
                .Select(p => p.Split('=', 2))
                .Select(p => (Uri.UnescapeDataString(p[0].Replace('+', ' ')), p.Length > 1 ? Uri.UnescapeDataString(p[1].Replace('+', ' ')) : ""))
                .ToList();

        public string? QueryValue(string name) => Query.Where(q => q.Name == name).Select(q => q.Value).FirstOrDefault();
    }

    public sealed record Reply(int Status, string? ContentType, byte[] Body, IReadOnlyDictionary<string, string>? Headers = null)
    {
        public static Reply Text(int status, string contentType, string text, IReadOnlyDictionary<string, string>? headers = null) =>
            new(status, contentType, Encoding.UTF8.GetBytes(text), headers);

        public static Reply Empty(int status, IReadOnlyDictionary<string, string>? headers = null) => new(status, null, [], headers);
    }

    protected abstract Task<Reply> HandleAsync(Incoming request);

    public void Dispose() => _http.Dispose();
}
