using System.Management.Automation;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Queues;

/// <summary>
/// <para type="synopsis">Deletes launch queues and the items waiting in them.</para>
/// </summary>
[Cmdlet(VerbsCommon.Remove, "WandbLaunchQueue", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class RemoveWandbLaunchQueueCommand : QueueCmdlet
{
    /// <summary>The queues to delete; wildcards are allowed. Queues from Get-WandbLaunchQueue bind by name.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string[] Name { get; set; } = [];

    /// <summary>Delete the queue even while agents run jobs from it (those jobs keep running but are no longer tracked).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <inheritdoc />
    private protected override void ProcessRecordCore()
    {
        IEnumerable<LaunchQueue> queues = [];
        if (!TryRun(() => queues = FindQueues(Name).ToList())) return;
        foreach (var queue in queues)
        {
            var waiting = queue.PendingCount + queue.ActiveCount;
            var what = waiting == 0 ? $"{queue} in {Backend.Location}" : $"{queue} in {Backend.Location} and its {waiting} unfinished job(s)";
            if (!ShouldProcess(what, "Remove launch queue")) continue;
            TryRun(() => Await(Backend.DeleteQueueAsync(KeyFor(queue.Name), Force, StopToken)));
        }
    }
}
