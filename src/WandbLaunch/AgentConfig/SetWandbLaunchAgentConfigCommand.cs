using System.Management.Automation;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.AgentConfig;

/// <summary>
/// <para type="synopsis">Changes keys of a launch-config.yaml, keeping every other key as it is.</para>
/// </summary>
[Cmdlet(VerbsCommon.Set, "WandbLaunchAgentConfig", SupportsShouldProcess = true)]
[OutputType(typeof(LaunchAgentConfig))]
public sealed class SetWandbLaunchAgentConfigCommand : AgentConfigCmdlet
{
    /// <summary>Writes the changed config to the pipeline.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <inheritdoc />
    private protected override void EndProcessingCore()
    {
        var path = ResolvedPath;
        var config = RunOrTerminate(() =>
        {
            // The default file may not exist yet; an explicit -Path must.
            var current = AgentConfigFile.Read(Path is null ? null : path);
            var changes = Changes();
            var document = AgentConfigFile.Apply(current.Root as System.Text.Json.Nodes.JsonObject ?? new(), changes);
            var result = AgentConfigFile.ValidateChanged(current, path, document, changes.Select(c => c.Key));
            if (result.Config is null) throw AgentConfigFile.ToException(result);
            if (!ShouldProcess(path, "Update launch agent config")) return null;
            return AgentConfigFile.Update(path, current, document, changes.Select(c => c.Key));
        });
        if (config is null) return;
        WriteIssues(config.Warnings);
        if (PassThru) WriteObject(config);
    }
}
