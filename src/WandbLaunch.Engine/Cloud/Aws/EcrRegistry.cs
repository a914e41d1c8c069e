using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Registries;

namespace WandbLaunch.Engine.Cloud.Aws;

/// <summary>
/// An Amazon ECR registry, known by its host <c>&lt;account&gt;.dkr.ecr.&lt;region&gt;.amazonaws.com</c> (W&amp;B's
/// <c>registry_from_uri</c>): its login from GetAuthorizationToken (user <c>AWS</c>, a 12-hour password, kept until
/// shortly before it expires) and whether a tag exists (DescribeImages; ImageNotFoundException → false). The
/// registry's own region is used, with the default credentials, as W&amp;B's ElasticContainerRegistry does.
/// </summary>
public sealed partial class EcrRegistry
{
    private static readonly TimeSpan RenewBefore = TimeSpan.FromMinutes(30);

    private readonly AwsClient _client;
    private readonly ConcurrentDictionary<string, (RegistryCredential Credential, DateTimeOffset Expires)> _tokens = new(StringComparer.Ordinal);

    public EcrRegistry(AwsClient client, string accountId)
    {
        _client = client;
        AccountId = accountId;
    }

    public string AccountId { get; }

    public string Region => _client.Region;

    public string Host => $"{AccountId}.dkr.ecr.{Region}.amazonaws.com";

    [GeneratedRegex(@"^(?:https://)?(?<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?<region>[a-z]{2}(?:-[a-z]+)+-[0-9]+)\.amazonaws\.com(?:\.cn)?(?:/(?<repository>[^:@]+))?(?:[:@].*)?$")]
    private static partial Regex UriPattern();

    /// <summary>The account, region and repository of an ECR URI or host; null for any other registry.</summary>
    public static (string Account, string Region, string? Repository)? Parse(string uriOrHost)
    {
        var match = UriPattern().Match(uriOrHost);
        return match.Success
            ? (match.Groups["account"].Value, match.Groups["region"].Value, match.Groups["repository"].Success ? match.Groups["repository"].Value : null)
            : null;
    }

    /// <summary>The registry's login; asked of ECR once, then again half an hour before the token expires.</summary>
    public async Task<RegistryCredential> GetCredentialAsync(CancellationToken cancellationToken)
    {
        if (_tokens.TryGetValue(AccountId, out var cached) && cached.Expires - RenewBefore > DateTimeOffset.UtcNow) return cached.Credential;
        var answer = await _client.CallJsonAsync(AwsService.Ecr, "GetAuthorizationToken", new JsonObject(), cancellationToken).ConfigureAwait(false);
        var data = (answer["authorizationData"] as JsonArray)?.FirstOrDefault() as JsonObject;
        var token = data?["authorizationToken"] is JsonValue t && t.TryGetValue<string>(out var text) ? text : null;
        string decoded;
        try
        {
            decoded = token is null ? "" : Encoding.UTF8.GetString(Convert.FromBase64String(token));
        }
        catch (FormatException)
        {
            decoded = "";
        }
        var colon = decoded.IndexOf(':');
        if (colon <= 0)
        {
            throw new AwsException("AwsMalformedAnswer", LaunchErrorCategory.InvalidData,
                "AWS ECR GetAuthorizationToken answered without a base64 user:password token.", AwsService.Ecr, "GetAuthorizationToken", null, null, System.Net.HttpStatusCode.OK, null);
        }
        var expires = data?["expiresAt"] is JsonValue e && e.TryGetValue<double>(out var seconds)
            ? DateTimeOffset.FromUnixTimeMilliseconds((long)(seconds * 1000))
            : DateTimeOffset.UtcNow.AddHours(12);
        var credential = new RegistryCredential(decoded[..colon], decoded[(colon + 1)..]) { Source = $"ECR GetAuthorizationToken in {Region} with {_client.Credentials}" };
        _tokens[AccountId] = (credential, expires);
        return credential;
    }

    /// <summary>Whether <paramref name="repository"/> has <paramref name="tag"/>; a missing repository is an error (<c>AwsResourceNotFound</c>).</summary>
    public async Task<bool> ImageExistsAsync(string repository, string tag, CancellationToken cancellationToken)
    {
        var request = new JsonObject
        {
            ["registryId"] = AccountId,
            ["repositoryName"] = repository,
            ["imageIds"] = new JsonArray(new JsonObject { ["imageTag"] = tag }),
        };
        try
        {
            var answer = await _client.CallJsonAsync(AwsService.Ecr, "DescribeImages", request, cancellationToken).ConfigureAwait(false);
            return answer["imageDetails"] is JsonArray { Count: > 0 };
        }
        catch (AwsException e) when (e.Code == "ImageNotFoundException")
        {
            return false;
        }
    }
}
