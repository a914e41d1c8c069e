using System.Text.RegularExpressions;

namespace WandbLaunch.Engine.Registries;

/// <summary>
/// Rules for <c>builder.destination</c>: an image repository the agent pushes to. The agent tags every image
/// with a content hash, so a tag or digest is refused; cloud registries need their repository path.
/// </summary>
public static partial class ImageDestination
{
    [GeneratedRegex(@"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")]
    private static partial Regex EcrHost();

    [GeneratedRegex(@"^[a-z0-9-]+-docker\.pkg\.dev$")]
    private static partial Regex ArtifactRegistryHost();

    [GeneratedRegex(@"^[a-z0-9]+\.azurecr\.io$")]
    private static partial Regex AcrHost();

    [GeneratedRegex(@"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")]
    private static partial Regex RepositoryPath();

    /// <summary>The kind of registry a destination points at, chosen from its host.</summary>
    public static string KindOf(string destination)
    {
        var host = destination.Split('/')[0];
        if (EcrHost().IsMatch(host)) return "ecr";
        if (ArtifactRegistryHost().IsMatch(host) || host.EndsWith("gcr.io", StringComparison.Ordinal)) return "gcr";
        if (AcrHost().IsMatch(host)) return "acr";
        return "docker";
    }

    /// <summary>Returns an error message, or null with the normalized destination (https:// prefix removed).</summary>
    public static string? Check(string raw, out string normalized)
    {
        normalized = raw.Trim();
        if (normalized.StartsWith("https://", StringComparison.OrdinalIgnoreCase)) normalized = normalized["https://".Length..];
        normalized = normalized.TrimEnd('/');
        if (normalized.Length == 0) return "builder.destination is empty; give an image repository such as registry.example.com/team/images.";
        if (normalized.Contains('@'))
        {
            return $"builder.destination '{raw}' has a digest; give the repository only: the agent tags each image with a unique hash.";
        }
        var segments = normalized.Split('/');
        if (segments[^1].Contains(':') && (segments.Length > 1 || !LooksLikeHostPort(segments[0])))
        {
            return $"builder.destination '{raw}' has a tag ('{segments[^1][(segments[^1].IndexOf(':') + 1)..]}'); give the repository only: the agent tags each image with a unique hash.";
        }
        var host = segments[0];
        var path = string.Join('/', segments.Skip(1));
        if (path.Length > 0 && !RepositoryPath().IsMatch(path))
        {
            return $"builder.destination '{raw}' has an invalid repository path '{path}': use lowercase letters, digits and . _ - separated by '/'.";
        }
        switch (KindOf(normalized))
        {
            case "ecr" when segments.Length < 2:
                return $"builder.destination '{raw}' is an ECR registry without a repository; add it: {host}/<repository>.";
            case "acr" when segments.Length < 2:
                return $"builder.destination '{raw}' is an Azure Container Registry without a repository; add it: {host}/<repository>.";
            case "gcr" when ArtifactRegistryHost().IsMatch(host) && segments.Length < 4:
                return $"builder.destination '{raw}' is an Artifact Registry path without an image name; use {host}/<project>/<repository>/<image>.";
        }
        return null;
    }

    private static bool LooksLikeHostPort(string segment)
    {
        var colon = segment.LastIndexOf(':');
        return colon > 0 && int.TryParse(segment[(colon + 1)..], out _) && (segment.Contains('.') || segment.StartsWith("localhost", StringComparison.Ordinal));
    }
}
