using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace WandbLaunch.Tests.CloudStorage;

/// <summary>Why a request's AWS Signature Version 4 was refused; each stand-in answers it in its service's error shape.</summary>
public enum SigV4Fault
{
    Missing,
    Malformed,
    UnknownKey,
    WrongRegion,
    WrongService,
    HostOrDateUnsigned,
    BadDate,
    Skewed,
    MissingPayloadHash,
    StreamingPayload,
    PayloadMismatch,
    SignatureMismatch,
    /// <summary>The key's session token is missing from the request or is another one.</summary>
    BadToken,
    /// <summary>The key's session token has expired.</summary>
    ExpiredToken,
}

public sealed record SigV4Failure(SigV4Fault Fault, string Detail, string? KeyId = null, string? StringToSign = null, string? CanonicalRequest = null, string? Provided = null);

/// <summary>
/// Verifies AWS Signature Version 4 as AWS does, by computing it again from the request and the secret key it holds
/// for the access key id: canonical request (method, URI, sorted query, signed headers, payload hash), string to
/// sign (date, scope, hash of the canonical request), signing key (HMAC chain over date, region, service). A key may
/// carry a session token, which the request must send in X-Amz-Security-Token, and which tests can expire. Shared
/// by the S3 stand-in and the AWS API stand-ins (tests/AwsServer).
/// </summary>
public sealed partial class SigV4Verifier(string region, string service, bool requirePayloadHashHeader)
{
    private readonly ConcurrentDictionary<string, (string Secret, string? Token)> _keys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _expired = new(StringComparer.Ordinal);

    public string Region { get; } = region;

    public string Service { get; } = service;

    /// <summary>Every check that failed, with the reason: tests assert on them.</summary>
    public ConcurrentQueue<string> Rejections { get; } = new();

    public void AddKey(string accessKeyId, string secretAccessKey, string? sessionToken = null) => _keys[accessKeyId] = (secretAccessKey, sessionToken);

    /// <summary>From now on the key's session token is refused as expired.</summary>
    public void Expire(string accessKeyId) => _expired[accessKeyId] = true;

    /// <summary>The key's session token is good again (renewed credentials with the same values).</summary>
    public void Renew(string accessKeyId) => _expired.TryRemove(accessKeyId, out _);

    [GeneratedRegex(@"^AWS4-HMAC-SHA256 Credential=(?<key>[^/]+)/(?<date>\d{8})/(?<region>[^/]+)/(?<service>[^/]+)/aws4_request,\s*SignedHeaders=(?<headers>[a-z0-9;\-]+),\s*Signature=(?<signature>[0-9a-f]{64})$")]
    private static partial Regex AuthorizationPattern();

    private SigV4Failure Fail(SigV4Fault fault, string detail, string? keyId = null, string? stringToSign = null, string? canonical = null, string? provided = null)
    {
        Rejections.Enqueue(detail);
        return new SigV4Failure(fault, detail, keyId, stringToSign, canonical, provided);
    }

    /// <summary>Null when the request is signed right; else why not.</summary>
    public SigV4Failure? Verify(LoopbackServer.Incoming request)
    {
        var authorization = request.Header("Authorization");
        if (authorization is null) return Fail(SigV4Fault.Missing, "no Authorization header");
        var match = AuthorizationPattern().Match(authorization);
        if (!match.Success) return Fail(SigV4Fault.Malformed, "malformed Authorization header");
        var keyId = match.Groups["key"].Value;
        if (!_keys.TryGetValue(keyId, out var key)) return Fail(SigV4Fault.UnknownKey, $"unknown access key id {keyId}", keyId);
        var date = match.Groups["date"].Value;
        var scopeRegion = match.Groups["region"].Value;
        if (scopeRegion != Region) return Fail(SigV4Fault.WrongRegion, $"scope region {scopeRegion}", keyId, provided: scopeRegion);
        var scopeService = match.Groups["service"].Value;
        if (scopeService != Service) return Fail(SigV4Fault.WrongService, $"scope service {scopeService}", keyId, provided: scopeService);
        var signedHeaders = match.Groups["headers"].Value.Split(';');
        if (!signedHeaders.Contains("host") || !signedHeaders.Contains("x-amz-date") && !signedHeaders.Contains("date"))
        {
            return Fail(SigV4Fault.HostOrDateUnsigned, "host or date not signed", keyId);
        }
        var amzDate = request.Header("x-amz-date");
        if (amzDate is null ||
            !DateTime.TryParseExact(amzDate, "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var when) ||
            !amzDate.StartsWith(date, StringComparison.Ordinal))
        {
            return Fail(SigV4Fault.BadDate, "no valid x-amz-date", keyId);
        }
        if (Math.Abs((DateTime.UtcNow - when).TotalMinutes) > 15) return Fail(SigV4Fault.Skewed, "clock skew", keyId, provided: amzDate);
        var bodyHash = Convert.ToHexStringLower(SHA256.HashData(request.Body));
        var payloadHash = request.Header("x-amz-content-sha256");
        if (payloadHash is null)
        {
            if (requirePayloadHashHeader) return Fail(SigV4Fault.MissingPayloadHash, "no x-amz-content-sha256", keyId);
            payloadHash = bodyHash;
        }
        if (payloadHash.StartsWith("STREAMING-", StringComparison.Ordinal)) return Fail(SigV4Fault.StreamingPayload, $"streaming payload {payloadHash}", keyId, provided: payloadHash);
        if (payloadHash != "UNSIGNED-PAYLOAD" && payloadHash != bodyHash) return Fail(SigV4Fault.PayloadMismatch, "payload hash mismatch", keyId);

        var canonicalRequest = string.Join('\n',
            request.Method,
            CanonicalUri(request.RawPath),
            CanonicalQuery(request.Query),
            string.Concat(signedHeaders.Select(h => $"{h}:{Collapse(request.Header(h) ?? "")}\n")),
            string.Join(';', signedHeaders),
            payloadHash);
        var scope = $"{date}/{scopeRegion}/{Service}/aws4_request";
        var stringToSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{scope}\n{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalRequest)))}";
        var signingKey = Hmac(Hmac(Hmac(Hmac(Encoding.UTF8.GetBytes("AWS4" + key.Secret), date), scopeRegion), Service), "aws4_request");
        var expected = Convert.ToHexStringLower(Hmac(signingKey, stringToSign));
        var provided = match.Groups["signature"].Value;
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(provided)))
        {
            return Fail(SigV4Fault.SignatureMismatch, "signature mismatch", keyId, stringToSign, canonicalRequest, provided);
        }
        if (key.Token is not null)
        {
            var token = request.Header("x-amz-security-token");
            if (token != key.Token) return Fail(SigV4Fault.BadToken, token is null ? "no session token" : "another session token", keyId);
            if (!signedHeaders.Contains("x-amz-security-token")) return Fail(SigV4Fault.BadToken, "session token not signed", keyId);
            if (_expired.ContainsKey(keyId)) return Fail(SigV4Fault.ExpiredToken, "expired session token", keyId);
        }
        return null;
    }

    private static byte[] Hmac(byte[] key, string data) => HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(data));

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();

    private static string Collapse(string value) => Spaces().Replace(value.Trim(), " ");

    /// <summary>The canonical URI: each path segment URI-encoded once (the path as sent, normalised to AWS's encoding).</summary>
    private static string CanonicalUri(string rawPath) =>
        string.Join('/', rawPath.Split('/').Select(segment => Encode(Uri.UnescapeDataString(segment))));

    private static string CanonicalQuery(IReadOnlyList<(string Name, string Value)> query) =>
        string.Join('&', query.Select(q => (Name: Encode(q.Name), Value: Encode(q.Value)))
            .OrderBy(q => q.Name, StringComparer.Ordinal).ThenBy(q => q.Value, StringComparer.Ordinal)
            .Select(q => $"{q.Name}={q.Value}"));

    /// <summary>AWS's URI encoding: everything but A-Z a-z 0-9 - _ . ~ as %XX (upper case).</summary>
    private static string Encode(string value)
    {
        var builder = new StringBuilder();
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            var c = (char)b;
            if (c is >= 'A' and <= 'Z' or >= 'a' and <= 'z' or >= '0' and <= '9' or '-' or '_' or '.' or '~') builder.Append(c);
            else builder.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return builder.ToString();
    }
}
