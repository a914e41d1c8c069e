using System.Management.Automation;
using System.Runtime.InteropServices;
using System.Security;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Engine.Storage.Wandb;
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
    private const string ServerSet = "Server";
    private const string WandbSet = "Wandb";

    /// <summary>
    /// The local store file (SQLite). It is created if missing. Default: WANDB_LAUNCH_DB, else
    /// ~/.config/wandb/launch/launch.db.
    /// </summary>
    [Parameter(Position = 0, ParameterSetName = LocalSet)]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>The W&amp;B server (https://api.wandb.ai or a self-hosted server's URL). The API key and entity are checked at once.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ServerSet)]
    [ValidateNotNullOrEmpty]
    public string? BaseUrl { get; set; }

    /// <summary>Connects to the W&amp;B server W&amp;B's own tools use: WANDB_BASE_URL, else base_url in the W&amp;B settings file, else https://api.wandb.ai.</summary>
    [Parameter(Mandatory = true, ParameterSetName = WandbSet)]
    public SwitchParameter Wandb { get; set; }

    /// <summary>The W&amp;B API key, as a SecureString or a string. Default: WANDB_API_KEY, else the netrc entry 'wandb login' wrote for the server.</summary>
    [Parameter(ParameterSetName = ServerSet)]
    [Parameter(ParameterSetName = WandbSet)]
    [ValidateNotNull]
    public object? ApiKey { get; set; }

    /// <summary>
    /// The entity used when a cmdlet is given none. Local store: WANDB_ENTITY, else the local user name. W&amp;B server:
    /// WANDB_ENTITY, else entity in the W&amp;B settings file, else the key's default entity (viewer).
    /// </summary>
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

    /// <summary>The connection the bound parameter set describes.</summary>
    private BackendConnection Describe()
    {
        if (ParameterSetName != LocalSet)
        {
            return RunOrTerminate(() => WandbCredentials.Resolve(new WandbConnectRequest(BaseUrl, KeyText(), Entity)));
        }
        var path = Path is null ? LaunchDefaults.DatabasePath() : SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
        return new LocalStoreConnection(path) { Entity = Entity };
    }

    /// <summary>-ApiKey as text: a SecureString is read here, at the last moment, and never stored as given.</summary>
    private string? KeyText()
    {
        switch (ApiKey is PSObject wrapped ? wrapped.BaseObject : ApiKey)
        {
            case null:
                return null;
            case SecureString secure:
                var pointer = Marshal.SecureStringToGlobalAllocUnicode(secure);
                try
                {
                    return Marshal.PtrToStringUni(pointer);
                }
                finally
                {
                    Marshal.ZeroFreeGlobalAllocUnicode(pointer);
                }
            case string text:
                return text;
            default:
                ThrowTerminatingError(LaunchErrors.Create("WandbApiKeyInvalid", ErrorCategory.InvalidArgument, "-ApiKey must be a SecureString or a string.", null));
                return null;
        }
    }
}
