using System.Text.RegularExpressions;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Specs;

/// <summary>What a launch spec's <c>uri</c> points at: a git repository (https, ssh, git@host:path) or a local directory.</summary>
public static partial class SourceUri
{
    public enum Kind
    {
        Git,
        LocalDirectory,
    }

    [GeneratedRegex(@"^[A-Za-z0-9_.\-]+@[A-Za-z0-9_.\-]+:[^\s]+$")]
    private static partial Regex ScpLike();

    public static Kind Classify(string uri)
    {
        if (uri.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || uri.StartsWith("ssh://", StringComparison.OrdinalIgnoreCase) || ScpLike().IsMatch(uri))
        {
            return Kind.Git;
        }
        if (Path.IsPathFullyQualified(uri)) return Kind.LocalDirectory;
        throw LaunchException.Invalid("InvalidSourceUri",
            $"The uri '{uri}' is neither a git repository (https://…, ssh://… or git@host:path) nor an absolute path to a local directory.", uri);
    }
}
