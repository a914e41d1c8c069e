using System.Management.Automation;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Queues;

/// <summary>
/// <para type="synopsis">Gets launch queues.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "WandbLaunchQueue")]
[OutputType(typeof(LaunchQueue))]
public sealed class GetWandbLaunchQueueCommand : QueueCmdlet
{
    /// <summary>Queue names; wildcards are allowed. Without it, every queue in the entity and project.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string[]? Name { get; set; }

    /// <inheritdoc />
    private protected override void ProcessRecordCore()
    {
        TryRun(() => WriteObject(FindQueues(Name), enumerateCollection: true));
    }
}
