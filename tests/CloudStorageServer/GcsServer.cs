using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace WandbLaunch.Tests.CloudStorage;

/// <summary>
/// Google Cloud Storage's JSON API (the part that uploads and deletes objects) and Google's OAuth 2.0 token endpoint,
/// for one service account whose key the server made. The token endpoint (<c>POST /token</c>, the key file's
/// token_uri) takes the JWT-bearer grant, checks the assertion's RS256 signature with the account's public key and
/// its claims (iss, aud, scope, iat/exp), and issues an access token. Storage requests must carry one of those
/// tokens, or a self-signed JWT of the account (checked the same way), as a bearer token (401 otherwise) and name
/// an existing bucket (404). Uploads:
/// <c>POST /upload/storage/v1/b/&lt;bucket&gt;/o?uploadType=resumable</c> (then PUT to the session URI),
/// <c>multipart</c> or <c>media</c>; the object resource answered carries the crc32c and md5Hash the client checks.
/// <c>DELETE /storage/v1/b/&lt;bucket&gt;/o/&lt;object&gt;</c> deletes.
/// </summary>
public sealed class GcsServer : LoopbackServer
{
    private readonly GoogleServiceAccount _account;
    private readonly ConcurrentDictionary<string, bool> _buckets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Bucket, string Name), byte[]> _objects = new();
    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);

    public GcsServer(string project = "ml-project", string account = "launch-agent")
    {
        _account = new GoogleServiceAccount(project, account);
    }

    public string Project => _account.Project;

    public string ClientEmail => _account.ClientEmail;

    public const string StorageScope = "https://www.googleapis.com/auth/devstorage.full_control";

    private sealed class Session(string bucket, string name)
    {
        public string Bucket { get; } = bucket;

        public string Name { get; } = name;

        public MemoryStream Data { get; } = new();
    }

    public void AddBucket(string bucket) => _buckets[bucket] = true;

    public byte[]? Object(string bucket, string name) => _objects.TryGetValue((bucket, name), out var data) ? data : null;

    public IReadOnlyList<(string Bucket, string Name)> Objects => _objects.Keys.ToList();

    /// <summary>Access tokens issued so far.</summary>
    public int TokensIssued => _account.TokensIssued;

    public ConcurrentQueue<string> Rejections { get; } = new();

    /// <summary>The service account's key file, as the IAM console downloads it, with token_uri pointing here.</summary>
    public string ServiceAccountKeyJson(RSA? otherKey = null) => _account.KeyJson(new Uri(Url, "/token"), otherKey);

    private static bool GrantsStorage(IReadOnlyList<string> scopes) =>
        scopes.Any(s => s.StartsWith("https://www.googleapis.com/auth/devstorage.", StringComparison.Ordinal) || s == "https://www.googleapis.com/auth/cloud-platform");

    protected override Task<Reply> HandleAsync(Incoming request)
    {
        // Google's clients gzip JSON request bodies (Content-Encoding: gzip), which the service accepts.
        if (request.Header("Content-Encoding") == "gzip")
        {
            using var gzip = new System.IO.Compression.GZipStream(new MemoryStream(request.Body), System.IO.Compression.CompressionMode.Decompress);
            using var plain = new MemoryStream();
            gzip.CopyTo(plain);
            request = request with { Body = plain.ToArray() };
        }
        try
        {
            if (request.RawPath == "/token" && request.Method == "POST") return Task.FromResult(Token(request));
            Authorize(request);
            var path = request.RawPath;
            if (path.StartsWith("/upload/storage/v1/b/", StringComparison.Ordinal) && path.EndsWith("/o", StringComparison.Ordinal))
            {
                var bucket = Uri.UnescapeDataString(path["/upload/storage/v1/b/".Length..^"/o".Length]);
                RequireBucket(bucket);
                return Task.FromResult(Upload(request, bucket));
            }
            if (path.StartsWith("/storage/v1/b/", StringComparison.Ordinal) && path.Contains("/o/", StringComparison.Ordinal))
            {
                var rest = path["/storage/v1/b/".Length..];
                var bucket = Uri.UnescapeDataString(rest[..rest.IndexOf("/o/", StringComparison.Ordinal)]);
                var name = Uri.UnescapeDataString(rest[(rest.IndexOf("/o/", StringComparison.Ordinal) + 3)..]);
                RequireBucket(bucket);
                if (!_objects.ContainsKey((bucket, name))) throw new GcsError(404, "notFound", $"No such object: {bucket}/{name}");
                switch (request.Method)
                {
                    case "DELETE":
                        _objects.TryRemove((bucket, name), out _);
                        return Task.FromResult(Reply.Empty(204));
                    case "GET":
                        return Task.FromResult(Json(200, Resource(bucket, name, _objects[(bucket, name)])));
                }
            }
            throw new GcsError(404, "notFound", $"Not Found: {request.Method} {path}");
        }
        catch (GcsError e)
        {
            return Task.FromResult(Json(e.Status, new JsonObject
            {
                ["error"] = new JsonObject
                {
                    ["code"] = e.Status,
                    ["message"] = e.Message,
                    ["errors"] = new JsonArray(new JsonObject { ["message"] = e.Message, ["domain"] = "global", ["reason"] = e.Reason }),
                },
            }));
        }
    }

    private sealed class GcsError(int status, string reason, string message) : Exception(message)
    {
        public int Status { get; } = status;

        public string Reason { get; } = reason;
    }

    private static Reply Json(int status, JsonNode body, IReadOnlyDictionary<string, string>? headers = null) =>
        Reply.Text(status, "application/json; charset=UTF-8", body.ToJsonString(), headers);

    private void RequireBucket(string bucket)
    {
        if (!_buckets.ContainsKey(bucket)) throw new GcsError(404, "notFound", "The specified bucket does not exist.");
    }

    // ---- OAuth 2.0

    private Reply Token(Incoming request)
    {
        var answer = _account.Token(request.Body, new Uri(Url, "/token"), GrantsStorage, "The JWT grants no Cloud Storage scope.");
        if (answer.Refusal is not null) Rejections.Enqueue(answer.Refusal);
        return Json(answer.Status, answer.Body);
    }

    /// <summary>A bearer token is an access token this server issued, or a self-signed JWT of the account.</summary>
    private void Authorize(Incoming request)
    {
        var authorization = request.Header("Authorization");
        var token = authorization is not null && authorization.StartsWith("Bearer ", StringComparison.Ordinal) ? authorization[7..] : null;
        if (token is null)
        {
            Rejections.Enqueue("no bearer token");
            throw new GcsError(401, "authError", "Invalid Credentials");
        }
        var accessProblem = _account.AccessTokenProblem(token);
        if (accessProblem is null)
        {
            AcceptedTokens.Enqueue("access token");
            return;
        }
        if (accessProblem == "expired access token")
        {
            Rejections.Enqueue(accessProblem);
            throw new GcsError(401, "authError", "Invalid Credentials");
        }
        if (_account.SelfSignedJwtProblem(token, Url, GrantsStorage) is { } problem)
        {
            Rejections.Enqueue(problem);
            throw new GcsError(401, "authError", "Invalid Credentials");
        }
        AcceptedTokens.Enqueue("self-signed JWT");
    }

    /// <summary>The kinds of bearer tokens accepted, in order: "access token" or "self-signed JWT".</summary>
    public ConcurrentQueue<string> AcceptedTokens { get; } = new();

    // ---- uploads

    private Reply Upload(Incoming request, string bucket)
    {
        var type = request.QueryValue("uploadType");
        var uploadId = request.QueryValue("upload_id");
        if (type == "resumable" && uploadId is not null && request.Method == "PUT") return Continue(request, uploadId);
        if (request.Method != "POST") throw new GcsError(405, "methodNotAllowed", "Method not allowed");
        switch (type)
        {
            case "resumable":
            {
                var metadata = request.Body.Length == 0 ? new JsonObject() : JsonNode.Parse(request.Body) as JsonObject ?? new JsonObject();
                var name = request.QueryValue("name") ?? metadata["name"]?.GetValue<string>() ?? throw new GcsError(400, "required", "Required: object name");
                var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
                _sessions[id] = new Session(bucket, name);
                var location = new Uri(Url, $"/upload/storage/v1/b/{Uri.EscapeDataString(bucket)}/o?uploadType=resumable&upload_id={id}").ToString();
                return Reply.Empty(200, new Dictionary<string, string> { ["Location"] = location, ["X-GUploader-UploadID"] = id });
            }
            case "media":
            {
                var name = request.QueryValue("name") ?? throw new GcsError(400, "required", "Required: name");
                return Store(bucket, name, request.Body);
            }
            case "multipart":
            {
                var (metadata, media) = Multipart(request);
                var name = request.QueryValue("name") ?? metadata["name"]?.GetValue<string>() ?? throw new GcsError(400, "required", "Required: object name");
                return Store(bucket, name, media);
            }
            default:
                throw new GcsError(400, "invalidParameter", $"Invalid uploadType '{type}'");
        }
    }

    private Reply Continue(Incoming request, string uploadId)
    {
        if (!_sessions.TryGetValue(uploadId, out var session)) throw new GcsError(404, "notFound", "No such upload session");
        session.Data.Write(request.Body);
        // Content-Range: bytes first-last/total, or bytes */total; a total of * means more chunks follow.
        var range = request.Header("Content-Range") ?? "";
        var total = range.Contains('/') ? range[(range.LastIndexOf('/') + 1)..] : "";
        if (total == "*" || (long.TryParse(total, out var size) && session.Data.Length < size))
        {
            return Reply.Empty(308, new Dictionary<string, string> { ["Range"] = $"bytes=0-{session.Data.Length - 1}" });
        }
        _sessions.TryRemove(uploadId, out _);
        return Store(session.Bucket, session.Name, session.Data.ToArray());
    }

    private Reply Store(string bucket, string name, byte[] data)
    {
        _objects[(bucket, name)] = data;
        return Json(200, Resource(bucket, name, data));
    }

    private static JsonObject Resource(string bucket, string name, byte[] data)
    {
        var now = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'");
        return new JsonObject
        {
            ["kind"] = "storage#object",
            ["id"] = $"{bucket}/{name}/1",
            ["name"] = name,
            ["bucket"] = bucket,
            ["generation"] = "1",
            ["metageneration"] = "1",
            ["contentType"] = "application/gzip",
            ["size"] = data.Length.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["md5Hash"] = Convert.ToBase64String(MD5.HashData(data)),
            ["crc32c"] = Checksums.Crc32C(data),
            ["timeCreated"] = now,
            ["updated"] = now,
        };
    }

    /// <summary>A multipart/related body: the JSON metadata part, then the media part.</summary>
    private static (JsonObject Metadata, byte[] Media) Multipart(Incoming request)
    {
        var type = request.Header("Content-Type") ?? "";
        var boundary = type.Split(';').Select(p => p.Trim()).FirstOrDefault(p => p.StartsWith("boundary=", StringComparison.Ordinal))?["boundary=".Length..].Trim('"')
                       ?? throw new GcsError(400, "invalid", "multipart/related without a boundary");
        var body = request.Body;
        var delimiter = Encoding.ASCII.GetBytes("--" + boundary);
        var parts = new List<byte[]>();
        var start = IndexOf(body, delimiter, 0);
        while (start >= 0)
        {
            var from = start + delimiter.Length;
            if (from + 1 < body.Length && body[from] == '-' && body[from + 1] == '-') break;
            var next = IndexOf(body, delimiter, from);
            if (next < 0) break;
            parts.Add(body[from..next]);
            start = next;
        }
        if (parts.Count != 2) throw new GcsError(400, "invalid", "multipart/related body must have a metadata part and a media part");
        byte[] Content(byte[] part)
        {
            var split = IndexOf(part, "\r\n\r\n"u8.ToArray(), 0);
            var content = part[(split + 4)..];
            return content.Length >= 2 && content[^2] == '\r' && content[^1] == '\n' ? content[..^2] : content;
        }
        return ((JsonObject)JsonNode.Parse(Content(parts[0]))!, Content(parts[1]));
    }

    private static int IndexOf(byte[] data, byte[] pattern, int from)
    {
        for (var i = from; i <= data.Length - pattern.Length; i++)
        {
            if (data.AsSpan(i, pattern.Length).SequenceEqual(pattern)) return i;
        }
        return -1;
    }
}
