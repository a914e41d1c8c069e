using System.Collections.Concurrent;

namespace WandbLaunch.Engine.Storage;

/// <summary>
/// The one place a backend is opened from a <see cref="BackendConnection"/>. One backend serves each connection for
/// the whole process (every runspace, foreground agent and -AsJob agent on it), so a store's connections and change
/// watcher are not multiplied per command.
/// </summary>
public static class LaunchBackends
{
    private static readonly ConcurrentDictionary<BackendConnection, Lazy<ILaunchBackend>> Opened = new();

    /// <summary>The backend for <paramref name="connection"/>, created on first use without contacting it.</summary>
    public static ILaunchBackend For(BackendConnection connection) =>
        Opened.GetOrAdd(connection, c => new Lazy<ILaunchBackend>(c.Create)).Value;

    /// <summary>The backend for <paramref name="connection"/>, checked to be there and usable (Connect-WandbLaunch).</summary>
    public static async Task<ILaunchBackend> ConnectAsync(BackendConnection connection, CancellationToken cancellationToken)
    {
        var backend = For(connection);
        await connection.CheckAsync(backend, cancellationToken).ConfigureAwait(false);
        return backend;
    }
}
