using System.Management.Automation;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Connection;

/// <summary>
/// <para type="synopsis">Chooses the launch store this PowerShell session works with.</para>
/// </summary>
/// <remarks>
/// Each parameter set describes one kind of backend as a <see cref="BackendConnection"/>; the engine opens it. A new
/// kind is a new parameter set here and a new folder in the engine.
/// </remarks>
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
        var connection = Describe();
        var backend = RunOrTerminate(() => Await(LaunchSession.ConnectAsync(connection, StopToken)));
        WriteObject(LaunchConnection.Of(connection, backend));
    }

    /// <summary>The connection the bound parameter set describes (the local store is the only kind so far).</summary>
    private BackendConnection Describe()
    {
        var path = Path is null ? LaunchDefaults.DatabasePath() : SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
        return new LocalStoreConnection(path) { Entity = Entity };
    }
}
