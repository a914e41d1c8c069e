using System.Management.Automation;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Services;

namespace WandbLaunch.Jobs;

/// <summary>
/// <para type="synopsis">Shows exactly what an agent would run for a launch request — the command line, container or Kubernetes manifests — without submitting or contacting anything.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "WandbLaunchJobManifest", DefaultParameterSetName = UriSet)]
[OutputType(typeof(RenderedRequest))]
public sealed class GetWandbLaunchJobManifestCommand : QueuedLaunchSpecCmdlet
{
    /// <summary>The agent config whose builder and settings apply (default: ~/.config/wandb/launch-config.yaml, if it exists).</summary>
    [Parameter]
    public string? ConfigPath { get; set; }

    /// <inheritdoc />
    private protected override void ProcessRecordCore()
    {
        TryRun(() =>
        {
            var configPath = ConfigPath is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(ConfigPath);
            var rendered = Await(new JobSubmission(Backend).PreviewAsync(Options(), configPath, StopToken)).Rendered;
            foreach (var warning in rendered.Warnings) WriteWarning(warning);
            WriteObject(rendered);
        });
    }
}
