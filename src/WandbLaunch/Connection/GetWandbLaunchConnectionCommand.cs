using System.Management.Automation;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Connection;

/// <summary>
/// <para type="synopsis">Shows what this PowerShell session works with: the kind of backend, where it is, and the default entity.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "WandbLaunchConnection")]
[OutputType(typeof(LaunchConnection))]
public sealed class GetWandbLaunchConnectionCommand : WandbLaunchCmdlet
{
    /// <inheritdoc />
    private protected override void EndProcessingCore()
    {
        // Reads the connection only: it neither opens nor creates the store.
        WriteObject(LaunchConnection.Of(LaunchSession.Connection, Backend));
    }
}
