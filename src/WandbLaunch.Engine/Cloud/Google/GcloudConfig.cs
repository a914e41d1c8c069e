namespace WandbLaunch.Engine.Cloud.Google;

/// <summary>What gcloud keeps on disk that Application Default Credentials read: its folder and its core/project.</summary>
internal static class GcloudConfig
{
    /// <summary><c>CLOUDSDK_CONFIG</c>, else <c>%APPDATA%\gcloud</c> on Windows and <c>~/.config/gcloud</c> elsewhere.</summary>
    public static string Directory(Func<string, string?> environment)
    {
        if (environment("CLOUDSDK_CONFIG") is { Length: > 0 } configured) return configured;
        if (OperatingSystem.IsWindows() && environment("APPDATA") is { Length: > 0 } appData) return Path.Combine(appData, "gcloud");
        var home = environment("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(home, ".config", "gcloud");
    }

    /// <summary>gcloud's core/project.</summary>
    public static string? Project(Func<string, string?> environment) => Property(environment, "core", "project");

    /// <summary>gcloud's compute/region (what <c>gcloud config get-value compute/region</c> answers).</summary>
    public static string? Region(Func<string, string?> environment) => Property(environment, "compute", "region");

    /// <summary>
    /// A gcloud property: <c>CLOUDSDK_&lt;SECTION&gt;_&lt;NAME&gt;</c>, else <paramref name="name"/> in
    /// <c>[section]</c> of the active configuration (<c>CLOUDSDK_ACTIVE_CONFIG_NAME</c>, else the name in
    /// <c>active_config</c>, else default).
    /// </summary>
    private static string? Property(Func<string, string?> environment, string section, string name)
    {
        if (environment($"CLOUDSDK_{section.ToUpperInvariant()}_{name.ToUpperInvariant()}") is { Length: > 0 } value) return value;
        var directory = Directory(environment);
        try
        {
            var active = environment("CLOUDSDK_ACTIVE_CONFIG_NAME") is { Length: > 0 } named ? named
                : File.Exists(Path.Combine(directory, "active_config")) ? File.ReadAllText(Path.Combine(directory, "active_config")).Trim() : "default";
            if (active.Length == 0 || active.IndexOfAny(['/', '\\', '.']) >= 0) return null;
            var file = Path.Combine(directory, "configurations", "config_" + active);
            if (!File.Exists(file) || new FileInfo(file).Length > 64 * 1024) return null;
            var current = "";
            foreach (var raw in File.ReadLines(file))
            {
                var line = raw.Trim();
                if (line.StartsWith('[') && line.EndsWith(']')) current = line[1..^1].Trim();
                else if (current == section && line.Split('=', 2) is [var key, var found] && key.Trim() == name && found.Trim().Length > 0) return found.Trim();
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return null;
    }
}
