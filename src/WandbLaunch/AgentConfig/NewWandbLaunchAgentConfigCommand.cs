using System.Management.Automation;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.AgentConfig;

/// <summary>
/// <para type="synopsis">Writes a new launch-config.yaml for the launch agent.</para>
/// </summary>
[Cmdlet(VerbsCommon.New, "WandbLaunchAgentConfig", SupportsShouldProcess = true)]
[OutputType(typeof(LaunchAgentConfig))]
public sealed class NewWandbLaunchAgentConfigCommand : AgentConfigCmdlet
{
    /// <summary>Overwrite the file if it exists.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <inheritdoc />
    private protected override void EndProcessingCore()
    {
        var path = ResolvedPath;
        var config = RunOrTerminate(() =>
        {
            if (File.Exists(path) && !Force)
            {
                throw new LaunchException("AgentConfigExists", LaunchErrorCategory.ResourceExists,
                    $"The agent config '{path}' already exists. Use Set-WandbLaunchAgentConfig to change it, or -Force to replace it.", path);
            }
            var changes = Changes();
            var document = AgentConfigFile.Apply(new(), changes);
            // Validate first so that -WhatIf reports a bad config too.
            var result = AgentConfigFile.ValidateChanged(null, path, document, changes.Select(c => c.Key));
            if (result.Config is null) throw AgentConfigFile.ToException(result);
            if (!ShouldProcess(path, "Create launch agent config")) return null;
            return AgentConfigFile.Write(path, document);
        });
        if (config is null) return;
        WriteIssues(config.Warnings);
        WriteObject(config);
    }
}
