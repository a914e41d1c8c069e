namespace WandbLaunch.Engine.Queues;

/// <summary>Who may push to a queue (W&amp;B's <c>access</c> values PROJECT and USER).</summary>
public enum QueueAccess
{
    Project,
    User,
}
