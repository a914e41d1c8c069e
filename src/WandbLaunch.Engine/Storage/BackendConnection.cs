namespace WandbLaunch.Engine.Storage;

/// <summary>
/// What a session connects to: a kind of backend and its settings (Connect-WandbLaunch builds one from its
/// parameter set). Each backend's folder adds one subclass that knows how to create its backend; a connection is a
/// value (equal settings, equal connection), so <see cref="LaunchBackends"/> keeps one backend per connection.
/// </summary>
public abstract record BackendConnection
{
    /// <summary>Local (an SQLite file) or, later, Wandb (a W&amp;B server).</summary>
    public abstract string Kind { get; }

    /// <summary>The store file or server URL.</summary>
    public abstract string Location { get; }

    /// <summary>The entity used when a caller names none; null means the backend's own default.</summary>
    public string? Entity { get; init; }

    /// <summary>A new backend for this connection; contacts nothing yet.</summary>
    internal abstract ILaunchBackend Create();

    /// <summary>Makes sure the backend is there and usable (the store opens, the server answers), so a bad connection fails at connect time.</summary>
    internal abstract Task CheckAsync(ILaunchBackend backend, CancellationToken cancellationToken);

    /// <summary>Kind and location only: a later kind's settings include secrets (an API key), which must never print.</summary>
    public sealed override string ToString() => $"{Kind} {Location}";
}
