using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Registries;

namespace WandbLaunch.Engine.Cloud.Google;

/// <summary>
/// A Google Artifact Registry repository named by its URI, <c>[https://]&lt;region&gt;-docker.pkg.dev/&lt;project&gt;/&lt;repository&gt;[/&lt;image&gt;][:tag]</c>
/// (W&amp;B's GCP_ARTIFACT_REGISTRY_URI_REGEX).
/// </summary>
public sealed partial record ArtifactRegistryRepository(string Region, string Project, string Repository, string? Image)
{
    [GeneratedRegex(@"^(?:https://)?(?<region>[\w-]+)-docker\.pkg\.dev/(?<project>[\w-]+)/(?<repository>[\w-]+)/?(?<image>[\w-]+)?(?<tag>:.*)?$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Uri();

    public static bool TryParse(string? uri, out ArtifactRegistryRepository repository)
    {
        repository = null!;
        if (uri is null || Uri().Match(uri) is not { Success: true } m) return false;
        repository = new ArtifactRegistryRepository(m.Groups["region"].Value, m.Groups["project"].Value, m.Groups["repository"].Value,
            m.Groups["image"].Success ? m.Groups["image"].Value : null);
        return true;
    }

    /// <summary>True for a registry host of Artifact Registry's Docker format, <c>&lt;region&gt;-docker.pkg.dev</c>.</summary>
    public static bool IsHost(string registry) => registry.EndsWith("-docker.pkg.dev", StringComparison.OrdinalIgnoreCase) && registry.Length > "-docker.pkg.dev".Length;

    /// <summary>The API's name of the repository.</summary>
    public string ResourceName => $"projects/{Project}/locations/{Region}/repositories/{Repository}";

    public string Host => $"{Region}-docker.pkg.dev";
}

/// <summary>
/// Artifact Registry through Application Default Credentials, as W&amp;B's GoogleArtifactRegistry: Docker logs in
/// as <c>oauth2accesstoken</c> with an access token; whether a tag exists is asked of
/// projects.locations.repositories.dockerImages.list (any image of the repository with the tag, as W&amp;B checks).
/// </summary>
public sealed class ArtifactRegistryClient(GoogleApiClient client, Func<string, string?> environment)
{
    public const string Username = "oauth2accesstoken";

    public GoogleApiClient Client { get; } = client;

    /// <summary>A registry credential holding a fresh access token; its source names whose credentials they are.</summary>
    public async Task<RegistryCredential> CredentialAsync(CancellationToken cancellationToken) =>
        new(Username, await Client.Auth.AccessTokenAsync(false, cancellationToken).ConfigureAwait(false))
        {
            Source = $"Google Application Default Credentials ({Client.Auth.Identity})",
        };

    /// <summary>True when an image of <paramref name="repository"/> carries <paramref name="tag"/>; a repository that does not exist is an error.</summary>
    public async Task<bool> TagExistsAsync(ArtifactRegistryRepository repository, string tag, CancellationToken cancellationToken)
    {
        var baseUrl = GoogleEndpoints.ArtifactRegistry(environment);
        string? pageToken = null;
        do
        {
            var url = new Uri(baseUrl, $"v1/{repository.ResourceName}/dockerImages?pageSize=1000{(pageToken is null ? "" : "&pageToken=" + System.Uri.EscapeDataString(pageToken))}");
            JsonObject page;
            try
            {
                page = await Client.SendAsync(HttpMethod.Get, url, null, "Listing the Artifact Registry images", cancellationToken).ConfigureAwait(false);
            }
            catch (GoogleApiException e) when (e.HttpStatus == 404)
            {
                throw LaunchException.NotFound("ArtifactRegistryRepositoryNotFound",
                    $"The Artifact Registry repository {repository.Repository} ({repository.ResourceName}) does not exist: create it, or change builder.destination.", repository.ResourceName);
            }
            foreach (var image in (page["dockerImages"] as JsonArray ?? []).OfType<JsonObject>())
            {
                if ((image["tags"] as JsonArray ?? []).Any(t => t is JsonValue v && v.TryGetValue<string>(out var s) && s == tag)) return true;
            }
            pageToken = page["nextPageToken"] is JsonValue next && next.TryGetValue<string>(out var token) && token.Length > 0 ? token : null;
        }
        while (pageToken is not null);
        return false;
    }
}
