using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Queues;

/// <summary>No queue by that name (the message says where it was looked for and what to do).</summary>
public sealed class QueueNotFoundException(string message, string queueName)
    : LaunchException("QueueNotFound", LaunchErrorCategory.ObjectNotFound, message, queueName)
{
    /// <summary>The queue <paramref name="key"/> names does not exist.</summary>
    public static QueueNotFoundException For(QueueKey key) =>
        new($"There is no queue named '{key.Name}' in {key.Entity}/{key.Project}. Get-WandbLaunchQueue lists the queues there.", key.Name);
}
