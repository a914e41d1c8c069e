using System.Collections.Concurrent;
using System.Globalization;
using System.Security;
using System.Security.Cryptography;
using System.Text;

namespace WandbLaunch.Tests.CloudStorage;

/// <summary>
/// Azure Blob Storage for one account, addressed as the storage emulator is
/// (<c>http://127.0.0.1:&lt;port&gt;/&lt;account&gt;/&lt;container&gt;/&lt;blob&gt;</c>; a connection string's BlobEndpoint
/// points at <see cref="BlobEndpoint"/>): Put Blob (BlockBlob), Get Blob and Delete Blob. Every request must carry
/// <c>Authorization: SharedKey &lt;account&gt;:&lt;signature&gt;</c>, which the server recomputes as Azure does: the
/// string to sign (verb, the standard headers, the sorted x-ms-* headers, the canonicalized resource with its query)
/// signed with HMAC-SHA256 under the account key. A mismatch is answered 403 AuthenticationFailed; an x-ms-date more
/// than 15 minutes off is refused too; a missing container is 404 ContainerNotFound.
/// </summary>
public sealed class AzureBlobServer : LoopbackServer
{
    private readonly ConcurrentDictionary<string, bool> _containers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Container, string Blob), byte[]> _blobs = new();

    public AzureBlobServer(string account = "mllaunchstore")
    {
        Account = account;
        Key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(64));
    }

    public string Account { get; }

    /// <summary>The account key (base64), as the portal shows it.</summary>
    public string Key { get; }

    public string BlobEndpoint => new Uri(Url, "/" + Account).ToString();

    /// <summary>A connection string for this account pointing at this server.</summary>
    public string ConnectionString(string? key = null) =>
        $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={key ?? Key};BlobEndpoint={BlobEndpoint};";

    public void AddContainer(string container) => _containers[container] = true;

    public byte[]? Blob(string container, string blob) => _blobs.TryGetValue((container, blob), out var data) ? data : null;

    public IReadOnlyList<(string Container, string Blob)> Blobs => _blobs.Keys.ToList();

    public ConcurrentQueue<string> Rejections { get; } = new();

    protected override Task<Reply> HandleAsync(Incoming request)
    {
        var id = Guid.NewGuid().ToString();
        var headers = new Dictionary<string, string> { ["x-ms-request-id"] = id, ["x-ms-version"] = request.Header("x-ms-version") ?? "2025-01-05" };
        if (request.Header("x-ms-client-request-id") is { } clientId) headers["x-ms-client-request-id"] = clientId;
        try
        {
            var segments = request.RawPath.TrimStart('/').Split('/', 3);
            if (segments.Length < 1 || segments[0] != Account) throw new BlobError(400, "InvalidUri", "The requested URI does not represent any resource on the server.");
            Authenticate(request);
            if (segments.Length < 3) throw new BlobError(400, "InvalidUri", "Only blob operations are served here.");
            var container = Uri.UnescapeDataString(segments[1]);
            var blob = Uri.UnescapeDataString(segments[2]);
            if (!_containers.ContainsKey(container)) throw new BlobError(404, "ContainerNotFound", "The specified container does not exist.");
            switch (request.Method)
            {
                case "PUT":
                    if (request.Header("x-ms-blob-type") != "BlockBlob")
                    {
                        throw new BlobError(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified. (x-ms-blob-type: BlockBlob)");
                    }
                    if (request.Header("Content-MD5") is { } md5 && md5 != Convert.ToBase64String(MD5.HashData(request.Body)))
                    {
                        throw new BlobError(400, "Md5Mismatch", "The MD5 value specified in the request did not match with the MD5 value calculated by the server.");
                    }
                    _blobs[(container, blob)] = request.Body;
                    headers["ETag"] = $"\"0x{DateTime.UtcNow.Ticks:X}\"";
                    headers["Last-Modified"] = DateTime.UtcNow.ToString("R", CultureInfo.InvariantCulture);
                    headers["Content-MD5"] = Convert.ToBase64String(MD5.HashData(request.Body));
                    headers["x-ms-request-server-encrypted"] = "true";
                    return Task.FromResult(Reply.Empty(201, headers));
                case "GET":
                    if (!_blobs.TryGetValue((container, blob), out var data)) throw new BlobError(404, "BlobNotFound", "The specified blob does not exist.");
                    return Task.FromResult(new Reply(200, "application/octet-stream", data, headers));
                case "DELETE":
                    if (!_blobs.TryRemove((container, blob), out _)) throw new BlobError(404, "BlobNotFound", "The specified blob does not exist.");
                    headers["x-ms-delete-type-permanent"] = "true";
                    return Task.FromResult(Reply.Empty(202, headers));
                default:
                    throw new BlobError(405, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb.");
            }
        }
        catch (BlobError e)
        {
            headers["x-ms-error-code"] = e.Code;
            var detail = e.Detail is null ? "" : $"<AuthenticationErrorDetail>{SecurityElement.Escape(e.Detail)}</AuthenticationErrorDetail>";
            var xml = $"\uFEFF<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{e.Code}</Code><Message>{SecurityElement.Escape(e.Message)}\nRequestId:{id}\nTime:{DateTime.UtcNow:O}</Message>{detail}</Error>";
            return Task.FromResult(Reply.Text(e.Status, "application/xml", xml, headers));
        }
    }

    private sealed class BlobError(int status, string code, string message, string? detail = null) : Exception(message)
    {
        public int Status { get; } = status;

        public string Code { get; } = code;

        public string? Detail { get; } = detail;
    }

    private void Authenticate(Incoming request)
    {
        const string failed = "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.";
        var authorization = request.Header("Authorization");
        var prefix = $"SharedKey {Account}:";
        if (authorization is null || !authorization.StartsWith(prefix, StringComparison.Ordinal))
        {
            Rejections.Enqueue(authorization is null ? "no Authorization header" : "not a SharedKey authorization for this account");
            throw new BlobError(403, "AuthenticationFailed", failed, "The Authorization header is missing or not SharedKey for this account.");
        }
        var date = request.Header("x-ms-date") ?? request.Header("Date");
        if (date is null || !DateTime.TryParse(date, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var when) ||
            Math.Abs((DateTime.UtcNow - when).TotalMinutes) > 15)
        {
            Rejections.Enqueue("bad or skewed date");
            throw new BlobError(403, "AuthenticationFailed", failed, "Request date header not specified or too far from the server's time.");
        }
        var stringToSign = StringToSign(request);
        var expected = Convert.ToBase64String(HMACSHA256.HashData(Convert.FromBase64String(Key), Encoding.UTF8.GetBytes(stringToSign)));
        var provided = authorization[prefix.Length..];
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(provided)))
        {
            Rejections.Enqueue("signature mismatch");
            throw new BlobError(403, "AuthenticationFailed", failed,
                $"The MAC signature found in the HTTP request '{provided}' is not the same as any computed signature. Server used following string to sign: '{stringToSign}'.");
        }
    }

    /// <summary>The Shared Key string to sign (version 2009-09-19 and later).</summary>
    private string StringToSign(Incoming request)
    {
        string H(string name) => request.Header(name) ?? "";
        var length = H("Content-Length");
        var builder = new StringBuilder();
        builder.Append(request.Method.ToUpperInvariant()).Append('\n')
            .Append(H("Content-Encoding")).Append('\n')
            .Append(H("Content-Language")).Append('\n')
            .Append(length == "0" ? "" : length).Append('\n')
            .Append(H("Content-MD5")).Append('\n')
            .Append(H("Content-Type")).Append('\n')
            .Append(request.Header("x-ms-date") is null ? H("Date") : "").Append('\n')
            .Append(H("If-Modified-Since")).Append('\n')
            .Append(H("If-Match")).Append('\n')
            .Append(H("If-None-Match")).Append('\n')
            .Append(H("If-Unmodified-Since")).Append('\n')
            .Append(H("Range")).Append('\n');
        foreach (var (name, value) in request.Headers.Where(h => h.Key.StartsWith("x-ms-", StringComparison.Ordinal)).OrderBy(h => h.Key, StringComparer.Ordinal))
        {
            builder.Append(name).Append(':').Append(value).Append('\n');
        }
        builder.Append('/').Append(Account).Append(request.RawPath);
        foreach (var group in request.Query.GroupBy(q => q.Name.ToLowerInvariant()).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            builder.Append('\n').Append(group.Key).Append(':').Append(string.Join(',', group.Select(q => q.Value).OrderBy(v => v, StringComparer.Ordinal)));
        }
        return builder.ToString();
    }
}
