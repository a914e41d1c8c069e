using WandbLaunch.Engine.FileSystem;

namespace WandbLaunch.Engine.Storage.Sqlite;

/// <summary>A connection to the local store: an SQLite file on this host.</summary>
public sealed record LocalStoreConnection : BackendConnection
{
    /// <param name="path">The store file; <c>~</c> is the home folder, and a relative path is taken from the process's current directory.</param>
    public LocalStoreConnection(string path)
    {
        Path = System.IO.Path.GetFullPath(UserHome.Expand(path));
    }

    /// <summary>The store a session uses until it connects: WANDB_LAUNCH_DB, else ~/.config/wandb/launch/launch.db, read at each call.</summary>
    public static LocalStoreConnection Default() => new(LaunchDefaults.DatabasePath());

    /// <summary>The full path of the store file.</summary>
    public string Path { get; }

    public override string Kind => "Local";

    public override string Location => Path;

    internal override ILaunchBackend Create() => new SqliteLaunchBackend(Path, Entity);

    internal override Task CheckAsync(ILaunchBackend backend, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ((SqliteLaunchBackend)backend).EnsureOpen();
        return Task.CompletedTask;
    }
}
