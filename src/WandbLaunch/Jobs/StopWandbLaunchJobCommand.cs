using System.Management.Automation;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Services;

namespace WandbLaunch.Jobs;

/// <summary>
/// <para type="synopsis">Stops launch jobs: a pending job leaves its queue; a running one is cancelled on its target by the agent that runs it.</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Stop, "WandbLaunchJob", SupportsShouldProcess = true)]
[OutputType(typeof(LaunchJob))]
public sealed class StopWandbLaunchJobCommand : JobCmdlet
{
    /// <summary>Writes each job after the stop request (use with -Wait to see its final state).</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>Waits until each job has actually stopped (the agent has cancelled it on its target).</summary>
    [Parameter]
    public SwitchParameter Wait { get; set; }

    /// <inheritdoc />
    private protected override void ProcessRecordCore()
    {
        foreach (var (job, backend) in FindJobs())
        {
            if (job.State.IsTerminal())
            {
                WriteWarning($"Job {job.Id} is already {job.State}.");
                if (PassThru) WriteObject(job);
                continue;
            }
            if (!ShouldProcess($"job {job.Id} ({job.State}) on queue {job.Queue}", "Stop launch job")) continue;
            TryRun(() =>
            {
                var stopped = Await(backend.RequestStopAsync(job.Id, StopToken));
                if (Wait) stopped = Await(new JobWatch(backend).UntilEndedAsync(stopped, StopToken));
                if (PassThru) WriteObject(stopped);
            });
        }
    }
}
