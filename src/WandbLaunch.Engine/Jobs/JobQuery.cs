namespace WandbLaunch.Engine.Jobs;

/// <summary>Which jobs to list; null members do not filter.</summary>
public sealed class JobQuery
{
    public Queues.QueueKey? Queue { get; init; }

    public IReadOnlyCollection<string>? Ids { get; init; }

    public IReadOnlyCollection<LaunchJobState>? States { get; init; }

    public string? AgentId { get; init; }

    /// <summary>Newest first, at most this many.</summary>
    public int? Limit { get; init; }
}
