using System.Management.Automation;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Services;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Jobs;

/// <summary>What the cmdlets that act on existing jobs share: jobs by id, from the pipeline.</summary>
public abstract class JobCmdlet : WandbLaunchCmdlet
{
    /// <summary>Job ids (queue item ids). Jobs from Submit- or Get-WandbLaunchJob bind by their Id property.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("JobId")]
    [ValidateNotNullOrEmpty]
    public string[] Id { get; set; } = [];

    /// <summary>
    /// The jobs named by -Id, each with the backend that holds it (on a W&amp;B connection, a queue-less launch is in the
    /// local store); a missing one is a non-terminating JobNotFound error.
    /// </summary>
    private protected IEnumerable<FoundJob> FindJobs()
    {
        var lookup = Lookup;
        foreach (var id in Id)
        {
            var job = Await(lookup.FindAsync(id, StopToken));
            if (job is null)
            {
                WriteError(LaunchErrors.ToRecord(LaunchException.NotFound("JobNotFound",
                    $"There is no job with id '{id}'. Get-WandbLaunchJob lists the jobs.", id)));
                continue;
            }
            yield return job;
        }
    }

    /// <summary>Finds jobs by id in this session's backend and among its queue-less launches.</summary>
    private protected JobLookup Lookup => new(Backend, LaunchSession.DirectLaunches);

    /// <summary>
    /// The items of an engine stream, each on the pipeline thread as it comes (so it can be written at once).
    /// </summary>
    private protected IEnumerable<T> Each<T>(IAsyncEnumerable<T> items)
    {
        var enumerator = items.GetAsyncEnumerator(StopToken);
        try
        {
            while (Await(enumerator.MoveNextAsync().AsTask())) yield return enumerator.Current;
        }
        finally
        {
            Await(enumerator.DisposeAsync().AsTask());
        }
    }
}
