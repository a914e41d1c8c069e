using System.Management.Automation;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Services;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Jobs;

/// <summary>
/// <para type="synopsis">Waits until launch jobs finish, fail or stop, and writes each one as it ends.</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Wait, "WandbLaunchJob")]
[OutputType(typeof(LaunchJob))]
public sealed class WaitWandbLaunchJobCommand : JobCmdlet
{
    private readonly List<FoundJob> _jobs = [];

    /// <summary>Seconds to wait at most; jobs still unfinished then get a JobWaitTimeout error. Default: no limit.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int Timeout { get; set; } = -1;

    /// <summary>Return as soon as any one of the jobs ends.</summary>
    [Parameter]
    public SwitchParameter Any { get; set; }

    /// <inheritdoc />
    private protected override void ProcessRecordCore()
    {
        foreach (var found in FindJobs()) if (_jobs.All(j => j.Job.Id != found.Job.Id)) _jobs.Add(found);
    }

    /// <inheritdoc />
    private protected override void EndProcessingCore()
    {
        var timeout = Timeout < 0 ? (TimeSpan?)null : TimeSpan.FromSeconds(Timeout);
        if (_jobs.Count == 0) return;
        foreach (var result in Each(JobLookup.WaitAsync(_jobs, timeout, Any, StopToken)))
        {
            if (result.Job is { } ended) WriteObject(ended);
            if (result.Error is { } error) WriteError(LaunchErrors.ToRecord(error));
        }
    }
}
