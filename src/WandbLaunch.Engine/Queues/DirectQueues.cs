using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Identifiers;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Queues;

/// <summary>
/// Where a queue-less launch (Invoke-WandbLaunchJob, W&amp;B's <c>wandb launch</c> without <c>-q</c>) is recorded: a
/// queue of its own, made for that one launch job, in a project reserved for them. Users cannot make queues there or
/// submit to them, agents poll only their queues in <c>model-registry</c>, and Get-WandbLaunchQueue lists that project
/// only when asked for it, so these queues never collide with a user's, are never served by another agent and do not
/// show as the user's queues; their jobs show like any other (Get-WandbLaunchJob, Get-WandbLaunchJobLog...).
/// </summary>
public static class DirectQueues
{
    /// <summary>The reserved project that holds the direct launches' queues.</summary>
    public const string Project = "wandblaunch-direct";

    /// <summary>A new queue key for one direct launch, in <paramref name="entity"/>'s reserved project.</summary>
    public static QueueKey NewKey(string entity) => new(entity, Project, Ids.New("direct"));

    public static bool IsDirect(string? project) => string.Equals(project, Project, StringComparison.OrdinalIgnoreCase);

    /// <summary>Throws unless <paramref name="key"/> is a direct launch's queue (only those are made for a direct launch).</summary>
    public static void RequireDirect(QueueKey key)
    {
        if (!IsDirect(key.Project)) throw new InvalidOperationException($"{key} is not a direct launch's queue.");
    }

    /// <summary>Refuses a user's queue operation (create, submit) in the reserved project.</summary>
    public static void RefuseReserved(string? project, string action)
    {
        if (!IsDirect(project)) return;
        throw new LaunchException("ReservedQueueProject", LaunchErrorCategory.InvalidArgument,
            $"Cannot {action} in project {Printable.Quote(project!)}: it is reserved for the queue-less launches of Invoke-WandbLaunchJob. Use another project (queues live in 'model-registry' by default).",
            project);
    }
}
