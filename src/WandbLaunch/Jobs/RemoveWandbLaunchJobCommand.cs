using System.Management.Automation;

namespace WandbLaunch.Jobs;

/// <summary>
/// <para type="synopsis">Deletes the records (and logs) of finished, failed or stopped launch jobs.</para>
/// </summary>
[Cmdlet(VerbsCommon.Remove, "WandbLaunchJob", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class RemoveWandbLaunchJobCommand : JobCmdlet
{
    /// <inheritdoc />
    private protected override void ProcessRecordCore()
    {
        foreach (var (job, backend) in FindJobs())
        {
            if (!ShouldProcess($"job {job.Id} ({job.State}) on queue {job.Queue}", "Remove launch job")) continue;
            TryRun(() => Await(backend.RemoveJobAsync(job.Id, StopToken)));
        }
    }
}
