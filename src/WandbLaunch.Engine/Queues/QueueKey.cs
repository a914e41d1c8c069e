namespace WandbLaunch.Engine.Queues;

/// <summary>Identifies a queue: its name within an entity and project.</summary>
public sealed record QueueKey(string Entity, string Project, string Name)
{
    public override string ToString() => $"{Entity}/{Project}/{Name}";
}
