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
    private readonly RSA _key = RSA.Create(2048);
    private readonly ConcurrentDictionary<string, DateTime> _tokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _buckets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Bucket, string Name), byte[]> _objects = new();
    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);

    public GcsServer(string project = "ml-project", string account = "launch-agent")
    {
        Project = project;
        ClientEmail = $"{account}@{project}.iam.gserviceaccount.com";
    }

    public string Project { get; }

    public string ClientEmail { get; }

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
    public int TokensIssued => _tokens.Count;

    public ConcurrentQueue<string> Rejections { get; } = new();

    /// <summary>The service account's key file, as the IAM console downloads it, with token_uri pointing here.</summary>
    public string ServiceAccountKeyJson(RSA? otherKey = null) => new JsonObject
    {
        ["type"] = "service_account",
        ["project_id"] = Project,
        ["private_key_id"] = "0123456789abcdef0123456789abcdef01234567",
        ["private_key"] = (otherKey ?? _key).ExportPkcs8PrivateKeyPem() + "\n",
        ["client_email"] = ClientEmail,
        ["client_id"] = "104857600000000000001",
        ["auth_uri"] = "https://accounts.google.com/o/oauth2/auth",
        ["token_uri"] = new Uri(Url, "/token").ToString(),
        ["auth_provider_x509_cert_url"] = "https://www.googleapis.com/oauth2/v1/certs",
        ["universe_domain"] = "googleapis.com",
    }.ToJsonString();

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
        var form = Encoding.UTF8.GetString(request.Body).Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2)).ToDictionary(p => Uri.UnescapeDataString(p[0].Replace('+', ' ')), p => p.Length > 1 ? Uri.UnescapeDataString(p[1].Replace('+', ' ')) : "");
        Reply Refuse(string error, string description)
        {
            Rejections.Enqueue($"token: {description}");
            return Json(400, new JsonObject { ["error"] = error, ["error_description"] = description });
        }
        if (form.GetValueOrDefault("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer") return Refuse("unsupported_grant_type", "Invalid grant_type");
        var parts = form.GetValueOrDefault("assertion", "").Split('.');
        if (parts.Length != 3) return Refuse("invalid_request", "Invalid JWT assertion");
        JsonObject header, claims;
        try
        {
            header = (JsonObject)JsonNode.Parse(Base64Url(parts[0]))!;
            claims = (JsonObject)JsonNode.Parse(Base64Url(parts[1]))!;
        }
        catch (Exception)
        {
            return Refuse("invalid_request", "Invalid JWT assertion");
        }
        if (header["alg"]?.GetValue<string>() != "RS256") return Refuse("invalid_grant", "Invalid JWT: alg must be RS256");
        var signed = _key.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), Base64Url(parts[2]), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        if (!signed) return Refuse("invalid_grant", "Invalid JWT Signature.");
        if (claims["iss"]?.GetValue<string>() != ClientEmail) return Refuse("invalid_grant", "Invalid JWT: iss is not the service account");
        if (claims["aud"]?.GetValue<string>() != new Uri(Url, "/token").ToString()) return Refuse("invalid_grant", "Invalid JWT: aud is not the token URI");
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var iat = claims["iat"]?.GetValue<long>() ?? 0;
        var exp = claims["exp"]?.GetValue<long>() ?? 0;
        if (iat > now + 300 || exp < now || exp - iat > 3600) return Refuse("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.");
        var scopes = (claims["scope"]?.GetValue<string>() ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (!scopes.Any(s => s.StartsWith("https://www.googleapis.com/auth/devstorage.", StringComparison.Ordinal) || s == "https://www.googleapis.com/auth/cloud-platform"))
        {
            return Refuse("invalid_scope", "The JWT grants no Cloud Storage scope.");
        }
        var token = "ya29.loopback-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        _tokens[token] = DateTime.UtcNow.AddHours(1);
        return Json(200, new JsonObject { ["access_token"] = token, ["expires_in"] = 3599, ["token_type"] = "Bearer" });
    }

    private static byte[] Base64Url(string text)
    {
        var padded = text.Replace('-', '+').Replace('_', '/');
        padded += new string('=', (4 - padded.Length % 4) % 4);
        return Convert.FromBase64String(padded);
    }

    /// <summary>
    /// A bearer token is either an access token this server issued, or a self-signed JWT (what Google's client
    /// libraries send for a service account key without asking the token endpoint, and Google accepts): signed RS256
    /// with the account's key, iss and sub the account, aud this endpoint's URL (or a storage scope), at most an hour
    /// long and not expired.
    /// </summary>
    private void Authorize(Incoming request)
    {
        var authorization = request.Header("Authorization");
        var token = authorization is not null && authorization.StartsWith("Bearer ", StringComparison.Ordinal) ? authorization[7..] : null;
        if (token is null)
        {
            Rejections.Enqueue("no bearer token");
            throw new GcsError(401, "authError", "Invalid Credentials");
        }
        if (_tokens.TryGetValue(token, out var expires))
        {
            if (expires < DateTime.UtcNow)
            {
                Rejections.Enqueue("expired access token");
                throw new GcsError(401, "authError", "Invalid Credentials");
            }
            AcceptedTokens.Enqueue("access token");
            return;
        }
        if (SelfSignedJwtProblem(token) is { } problem)
        {
            Rejections.Enqueue(problem);
            throw new GcsError(401, "authError", "Invalid Credentials");
        }
        AcceptedTokens.Enqueue("self-signed JWT");
    }

    /// <summary>The kinds of bearer tokens accepted, in order: "access token" or "self-signed JWT".</summary>
    public ConcurrentQueue<string> AcceptedTokens { get; } = new();

    private string? SelfSignedJwtProblem(string token)
    {
        var parts = token.Split('.');
        if (parts.Length != 3) return "unknown bearer token";
        JsonObject header, claims;
        try
        {
            header = (JsonObject)JsonNode.Parse(Base64Url(parts[0]))!;
            claims = (JsonObject)JsonNode.Parse(Base64Url(parts[1]))!;
        }
        catch (Exception)
        {
            return "unknown bearer token";
        }
        if (header["alg"]?.GetValue<string>() != "RS256") return "self-signed JWT: alg is not RS256";
        if (!_key.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), Base64Url(parts[2]), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1))
        {
            return "self-signed JWT: bad signature";
        }
        if (claims["iss"]?.GetValue<string>() != ClientEmail || claims["sub"]?.GetValue<string>() != ClientEmail) return "self-signed JWT: iss/sub is not the service account";
        var audience = claims["aud"]?.GetValue<string>();
        var scopes = (claims["scope"]?.GetValue<string>() ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (audience != Url.ToString() && !scopes.Any(s => s.StartsWith("https://www.googleapis.com/auth/devstorage.", StringComparison.Ordinal) || s == "https://www.googleapis.com/auth/cloud-platform"))
        {
            return $"self-signed JWT: aud {audience} is not {Url} and no storage scope is granted";
        }
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var iat = claims["iat"]?.GetValue<long>() ?? 0;
        var exp = claims["exp"]?.GetValue<long>() ?? 0;
        if (iat > now + 300 || exp < now || exp - iat > 3600) return "self-signed JWT: expired or longer than an hour";
        return null;
    }

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
