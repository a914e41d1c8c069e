using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Queues;

public static class QueueNames
{
    public const int MaxLength = SpecNames.MaxQueueNameLength;

    /// <summary>Checks a queue name (the rule is <see cref="SpecNames.QueueName"/>).</summary>
    public static string Validate(string? name) => SpecNames.QueueName(name);
}
