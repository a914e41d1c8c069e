using Amazon.Runtime;
using Amazon.Runtime.Credentials;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Cloud.Aws;

/// <summary>
/// Where an AWS client's credentials come from: <c>AWS_ACCESS_KEY_ID</c>/<c>AWS_SECRET_ACCESS_KEY</c> (and
/// <c>AWS_SESSION_TOKEN</c>) in the agent's environment, else the AWS SDK's default chain (environment, shared
/// profile <c>AWS_PROFILE</c>, SSO, web identity, container and instance metadata), which also refreshes expiring
/// ones. Nothing here parses a credential file: that is the SDK's.
/// </summary>
public sealed class AwsCredentialSource
{
    private readonly Func<CancellationToken, Task<ImmutableCredentials>> _get;

    private AwsCredentialSource(string description, Func<CancellationToken, Task<ImmutableCredentials>> get)
    {
        Description = description;
        _get = get;
    }

    /// <summary>Names the credential without its secret, e.g. "access key AKIA... (AWS_ACCESS_KEY_ID in the agent's environment)".</summary>
    public string Description { get; private set; }

    public static AwsCredentialSource FromEnvironment(Func<string, string?> environment)
    {
        static string? Value(Func<string, string?> env, string name) => env(name) is { Length: > 0 } v ? v : null;
        var keyId = Value(environment, "AWS_ACCESS_KEY_ID");
        var secret = Value(environment, "AWS_SECRET_ACCESS_KEY");
        if (keyId is not null && secret is not null)
        {
            var token = Value(environment, "AWS_SESSION_TOKEN");
            var credentials = new ImmutableCredentials(keyId, secret, token);
            return new AwsCredentialSource($"access key {keyId} (AWS_ACCESS_KEY_ID in the agent's environment)", _ => Task.FromResult(credentials));
        }
        AWSCredentials? resolved = null;
        AwsCredentialSource? source = null;
        source = new AwsCredentialSource("the AWS SDK's default credentials (profile, SSO, web identity, container or instance role)", async cancellationToken =>
        {
            try
            {
                resolved ??= await DefaultAWSCredentialsIdentityResolver.GetCredentialsAsync().ConfigureAwait(false);
                var credentials = await resolved.GetCredentialsAsync().ConfigureAwait(false);
                source!.Description = $"access key {credentials.AccessKey} ({resolved.GetType().Name.Replace("AWSCredentials", "", StringComparison.Ordinal)} from the AWS SDK's default chain)";
                return credentials;
            }
            catch (AmazonClientException e)
            {
                throw new LaunchException("AwsCredentialsMissing", LaunchErrorCategory.PermissionDenied,
                    "No AWS credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) for the agent, " +
                    $"or AWS_PROFILE naming a profile in ~/.aws/config, or run the agent where a web identity, container or instance role is available. ({e.Message})",
                    inner: e);
            }
        });
        return source;
    }

    /// <summary>Fixed credentials (tests, or a caller that already has them).</summary>
    public static AwsCredentialSource Of(string accessKeyId, string secretAccessKey, string? sessionToken = null) =>
        new($"access key {accessKeyId}", _ => Task.FromResult(new ImmutableCredentials(accessKeyId, secretAccessKey, sessionToken)));

    internal Task<ImmutableCredentials> GetAsync(CancellationToken cancellationToken) => _get(cancellationToken);

    public override string ToString() => Description;
}
