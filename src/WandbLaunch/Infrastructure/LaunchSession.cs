using System.Collections.Concurrent;
using System.Management.Automation.Runspaces;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Services;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Infrastructure;

/// <summary>
/// Which backend connection each PowerShell session (runspace) uses. Without Connect-WandbLaunch a session uses the
/// engine's default (<see cref="SessionDefaults"/>: the local store at WANDB_LAUNCH_DB or
/// ~/.config/wandb/launch/launch.db, or with WANDB_LAUNCH_BACKEND=wandb the W&amp;B server the W&amp;B variables name),
/// read afresh on every call so that changing a variable takes effect at once. The backends themselves are the engine's (<see cref="LaunchBackends"/>): one
/// per connection for the whole process, so an -AsJob agent keeps using the backend of the session that started it.
/// </summary>
internal static class LaunchSession
{
    private static readonly ConcurrentDictionary<Guid, BackendConnection> Connected = new();

    /// <summary>This session's connection: the one Connect-WandbLaunch chose, else the default local store.</summary>
    public static BackendConnection Connection =>
        Runspace.DefaultRunspace is { } runspace && Connected.TryGetValue(runspace.InstanceId, out var connection)
            ? connection
            : SessionDefaults.Connection();

    public static ILaunchBackend Current => LaunchBackends.For(Connection);

    /// <summary>Where this session's queue-less launches are recorded: the local store, with the server's runs on a W&amp;B connection.</summary>
    public static ILaunchBackend DirectLaunches => DirectLaunchBackend.For(Connection);

    /// <summary>Which backend a cmdlet uses and why, for -Verbose: the store or server, how it was chosen, the default entity.</summary>
    public static string Describe(ILaunchBackend backend)
    {
        var chosenBy = Runspace.DefaultRunspace is { } runspace && Connected.ContainsKey(runspace.InstanceId)
            ? "chosen by Connect-WandbLaunch"
            : SessionDefaults.ChosenBy(Connection);
        var kind = backend is SqliteLaunchBackend ? "local store" : "server";
        return $"{kind} {Printable.Quote(backend.Location)} ({chosenBy}), default entity {Printable.Quote(backend.DefaultEntity)}";
    }

    /// <summary>Opens and checks the backend for <paramref name="connection"/>, then binds this session to it.</summary>
    public static async Task<ILaunchBackend> ConnectAsync(BackendConnection connection, CancellationToken cancellationToken)
    {
        // Taken before the await: a check that really waits (a server) continues on a pool thread without a runspace.
        var runspace = Runspace.DefaultRunspace;
        var backend = await LaunchBackends.ConnectAsync(connection, cancellationToken).ConfigureAwait(false);
        if (runspace is not null) Connected[runspace.InstanceId] = connection;
        return backend;
    }
}
