using System.Management.Automation;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Jobs;

/// <summary>
/// <para type="synopsis">Submits a launch job to a queue (W&amp;B's `wandb launch -q`).</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Submit, "WandbLaunchJob", SupportsShouldProcess = true, DefaultParameterSetName = UriSet)]
[OutputType(typeof(LaunchJob))]
public sealed class SubmitWandbLaunchJobCommand : LaunchSpecCmdlet
{
    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        TryRun(() =>
        {
            var (key, queue, request) = Describe();
            // Validate and render now, so -WhatIf shows exactly what a real submit would store and run.
            var preview = JobPreview.ForPush(queue, request);
            // Rendering also refuses jobs the queue's runner could never run (a docker image on local-process...),
            // before anything is stored. -WhatIf renders with the agent config an agent here would use.
            var whatIf = IsWhatIf;
            var rendered = whatIf
                ? JobPreview.Render(preview, AgentConfigs.ForPreview(), Environment.GetEnvironmentVariable)
                : JobPreview.Render(preview, new LaunchAgentConfig(), Environment.GetEnvironmentVariable, predictImage: false);
            if (!ShouldProcess($"queue {key} in {Backend.Location}: {LaunchSpecRules.Source(preview.GetSpec())}, priority {preview.Priority.ToString().ToLowerInvariant()}", "Submit launch job"))
            {
                if (whatIf)
                {
                    Host.UI.WriteLine($"What an agent would run ({rendered.Resource}): {rendered.Summary}");
                    Host.UI.WriteLine(rendered.Text);
                }
                return;
            }
            WriteObject(Await(Backend.PushAsync(key, request, StopToken)));
        });
    }
}
