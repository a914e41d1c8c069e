using System.Net;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using WandbLaunch.Engine.Config;

namespace WandbLaunch.Engine.Builders.Kaniko;

/// <summary>
/// A build context in S3, uploaded with AWSSDK.S3. Region: <c>environment.region</c>, else <c>AWS_REGION</c> or
/// <c>AWS_DEFAULT_REGION</c>, else us-east-1. Credentials: <c>AWS_ACCESS_KEY_ID</c>/<c>AWS_SECRET_ACCESS_KEY</c>
/// (and <c>AWS_SESSION_TOKEN</c>) from the agent's environment, else the SDK's default chain (profile, web
/// identity, container or instance role). <c>AWS_ENDPOINT_URL_S3</c> or <c>AWS_ENDPOINT_URL</c> points the client
/// at another endpoint (an S3-compatible store), addressed path-style. The object is sent in one signed PUT whose
/// payload hash is in the signature (<c>UseChunkEncoding = false</c>), which every S3-compatible store accepts.
/// </summary>
internal sealed class S3ContextStore : ContextStore
{
    private readonly AmazonS3Client _client;
    private readonly string _bucket;
    private readonly string _key;
    private readonly string _identity;
    private readonly string? _endpoint;

    public S3ContextStore(string uri, EnvironmentSettings cloud, Func<string, string?> environment) : base(uri)
    {
        (_bucket, _key) = BucketAndKey(uri);
        var region = cloud.Region ?? Value(environment, "AWS_REGION") ?? Value(environment, "AWS_DEFAULT_REGION") ?? "us-east-1";
        _endpoint = Value(environment, "AWS_ENDPOINT_URL_S3") ?? Value(environment, "AWS_ENDPOINT_URL");
        var config = new AmazonS3Config
        {
            MaxErrorRetry = 2,
            Timeout = TimeSpan.FromMinutes(5),
        };
        if (_endpoint is not null)
        {
            config.ServiceURL = _endpoint;
            config.ForcePathStyle = true;
            config.AuthenticationRegion = region;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(region);
        }
        var keyId = Value(environment, "AWS_ACCESS_KEY_ID");
        var secret = Value(environment, "AWS_SECRET_ACCESS_KEY");
        if (keyId is not null && secret is not null)
        {
            var token = Value(environment, "AWS_SESSION_TOKEN");
            AWSCredentials credentials = token is null ? new BasicAWSCredentials(keyId, secret) : new SessionAWSCredentials(keyId, secret, token);
            _identity = $"access key {keyId} (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the agent's environment)";
            _client = new AmazonS3Client(credentials, config);
        }
        else
        {
            _identity = "the AWS SDK's default credentials (profile, web identity, container or instance role)";
            _client = new AmazonS3Client(config);
        }
    }

    private string Where => _endpoint is null ? "S3" : $"the S3 endpoint {_endpoint}";

    public override async Task UploadAsync(Stream content, Action<long, long>? progress, CancellationToken cancellationToken)
    {
        var request = new PutObjectRequest
        {
            BucketName = _bucket,
            Key = _key,
            InputStream = content,
            AutoCloseStream = false,
            ContentType = "application/gzip",
            // One request signed over the whole payload's hash, rather than aws-chunked streaming signatures.
            UseChunkEncoding = false,
        };
        if (progress is not null) request.StreamTransferProgress += (_, e) => progress(e.TransferredBytes, e.TotalBytes);
        try
        {
            await _client.PutObjectAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e)
        {
            throw Failed(Explain(e), e);
        }
        catch (AmazonClientException e)
        {
            throw Failed($"{Where} could not be used with {_identity}: {e.Message}", e);
        }
        catch (HttpRequestException e)
        {
            throw Failed($"{Where} cannot be reached: {e.Message}", e);
        }
    }

    private string Explain(AmazonS3Exception e)
    {
        var what = $"{Where} answered {(int)e.StatusCode} {e.ErrorCode}: {e.Message.TrimEnd('.')}.";
        return e.ErrorCode switch
        {
            "SignatureDoesNotMatch" =>
                $"{what} The request was signed with {_identity}, and S3 computes another signature with the secret key it has for that key id: " +
                "the secret access key is wrong. Fix AWS_SECRET_ACCESS_KEY (or the profile the agent uses).",
            "InvalidAccessKeyId" => $"{what} S3 does not know the access key id of {_identity}; fix AWS_ACCESS_KEY_ID.",
            "ExpiredToken" or "TokenRefreshRequired" => $"{what} The session token of {_identity} has expired; renew it.",
            "NoSuchBucket" => $"{what} Create bucket {_bucket}, or fix builder.build-context-store.",
            "AccessDenied" => $"{what} Allow {_identity} s3:PutObject and s3:DeleteObject on arn:aws:s3:::{_bucket}/*.",
            _ when e.StatusCode == HttpStatusCode.MovedPermanently || e.ErrorCode == "PermanentRedirect" || e.ErrorCode == "AuthorizationHeaderMalformed" =>
                $"{what} Bucket {_bucket} is in another region: set environment.region (or AWS_REGION) to the bucket's region.",
            _ => what,
        };
    }

    public override async Task DeleteAsync(CancellationToken cancellationToken)
    {
        await _client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _bucket, Key = _key }, cancellationToken).ConfigureAwait(false);
    }

    public override void Dispose() => _client.Dispose();
}
