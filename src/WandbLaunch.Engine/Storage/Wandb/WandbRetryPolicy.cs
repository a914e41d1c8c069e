namespace WandbLaunch.Engine.Storage.Wandb;

/// <summary>
/// How long the client keeps retrying a request that failed in a way that may pass (network error, timeout, 429,
/// 5xx): exponential back-off with full jitter (a random wait up to base × 2^attempt, capped), Retry-After honoured,
/// until <see cref="Budget"/> is spent. Cmdlets use <see cref="Interactive"/>; the agent uses <see cref="Agent"/>, long
/// enough to ride out a server restart, as W&amp;B's own clients retry for minutes.
/// </summary>
public sealed record WandbRetryPolicy(TimeSpan Budget, TimeSpan BaseDelay, TimeSpan MaxDelay)
{
    public static readonly WandbRetryPolicy Interactive = new(TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(8));

    public static readonly WandbRetryPolicy Agent = new(TimeSpan.FromMinutes(15), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));

    /// <summary>No retries: one attempt.</summary>
    public static readonly WandbRetryPolicy None = new(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero);

    /// <summary>The wait before retry number <paramref name="attempt"/> (1-based): a random time in [0, min(max, base × 2^(attempt-1))].</summary>
    public TimeSpan Delay(int attempt, Random random)
    {
        var ceiling = Math.Min(MaxDelay.TotalMilliseconds, BaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30)));
        return TimeSpan.FromMilliseconds(random.NextDouble() * ceiling);
    }
}
