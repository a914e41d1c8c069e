using System.Collections;
using System.Management.Automation;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Services;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Jobs;

/// <summary>
/// A launch request for a queue (W&amp;B's <c>wandb launch -q</c>): the spec parameters of <see cref="LaunchSpecCmdlet"/>
/// plus the queue and what only a queue has (priority, template variables). Submit-WandbLaunchJob and
/// Get-WandbLaunchJobManifest.
/// </summary>
public abstract class QueuedLaunchSpecCmdlet : LaunchSpecCmdlet
{
    /// <summary>The queue: a name (in -Entity's model-registry project) or a queue from Get-WandbLaunchQueue.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    [ValidateNotNull]
    public object Queue { get; set; } = "";

    /// <summary>Critical, High, Medium (the default) or Low; needs prioritization on the queue (W&amp;B's -P).</summary>
    [Parameter]
    public LaunchPriority Priority { get => (LaunchPriority)_priority; set => _priority = (int)value; }

    // Held as its number: a field of an engine enum type would make PowerShell load the engine when it imports the module
    // (it lists the cmdlet types then); see docs/architecture.md, "Load contexts".
    private int _priority = (int)LaunchPriority.Medium;

    /// <summary>Values for the queue's template variables, validated against their schemas (W&amp;B's --set-var).</summary>
    [Parameter]
    [Alias("SetVar")]
    public IDictionary? TemplateVariable { get; set; }

    /// <inheritdoc />
    private protected override SubmitOptions Options()
    {
        var queue = Queue is PSObject pso ? pso.BaseObject : Queue;
        if (queue is not (LaunchQueue or string))
        {
            throw LaunchException.Invalid("InvalidQueueArgument",
                $"-Queue takes a queue name or a queue from Get-WandbLaunchQueue; it was a {queue.GetType().Name}.", queue);
        }
        return base.Options() with
        {
            Queue = queue is LaunchQueue q ? new QueueKey(q.Entity, q.Project, q.Name) : null,
            QueueName = queue as string,
            Priority = IsBound(nameof(Priority)) ? Priority : null,
            TemplateValues = TemplateVariable is null ? null : (JsonObject?)PowerShellValues.ToJson(TemplateVariable, "InvalidTemplateValue"),
        };
    }
}
