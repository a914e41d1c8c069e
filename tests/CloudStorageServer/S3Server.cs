using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security;
using System.Text;

namespace WandbLaunch.Tests.CloudStorage;

/// <summary>
/// An S3 endpoint (path-style: <c>/&lt;bucket&gt;/&lt;key&gt;</c>) serving PutObject, HeadObject, GetObject and
/// DeleteObject. Every request must carry an AWS Signature Version 4 that the server computes again, as S3 does, from
/// the request and the secret key it holds for the access key id: canonical request (method, URI, sorted query,
/// signed headers, payload hash), string to sign (date, scope, hash of the canonical request), signing key (HMAC
/// chain over date, region, service). A mismatch is answered 403 SignatureDoesNotMatch; an unknown key id 403
/// InvalidAccessKeyId; a scope for another region 400 AuthorizationHeaderMalformed; a date off by more than 15
/// minutes 403 RequestTimeTooSkewed. The payload hash in x-amz-content-sha256 must be the body's (400
/// XAmzContentSHA256Mismatch), and x-amz-checksum-crc32/crc32c and Content-MD5, when sent, must match (400 BadDigest).
/// Streaming (aws-chunked) payload signatures are refused with 501 NotImplemented: clients must sign the whole payload.
/// </summary>
public sealed partial class S3Server : LoopbackServer
{
    private readonly SigV4Verifier _signatures;
    private readonly ConcurrentDictionary<string, bool> _buckets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Bucket, string Key), byte[]> _objects = new();

    public S3Server(string region = "us-east-1")
    {
        Region = region;
        _signatures = new SigV4Verifier(region, "s3", requirePayloadHashHeader: true);
    }

    public string Region { get; }

    /// <summary>Adds an access key (id and secret) the server accepts.</summary>
    public void AddKey(string accessKeyId, string secretAccessKey) => _signatures.AddKey(accessKeyId, secretAccessKey);

    public void AddBucket(string bucket) => _buckets[bucket] = true;

    public byte[]? Object(string bucket, string key) => _objects.TryGetValue((bucket, key), out var data) ? data : null;

    public IReadOnlyList<(string Bucket, string Key)> Objects => _objects.Keys.ToList();

    /// <summary>Every signature check that failed, with the reason: tests assert on them.</summary>
    public ConcurrentQueue<string> Rejections => _signatures.Rejections;

    protected override Task<Reply> HandleAsync(Incoming request)
    {
        var id = Guid.NewGuid().ToString("N")[..16].ToUpperInvariant();
        try
        {
            var path = request.RawPath.TrimStart('/');
            var slash = path.IndexOf('/');
            var bucket = Uri.UnescapeDataString(slash < 0 ? path : path[..slash]);
            var key = slash < 0 ? "" : Uri.UnescapeDataString(path[(slash + 1)..]);
            Authenticate(request);
            if (bucket.Length == 0) throw new S3Error(400, "InvalidRequest", "This endpoint serves path-style requests: /<bucket>/<key>.");
            if (!_buckets.ContainsKey(bucket)) throw new S3Error(404, "NoSuchBucket", "The specified bucket does not exist", ("BucketName", bucket));
            if (key.Length == 0) throw new S3Error(501, "NotImplemented", "Bucket operations are not served here.");
            switch (request.Method)
            {
                case "PUT":
                    CheckDigests(request);
                    _objects[(bucket, key)] = request.Body;
                    return Task.FromResult(Reply.Empty(200, new Dictionary<string, string>
                    {
                        ["ETag"] = $"\"{Convert.ToHexStringLower(MD5.HashData(request.Body))}\"",
                        ["x-amz-request-id"] = id,
                    }));
                case "GET" or "HEAD":
                    if (!_objects.TryGetValue((bucket, key), out var data)) throw new S3Error(404, "NoSuchKey", "The specified key does not exist.", ("Key", key));
                    return Task.FromResult(new Reply(200, "application/octet-stream", data, new Dictionary<string, string> { ["x-amz-request-id"] = id }));
                case "DELETE":
                    _objects.TryRemove((bucket, key), out _);
                    return Task.FromResult(Reply.Empty(204, new Dictionary<string, string> { ["x-amz-request-id"] = id }));
                default:
                    throw new S3Error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.");
            }
        }
        catch (S3Error e)
        {
            var extra = string.Concat(e.Details.Select(d => $"<{d.Name}>{SecurityElement.Escape(d.Value)}</{d.Name}>"));
            var xml = $"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{e.Code}</Code><Message>{SecurityElement.Escape(e.Message)}</Message>{extra}<RequestId>{id}</RequestId><HostId>loopback</HostId></Error>";
            return Task.FromResult(Reply.Text(e.Status, "application/xml", xml, new Dictionary<string, string> { ["x-amz-request-id"] = id }));
        }
    }

    private sealed class S3Error(int status, string code, string message, params (string Name, string Value)[] details) : Exception(message)
    {
        public int Status { get; } = status;

        public string Code { get; } = code;

        public (string Name, string Value)[] Details { get; } = details;
    }

    private void Authenticate(Incoming request)
    {
        if (_signatures.Verify(request) is not { } failure) return;
        throw failure.Fault switch
        {
            SigV4Fault.Missing => new S3Error(403, "AccessDenied", "Access Denied"),
            SigV4Fault.Malformed => new S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is malformed."),
            SigV4Fault.UnknownKey => new S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", ("AWSAccessKeyId", failure.KeyId!)),
            SigV4Fault.WrongRegion => new S3Error(400, "AuthorizationHeaderMalformed", $"The authorization header is malformed; the region '{failure.Provided}' is wrong; expecting '{Region}'", ("Region", Region)),
            SigV4Fault.WrongService => new S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is malformed; the service is not s3."),
            SigV4Fault.HostOrDateUnsigned => new S3Error(403, "AccessDenied", "Host and x-amz-date must be signed."),
            SigV4Fault.BadDate => new S3Error(403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"),
            SigV4Fault.Skewed => new S3Error(403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large."),
            SigV4Fault.MissingPayloadHash => new S3Error(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"),
            SigV4Fault.StreamingPayload => new S3Error(501, "NotImplemented", $"This stand-in does not implement {failure.Provided}: sign the whole payload."),
            SigV4Fault.PayloadMismatch => new S3Error(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed."),
            SigV4Fault.BadToken => new S3Error(403, "InvalidToken", "The provided token is malformed or otherwise invalid."),
            SigV4Fault.ExpiredToken => new S3Error(400, "ExpiredToken", "The provided token has expired."),
            _ => new S3Error(403, "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                ("AWSAccessKeyId", failure.KeyId!), ("StringToSign", failure.StringToSign!), ("SignatureProvided", failure.Provided!), ("CanonicalRequest", failure.CanonicalRequest!)),
        };
    }

    private static void CheckDigests(Incoming request)
    {
        if (request.Header("Content-MD5") is { } md5 && md5 != Convert.ToBase64String(MD5.HashData(request.Body)))
        {
            throw new S3Error(400, "BadDigest", "The Content-MD5 you specified did not match what we received.");
        }
        if (request.Header("x-amz-checksum-crc32") is { } crc32 && crc32 != Checksums.Crc32(request.Body))
        {
            throw new S3Error(400, "BadDigest", "The CRC32 you specified did not match the calculated checksum.");
        }
        if (request.Header("x-amz-checksum-crc32c") is { } crc32c && crc32c != Checksums.Crc32C(request.Body))
        {
            throw new S3Error(400, "BadDigest", "The CRC32C you specified did not match the calculated checksum.");
        }
        if (request.Header("x-amz-checksum-sha256") is { } sha256 && sha256 != Convert.ToBase64String(SHA256.HashData(request.Body)))
        {
            throw new S3Error(400, "BadDigest", "The SHA256 you specified did not match the calculated checksum.");
        }
    }
}
