using System.Runtime.CompilerServices;
using System.Threading.Channels;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Engine.Services;

/// <summary>A launch job and the backend that holds it (the one to stop, watch or read its log through).</summary>
public sealed record FoundJob(LaunchJob Job, ILaunchBackend Backend);

/// <summary>
/// Finds launch jobs by id for the cmdlets that act on existing jobs: in the connected backend, else, on a W&amp;B server
/// connection, among the queue-less launches (Invoke-WandbLaunchJob) recorded in the local store
/// (<see cref="DirectLaunchBackend"/>), which the server never saw. On the local store both are the same backend.
/// </summary>
/// <param name="connected">The session's backend.</param>
/// <param name="direct">Where its direct launches are recorded (<see cref="DirectLaunchBackend.For"/>).</param>
public sealed class JobLookup(ILaunchBackend connected, ILaunchBackend direct)
{
    /// <summary>Whether direct launches live apart from the connected backend's jobs, in a local store that exists.</summary>
    private bool Separate => !ReferenceEquals(connected, direct) && direct is not DirectLaunchBackend { RecordsExist: false };

    /// <summary>The job with this id, or null when neither holds it.</summary>
    public async Task<FoundJob?> FindAsync(string id, CancellationToken cancellationToken)
    {
        if (await connected.GetJobAsync(id, cancellationToken).ConfigureAwait(false) is { } job) return new FoundJob(job, connected);
        if (!Separate) return null;
        return await direct.GetJobAsync(id, cancellationToken).ConfigureAwait(false) is { } local && DirectQueues.IsDirect(local.Project)
            ? new FoundJob(local, direct)
            : null;
    }

    /// <summary>
    /// Get-WandbLaunchJob: the connected backend's jobs for <paramref name="query"/>, with the direct launches among
    /// the ids it asks for that the connected backend does not hold; with <paramref name="directOnly"/> (a project of
    /// <see cref="DirectQueues.Project"/>), the direct launches alone.
    /// </summary>
    public async Task<IReadOnlyList<LaunchJob>> GetJobsAsync(JobQuery query, bool directOnly, CancellationToken cancellationToken)
    {
        if (directOnly)
        {
            if (direct is DirectLaunchBackend { RecordsExist: false }) return [];
            var local = await direct.GetJobsAsync(query, cancellationToken).ConfigureAwait(false);
            return local.Where(j => DirectQueues.IsDirect(j.Project)).ToList();
        }
        var found = await connected.GetJobsAsync(query, cancellationToken).ConfigureAwait(false);
        if (!Separate || query.Ids is not { } ids) return found;
        var missing = ids.Where(id => found.All(j => j.Id != id)).ToList();
        if (missing.Count == 0) return found;
        var others = await direct.GetJobsAsync(new JobQuery { Ids = missing, States = query.States, Limit = query.Limit }, cancellationToken).ConfigureAwait(false);
        return [.. found, .. others.Where(j => DirectQueues.IsDirect(j.Project))];
    }

    /// <summary>
    /// Wait-WandbLaunchJob over jobs that may be held by different backends: each backend's jobs are watched by its own
    /// <see cref="JobWatch"/> (with its own change signal or cadence), and the results come in the order the jobs end.
    /// </summary>
    public static async IAsyncEnumerable<JobWaitResult> WaitAsync(IReadOnlyList<FoundJob> jobs, TimeSpan? timeout, bool any,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var groups = jobs.GroupBy(j => j.Backend).ToList();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var results = Channel.CreateUnbounded<JobWaitResult>();
        var watches = groups.Select(async group =>
        {
            await foreach (var result in new JobWatch(group.Key).WaitAsync(group.Select(j => j.Job.Id).ToList(), timeout, any, stop.Token).ConfigureAwait(false))
            {
                await results.Writer.WriteAsync(result, CancellationToken.None).ConfigureAwait(false);
            }
        }).ToList();
        _ = Task.WhenAll(watches).ContinueWith(t => results.Writer.TryComplete(t.Exception?.GetBaseException()), TaskScheduler.Default);
        try
        {
            // Not cancelled here: the watches end quietly when cancelled, which completes the channel.
            await foreach (var result in results.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
            {
                yield return result;
                if (any && result.Job is not null) yield break;
            }
        }
        finally
        {
            stop.Cancel();
        }
    }
}
