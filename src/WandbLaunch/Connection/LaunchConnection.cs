using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Wandb;

namespace WandbLaunch.Connection;

/// <summary>The backend a PowerShell session is connected to. Never carries a secret.</summary>
public sealed class LaunchConnection
{
    /// <summary>Local (an SQLite file) or Wandb (a W&amp;B server).</summary>
    public required string Kind { get; init; }

    /// <summary>The store file or server URL.</summary>
    public required string Location { get; init; }

    /// <summary>The entity used when a cmdlet is given none.</summary>
    public required string DefaultEntity { get; init; }

    /// <summary>On a W&amp;B server, the user (or service account) the API key belongs to; null for the local store.</summary>
    public string? User { get; init; }

    internal static LaunchConnection Of(BackendConnection connection, ILaunchBackend backend) =>
        new()
        {
            Kind = connection.Kind,
            Location = backend.Location,
            DefaultEntity = backend.DefaultEntity,
            User = backend is WandbLaunchBackend wandb ? wandb.ConnectedAs?.Username : null,
        };
}
