using System.Text.RegularExpressions;

namespace WandbLaunch.Engine.Builders;

/// <summary>
/// The line the bootstrap of a generated image writes when some frozen requirements would not install
/// (<c>ERROR: Failed to install: a,b. During automated build process.</c>). The build goes on without them, and W&amp;B's
/// agent reports them as a build warning in these words (<c>launch/utils.py</c>, <c>warn_failed_packages_from_build_logs</c>).
/// </summary>
public static partial class FailedPackages
{
    [GeneratedRegex(@"ERROR: Failed to install: (.*)\. During automated build process\.")]
    private static partial Regex Line();

    /// <summary>The packages a build output line names, or null.</summary>
    public static string? In(string line) => Line().Match(line) is { Success: true } m ? m.Groups[1].Value : null;

    public static string Warning(string packages, string image) =>
        $"Failed to install the following packages: {packages} for image: {image}. Will attempt to launch image without them.";
}
