using System.Diagnostics;
using System.Runtime.CompilerServices;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Services;

/// <summary>
/// Waits until jobs end (Finished, Failed, Stopped), woken by the backend's change signal
/// (<see cref="ILaunchBackend.WaitForChangeAsync"/>) and re-reading at least every <see cref="FallbackPoll"/>; on a
/// backend without a change signal (a W&amp;B server, where each read is requests), at its cadence's
/// <see cref="PollCadence.WatchInterval"/> instead (2 s, then 5 s, as the SDK's waits).
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
        EngineLog.Verbose(Source, () => $"waiting for {Ids(jobIds)} to end (Finished, Failed or Stopped)" +
            (any ? ", returning at the first" : "") + (timeout is { } t ? $", at most {FormatSeconds(t)} s" : ""));
        await PrimeAsync(cancellationToken).ConfigureAwait(false);
        while (waiting.Count > 0)
        {
            var jobs = await backend.GetJobsAsync(new JobQuery { Ids = waiting }, cancellationToken).ConfigureAwait(false);
            if (EngineLog.IsEnabled(DiagnosticLevel.Debug)) EngineLog.Debug(Source, States(jobs));
            foreach (var job in jobs.Where(j => j.State.IsTerminal()))
            {
                EngineLog.Verbose(Source, () => $"job {Printable.Escape(job.Id)} ended: {job.State}");
                yield return new JobWaitResult(job.Id, job, null);
                waiting.Remove(job.Id);
                if (any) yield break;
            }
            waiting.RemoveAll(id => jobs.All(j => j.Id != id)); // removed meanwhile
            if (waiting.Count == 0) yield break;
            var poll = Poll(clock.Elapsed);
            var remaining = timeout is null ? poll : timeout.Value - clock.Elapsed;
            if (remaining <= TimeSpan.Zero) break;
            await ChangeWait.ForChangeAsync(backend, remaining < poll ? remaining : poll, cancellationToken).ConfigureAwait(false);
            if (cancellationToken.IsCancellationRequested) yield break;
        }
        if (waiting.Count > 0) EngineLog.Verbose(Source, () => $"gave up after {FormatSeconds(timeout!.Value)} s: {Ids(waiting)} still not ended");
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
        EngineLog.Verbose(Source, () => $"waiting for job {Printable.Escape(job.Id)} to end");
        await PrimeAsync(cancellationToken).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        var current = await backend.GetJobAsync(job.Id, cancellationToken).ConfigureAwait(false) ?? job;
        while (!current.State.IsTerminal() && !cancellationToken.IsCancellationRequested)
        {
            await ChangeWait.ForChangeAsync(backend, Poll(clock.Elapsed), cancellationToken).ConfigureAwait(false);
            if (cancellationToken.IsCancellationRequested) break;
            var read = await backend.GetJobAsync(job.Id, cancellationToken).ConfigureAwait(false);
            if (read is null) break;
            current = read;
            EngineLog.Debug(Source, () => $"job {Printable.Escape(read.Id)} is {read.State}");
        }
        EngineLog.Verbose(Source, () => $"job {Printable.Escape(current.Id)} is {current.State}");
        return current;
    }

    /// <summary>How long to wait before reading again, <paramref name="waited"/> into the wait.</summary>
    private TimeSpan Poll(TimeSpan waited) => backend.Cadence is { } cadence ? cadence.WatchInterval(waited) : FallbackPoll;

    /// <summary>
    /// A backend's change signal counts from its previous wait: a first wait after the first read would miss a
    /// change made between the two, so the wait is started (and ends at once) before anything is read.
    /// </summary>
    private Task PrimeAsync(CancellationToken cancellationToken) => backend.WaitForChangeAsync(TimeSpan.Zero, cancellationToken);

    private const string Source = "watch";

    private static string Ids(IReadOnlyCollection<string> ids) =>
        (ids.Count == 1 ? "job " : "jobs ") + string.Join(", ", ids.Take(20).Select(Printable.Escape)) + (ids.Count > 20 ? $" and {ids.Count - 20} more" : "");

    private static string States(IReadOnlyList<LaunchJob> jobs) =>
        $"read {jobs.Count} job(s): " + string.Join(", ", jobs.Take(20).Select(j => $"{Printable.Escape(j.Id)} {j.State}")) + (jobs.Count > 20 ? ", …" : "");

    private static string FormatSeconds(TimeSpan span) =>
        span.TotalSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
}
