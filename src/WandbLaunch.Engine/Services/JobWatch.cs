using System.Diagnostics;
using System.Runtime.CompilerServices;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Engine.Services;

/// <summary>
/// Waits until jobs end (Finished, Failed, Stopped), woken by the backend's change signal
/// (<see cref="ILaunchBackend.WaitForChangeAsync"/>) and re-reading at least every <see cref="FallbackPoll"/>.
/// Used by Wait-WandbLaunchJob and Stop-WandbLaunchJob -Wait. Cancelling ends a wait quietly.
/// </summary>
public sealed class JobWatch(ILaunchBackend backend)
{
    /// <summary>How long a wait goes without re-reading when the backend signals no change.</summary>
    public TimeSpan FallbackPoll { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Each job as it ends, in the order they end. A job removed meanwhile is dropped. When <paramref name="timeout"/>
    /// passes, each job still running comes with a JobWaitTimeout error. With <paramref name="any"/>, stops after the
    /// first job that ends.
    /// </summary>
    public async IAsyncEnumerable<JobWaitResult> WaitAsync(IReadOnlyList<string> jobIds, TimeSpan? timeout, bool any,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var waiting = jobIds.Distinct().ToList();
        var clock = Stopwatch.StartNew();
        await PrimeAsync(cancellationToken).ConfigureAwait(false);
        while (waiting.Count > 0)
        {
            var jobs = await backend.GetJobsAsync(new JobQuery { Ids = waiting }, cancellationToken).ConfigureAwait(false);
            foreach (var job in jobs.Where(j => j.State.IsTerminal()))
            {
                yield return new JobWaitResult(job.Id, job, null);
                waiting.Remove(job.Id);
                if (any) yield break;
            }
            waiting.RemoveAll(id => jobs.All(j => j.Id != id)); // removed meanwhile
            if (waiting.Count == 0) yield break;
            var remaining = timeout is null ? FallbackPoll : timeout.Value - clock.Elapsed;
            if (remaining <= TimeSpan.Zero) break;
            await backend.WaitForChangeAsync(remaining < FallbackPoll ? remaining : FallbackPoll, cancellationToken).ConfigureAwait(false);
            if (cancellationToken.IsCancellationRequested) yield break;
        }
        foreach (var id in waiting)
        {
            yield return new JobWaitResult(id, null, new LaunchException("JobWaitTimeout", LaunchErrorCategory.OperationTimeout,
                $"Job {id} did not finish within {FormatSeconds(timeout!.Value)} s.", id));
        }
    }

    /// <summary>
    /// The job once it has ended; if it is removed or the wait is cancelled first, the last state read
    /// (<paramref name="job"/> at the start).
    /// </summary>
    public async Task<LaunchJob> UntilEndedAsync(LaunchJob job, CancellationToken cancellationToken)
    {
        await PrimeAsync(cancellationToken).ConfigureAwait(false);
        var current = await backend.GetJobAsync(job.Id, cancellationToken).ConfigureAwait(false) ?? job;
        while (!current.State.IsTerminal() && !cancellationToken.IsCancellationRequested)
        {
            await backend.WaitForChangeAsync(FallbackPoll, cancellationToken).ConfigureAwait(false);
            if (cancellationToken.IsCancellationRequested) break;
            var read = await backend.GetJobAsync(job.Id, cancellationToken).ConfigureAwait(false);
            if (read is null) break;
            current = read;
        }
        return current;
    }

    /// <summary>
    /// A backend's change signal counts from its previous wait: a first wait after the first read would miss a
    /// change made between the two, so the wait is started (and ends at once) before anything is read.
    /// </summary>
    private Task PrimeAsync(CancellationToken cancellationToken) => backend.WaitForChangeAsync(TimeSpan.Zero, cancellationToken);

    private static string FormatSeconds(TimeSpan span) =>
        span.TotalSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
}
