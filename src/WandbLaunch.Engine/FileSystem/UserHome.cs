namespace WandbLaunch.Engine.FileSystem;

/// <summary>The user's home directory, and <c>~</c> in paths the user gives (launch-config.yaml, WANDB_LAUNCH_DB, -Path).</summary>
public static class UserHome
{
    /// <summary><c>HOME</c> when set, else the user's profile folder.</summary>
    public static string Directory() =>
        Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } home
            ? home
            : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    /// <summary><paramref name="path"/> with a leading <c>~</c> (alone, or before / or \) replaced by <see cref="Directory"/>.</summary>
    public static string Expand(string path) =>
        path == "~" ? Directory()
        : path.StartsWith("~/", StringComparison.Ordinal) || path.StartsWith("~\\", StringComparison.Ordinal) ? Path.Combine(Directory(), path[2..])
        : path;
}
