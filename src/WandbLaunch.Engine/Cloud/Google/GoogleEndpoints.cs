using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Cloud.Google;

/// <summary>
/// Where Google's REST APIs are reached. gcloud's <c>api_endpoint_overrides/&lt;api&gt;</c> properties, set through
/// <c>CLOUDSDK_API_ENDPOINT_OVERRIDES_&lt;API&gt;</c>, replace an API's base URL (the API's paths, such as
/// <c>v1/projects/...</c>, follow it). For Vertex AI gcloud then derives the regional endpoint as it does for the
/// default one: a host starting with <c>aiplatform</c> gets the region in front (<c>us-central1-aiplatform...</c>);
/// any other host (a private endpoint, a test server) is used unchanged.
/// </summary>
public static class GoogleEndpoints
{
    public const string VertexOverrideVariable = "CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM";
    public const string ArtifactRegistryOverrideVariable = "CLOUDSDK_API_ENDPOINT_OVERRIDES_ARTIFACTREGISTRY";

    /// <summary>The Vertex AI base URL for <paramref name="region"/>, ending in '/'.</summary>
    public static Uri Vertex(string region, Func<string, string?> environment)
    {
        var baseUrl = Override(environment, VertexOverrideVariable) ?? new Uri("https://aiplatform.googleapis.com/");
        if (!baseUrl.Host.StartsWith("aiplatform", StringComparison.OrdinalIgnoreCase)) return baseUrl;
        var builder = new UriBuilder(baseUrl) { Host = $"{region}-{baseUrl.Host}" };
        return builder.Uri;
    }

    /// <summary>The Artifact Registry API's base URL, ending in '/'.</summary>
    public static Uri ArtifactRegistry(Func<string, string?> environment) =>
        Override(environment, ArtifactRegistryOverrideVariable) ?? new Uri("https://artifactregistry.googleapis.com/");

    private static Uri? Override(Func<string, string?> environment, string variable)
    {
        if (environment(variable) is not { Length: > 0 } text) return null;
        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
        {
            throw LaunchException.Invalid("InvalidEndpointOverride",
                $"{variable} is {Text.Printable.Quote(text)}; it must be an http(s) URL such as https://aiplatform.googleapis.com/ (no query).", text);
        }
        return uri.AbsoluteUri.EndsWith('/') ? uri : new Uri(uri.AbsoluteUri + "/");
    }
}
