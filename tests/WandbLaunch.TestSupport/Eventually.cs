using System.Diagnostics;

namespace WandbLaunch.TestSupport;

/// <summary>Polls a probe or condition until it holds, failing with a <see cref="TimeoutException"/> after a timeout.</summary>
public static class Eventually
{
    /// <summary>How long a wait lasts when the caller names no timeout.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

    /// <summary>How long to sleep between two polls.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// Polls <paramref name="probe"/> until it returns a value and returns that value; fails with
    /// <paramref name="what"/> after <paramref name="timeout"/> (15 s unless given).
    /// </summary>
    public static async Task<T> Until<T>(Func<Task<T?>> probe, string what, TimeSpan? timeout = null) where T : class
    {
        var limit = timeout ?? DefaultTimeout;
        var elapsed = Stopwatch.StartNew();
        while (true)
        {
            if (await probe() is { } value) return value;
            if (elapsed.Elapsed > limit) throw new TimeoutException($"Timed out after {limit.TotalSeconds:0.#} s waiting for {what}.");
            await Task.Delay(PollInterval);
        }
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; fails with <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static Task Until(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        Until<object>(() => Task.FromResult(condition() ? new object() : null), what, timeout);

    /// <summary>Polls <paramref name="condition"/> until it holds; fails with <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static Task Until(Func<Task<bool>> condition, string what, TimeSpan? timeout = null) =>
        Until<object>(async () => await condition() ? new object() : null, what, timeout);
}
