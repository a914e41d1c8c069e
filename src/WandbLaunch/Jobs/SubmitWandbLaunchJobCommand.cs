using System.Management.Automation;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Services;

namespace WandbLaunch.Jobs;

/// <summary>
/// <para type="synopsis">Submits a launch job to a queue (W&amp;B's `wandb launch -q`).</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Submit, "WandbLaunchJob", SupportsShouldProcess = true, DefaultParameterSetName = UriSet)]
[OutputType(typeof(LaunchJob))]
public sealed class SubmitWandbLaunchJobCommand : QueuedLaunchSpecCmdlet
{
    /// <summary>
    /// With -Uri: build the code into an image here first (Docker engine, the builder block of the launch config) and
    /// queue an image job for it, so agents run the image without building (what W&amp;B documents for -b/--build).
    /// </summary>
    [Parameter(ParameterSetName = UriSet)]
    public SwitchParameter Build { get; set; }

    /// <summary>With -Build: the launch config whose builder block builds (default ~/.config/wandb/launch-config.yaml).</summary>
    [Parameter(ParameterSetName = UriSet)]
    public string? ConfigPath { get; set; }

    private SubmitOptions SubmitOptions() => Build
        ? Options() with
        {
            Build = true,
            AgentConfigPath = ConfigPath is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(ConfigPath),
        }
        : Options();

    /// <inheritdoc />
    private protected override void ProcessRecordCore()
    {
        TryRun(() =>
        {
            var submission = new JobSubmission(Backend);
            // Checked (and rendered) before asking, so -WhatIf shows exactly what a real submit would store and run,
            // with the agent config an agent here would use.
            var whatIf = IsWhatIf;
            var options = SubmitOptions();
            var request = Await(whatIf ? submission.PreviewAsync(options, options.AgentConfigPath, StopToken) : submission.CheckAsync(options, StopToken));
            // Before anything is stored: -WarningAction Stop refuses such a job.
            foreach (var warning in request.Rendered.Warnings) WriteWarning(warning);
            var action = request.BuildFirst is null ? "Submit launch job" : "Build the image of -Uri, create an image job for it and submit that";
            if (!ShouldProcess($"queue {request.Key} in {Backend.Location}: {request.Describe()}", action))
            {
                if (whatIf)
                {
                    Host.UI.WriteLine($"What an agent would run ({request.Rendered.Resource}): {request.Rendered.Summary}");
                    Host.UI.WriteLine(request.Rendered.Text);
                }
                return;
            }
            var job = Await(submission.SubmitAsync(request, StopToken));
            if (submission.BuiltImage is { } image) WriteVerbose($"built {image}");
            if (submission.CreatedJob is { } created)
            {
                foreach (var warning in created.Warnings) WriteWarning(warning);
                WriteVerbose(created.Message);
            }
            WriteObject(job);
        });
    }
}
