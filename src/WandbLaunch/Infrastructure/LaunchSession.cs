using System.Collections.Concurrent;
using System.Management.Automation.Runspaces;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Infrastructure;

/// <summary>
/// Which backend each PowerShell session (runspace) uses. Without Connect-WandbLaunch a session uses the local
/// store at WANDB_LAUNCH_DB or ~/.config/wandb/launch/launch.db, read afresh on every call so that changing the
/// variable takes effect at once. One backend object per store path serves the whole process.
/// </summary>
internal static class LaunchSession
{
    private static readonly ConcurrentDictionary<Guid, ILaunchBackend> Connected = new();
    private static readonly ConcurrentDictionary<string, SqliteLaunchBackend> LocalStores = new(StringComparer.Ordinal);

    public static ILaunchBackend Current
    {
        get
        {
            if (Runspace.DefaultRunspace is { } runspace && Connected.TryGetValue(runspace.InstanceId, out var backend)) return backend;
            return Local(LaunchDefaults.DatabasePath());
        }
    }

    public static SqliteLaunchBackend Local(string path)
    {
        var full = Path.GetFullPath(LaunchDefaults.ExpandHome(path));
        return LocalStores.GetOrAdd(full, p => new SqliteLaunchBackend(p));
    }

    /// <summary>Which backend a cmdlet uses and why, for -Verbose: the store or server, how it was chosen, the default entity.</summary>
    public static string Describe(ILaunchBackend backend)
    {
        var chosenBy = Runspace.DefaultRunspace is { } runspace && Connected.TryGetValue(runspace.InstanceId, out var connected) && ReferenceEquals(connected, backend)
            ? "chosen by Connect-WandbLaunch"
            : string.IsNullOrEmpty(Environment.GetEnvironmentVariable(LaunchDefaults.DatabaseVariable)) ? "the default store" : $"from {LaunchDefaults.DatabaseVariable}";
        var kind = backend is SqliteLaunchBackend ? "local store" : "server";
        return $"{kind} {Printable.Quote(backend.Location)} ({chosenBy}), default entity {Printable.Quote(backend.DefaultEntity)}";
    }

    public static void Connect(ILaunchBackend backend)
    {
        if (Runspace.DefaultRunspace is { } runspace) Connected[runspace.InstanceId] = backend;
    }
}
