using System.Management.Automation;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Connection;

/// <summary>
/// <para type="synopsis">Chooses the launch store this PowerShell session works with.</para>
/// </summary>
[Cmdlet(VerbsCommunications.Connect, "WandbLaunch", DefaultParameterSetName = LocalSet)]
[OutputType(typeof(LaunchConnection))]
public sealed class ConnectWandbLaunchCommand : WandbLaunchCmdlet
{
    private const string LocalSet = "Local";

    /// <summary>
    /// The local store file (SQLite). It is created if missing. Default: WANDB_LAUNCH_DB, else
    /// ~/.config/wandb/launch/launch.db.
    /// </summary>
    [Parameter(Position = 0, ParameterSetName = LocalSet)]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>The entity used when a cmdlet is given none. Default: WANDB_ENTITY, else the local user name.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Entity { get; set; }

    /// <inheritdoc />
    private protected override void EndProcessingCore()
    {
        var path = Path is null ? Engine.Storage.LaunchDefaults.DatabasePath() : SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
        var backend = RunOrTerminate(() =>
        {
            var store = Entity is null ? LaunchSession.Local(path) : new SqliteLaunchBackend(path, Entity);
            store.EnsureOpen();
            return store;
        });
        LaunchSession.Connect(backend);
        WriteObject(new LaunchConnection { Kind = "Local", Location = backend.Location, DefaultEntity = backend.DefaultEntity });
    }
}
