using System.Diagnostics;
using System.Management.Automation;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Jobs;

/// <summary>
/// <para type="synopsis">Waits until launch jobs finish, fail or stop, and writes each one as it ends.</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Wait, "WandbLaunchJob")]
[OutputType(typeof(LaunchJob))]
public sealed class WaitWandbLaunchJobCommand : JobCmdlet
{
    private readonly List<string> _ids = [];

    /// <summary>Seconds to wait at most; jobs still unfinished then get a JobWaitTimeout error. Default: no limit.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int Timeout { get; set; } = -1;

    /// <summary>Return as soon as any one of the jobs ends.</summary>
    [Parameter]
    public SwitchParameter Any { get; set; }

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        foreach (var job in FindJobs()) if (!_ids.Contains(job.Id)) _ids.Add(job.Id);
    }

    /// <inheritdoc />
    protected override void EndProcessing()
    {
        var waiting = new List<string>(_ids);
        var clock = Stopwatch.StartNew();
        var limit = Timeout < 0 ? (TimeSpan?)null : TimeSpan.FromSeconds(Timeout);
        while (waiting.Count > 0)
        {
            var jobs = Await(Backend.GetJobsAsync(new JobQuery { Ids = waiting }, StopToken));
            foreach (var job in jobs.Where(j => j.State.IsTerminal()))
            {
                WriteObject(job);
                waiting.Remove(job.Id);
                if (Any) return;
            }
            waiting.RemoveAll(id => jobs.All(j => j.Id != id)); // removed meanwhile
            if (waiting.Count == 0) return;
            var remaining = limit is null ? TimeSpan.FromSeconds(1) : limit.Value - clock.Elapsed;
            if (remaining <= TimeSpan.Zero) break;
            Await(Backend.WaitForChangeAsync(remaining < TimeSpan.FromSeconds(1) ? remaining : TimeSpan.FromSeconds(1), StopToken));
            if (StopToken.IsCancellationRequested) return;
        }
        foreach (var id in waiting)
        {
            WriteError(LaunchErrors.ToRecord(new LaunchException("JobWaitTimeout", LaunchErrorCategory.OperationTimeout,
                $"Job {id} did not finish within {Timeout} s.", id)));
        }
    }
}
