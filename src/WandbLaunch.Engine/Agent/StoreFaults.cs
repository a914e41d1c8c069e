using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Agent;

/// <summary>How long the agent waits between attempts while its store cannot be used: doubling from <see cref="First"/> up to <see cref="Max"/>, jittered by ±25 %.</summary>
public sealed record StoreRetryPolicy(TimeSpan First, TimeSpan Max)
{
    /// <summary>0.5 s, doubling up to 10 s.</summary>
    public static StoreRetryPolicy Default { get; } = new(TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(10));

    public TimeSpan Delay(int attempt)
    {
        var ticks = Math.Min(Max.Ticks, First.Ticks * Math.Pow(2, Math.Min(attempt, 30)));
        // Jitter, so that agents that met the same lock do not all come back at the same instant.
        return TimeSpan.FromTicks((long)(ticks * (0.75 + Random.Shared.NextDouble() * 0.5)));
    }
}

/// <summary>
/// The agent's store faults that pass: locked by another process beyond the busy timeout (StoreBusy), a full disk
/// (StoreFull), a file it may not write for now (StoreNotWritable). One warning when an episode starts, one line when
/// it ends, and back-off in between; the agent keeps running and holding its jobs meanwhile.
/// </summary>
internal sealed class StoreFaults(StoreRetryPolicy policy, Action<AgentEventKind, string> report)
{
    private DateTime? _since;
    private StoreFault? _fault;
    private int _attempt;

    public async Task WaitAsync(StoreException e, CancellationToken cancellationToken)
    {
        if (_since is null || _fault != e.Fault)
        {
            _since ??= DateTime.UtcNow;
            _fault = e.Fault;
            report(AgentEventKind.Warning,
                $"{e.Message} ({e.ErrorId}) The agent keeps running and holding its jobs, and tries again every {policy.First.TotalSeconds:0.#} to {policy.Max.TotalSeconds:0.#} s.");
        }
        await Task.Delay(policy.Delay(_attempt++), cancellationToken).ConfigureAwait(false);
    }

    public void Succeeded()
    {
        if (_since is not { } since) return;
        report(AgentEventKind.Status, $"The store can be used again (after {(DateTime.UtcNow - since).TotalSeconds:0.#} s of Store{_fault}); the agent carries on");
        _since = null;
        _fault = null;
        _attempt = 0;
    }

    /// <summary>Runs <paramref name="write"/>, again with back-off while the store fault passes, for up to <paramref name="limit"/>.</summary>
    public static async Task RetryAsync(Func<Task> write, StoreRetryPolicy policy, TimeSpan limit) =>
        await RetryAsync(async () =>
        {
            await write().ConfigureAwait(false);
            return true;
        }, policy, limit).ConfigureAwait(false);

    public static async Task<T> RetryAsync<T>(Func<Task<T>> write, StoreRetryPolicy policy, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await write().ConfigureAwait(false);
            }
            catch (StoreException e) when (e.IsTransient && DateTime.UtcNow < deadline)
            {
                await Task.Delay(policy.Delay(attempt)).ConfigureAwait(false);
            }
        }
    }
}
