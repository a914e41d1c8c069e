using System.Management.Automation;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Services;

namespace WandbLaunch.Jobs;

/// <summary>
/// <para type="synopsis">Submits a launch job to a queue (W&amp;B's `wandb launch -q`).</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Submit, "WandbLaunchJob", SupportsShouldProcess = true, DefaultParameterSetName = UriSet)]
[OutputType(typeof(LaunchJob))]
public sealed class SubmitWandbLaunchJobCommand : LaunchSpecCmdlet
{
    /// <inheritdoc />
    private protected override void ProcessRecordCore()
    {
        TryRun(() =>
        {
            var submission = new JobSubmission(Backend);
            // Checked (and rendered) before asking, so -WhatIf shows exactly what a real submit would store and run,
            // with the agent config an agent here would use.
            var whatIf = IsWhatIf;
            var request = Await(whatIf ? submission.PreviewAsync(Options(), null, StopToken) : submission.CheckAsync(Options(), StopToken));
            if (!ShouldProcess($"queue {request.Key} in {Backend.Location}: {request.Describe()}", "Submit launch job"))
            {
                if (whatIf)
                {
                    Host.UI.WriteLine($"What an agent would run ({request.Rendered.Resource}): {request.Rendered.Summary}");
                    Host.UI.WriteLine(request.Rendered.Text);
                }
                return;
            }
            var job = Await(submission.SubmitAsync(request, StopToken));
            if (submission.CreatedJob is { } created)
            {
                foreach (var warning in created.Warnings) WriteWarning(warning);
                WriteVerbose(created.Message);
            }
            WriteObject(job);
        });
    }
}
