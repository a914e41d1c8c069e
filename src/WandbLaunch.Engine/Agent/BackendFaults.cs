using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Agent;

/// <summary>How long the agent waits between attempts while its backend cannot be used: doubling from <see cref="First"/> up to <see cref="Max"/>, jittered by ±25 %.</summary>
public sealed record StoreRetryPolicy(TimeSpan First, TimeSpan Max)
{
    /// <summary>0.5 s, doubling up to 10 s.</summary>
    public static StoreRetryPolicy Default { get; } = new(TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(10));

    public TimeSpan Delay(int attempt)
    {
        var ticks = Math.Min(Max.Ticks, First.Ticks * Math.Pow(2, Math.Min(attempt, 30)));
        // Jitter, so that agents that met the same lock or outage do not all come back at the same instant.
        return TimeSpan.FromTicks((long)(ticks * (0.75 + Random.Shared.NextDouble() * 0.5)));
    }
}

/// <summary>
/// The agent's backend faults that pass (<see cref="LaunchException.IsTransient"/>): a store locked by another process
/// beyond the busy timeout (StoreBusy), a full disk (StoreFull), a file it may not write for now (StoreNotWritable); a
/// W&amp;B server that stays down, overloaded or silent for longer than the client's retry budget (WandbUnreachable,
/// WandbServerError with 429/5xx). One warning when an episode starts (or its error changes), one line when it ends,
/// and back-off in between; the agent keeps running and holding its jobs meanwhile.
/// </summary>
internal sealed class BackendFaults(StoreRetryPolicy policy, string location, Action<AgentEventKind, string> report)
{
    private DateTime? _since;
    private string? _errorId;
    private bool _store;
    private int _attempt;

    public async Task WaitAsync(LaunchException e, CancellationToken cancellationToken)
    {
        if (_since is null || _errorId != e.ErrorId)
        {
            _since ??= DateTime.UtcNow;
            _errorId = e.ErrorId;
            _store = e is StoreException;
            report(AgentEventKind.Warning,
                $"{e.Message} ({e.ErrorId}) The agent keeps running and holding its jobs, and tries again every {policy.First.TotalSeconds:0.#} to {policy.Max.TotalSeconds:0.#} s.");
        }
        await Task.Delay(policy.Delay(_attempt++), cancellationToken).ConfigureAwait(false);
    }

    public void Succeeded()
    {
        if (_since is not { } since) return;
        var seconds = (DateTime.UtcNow - since).TotalSeconds;
        report(AgentEventKind.Status, _store
            ? $"The store can be used again (after {seconds:0.#} s of {_errorId}); the agent carries on"
            : $"{location} answers again (after {seconds:0.#} s of {_errorId}); the agent carries on");
        _since = null;
        _errorId = null;
        _attempt = 0;
    }

    /// <summary>Runs <paramref name="write"/>, again with back-off while its fault passes, for up to <paramref name="limit"/>.</summary>
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
            catch (LaunchException e) when (e.IsTransient && DateTime.UtcNow < deadline)
            {
                await Task.Delay(policy.Delay(attempt)).ConfigureAwait(false);
            }
        }
    }
}
