using System.Management.Automation;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.AgentConfig;

/// <summary>
/// <para type="synopsis">Checks a launch-config.yaml against W&amp;B's rules and returns $true when it is valid.</para>
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "WandbLaunchAgentConfig", DefaultParameterSetName = PathSet)]
[OutputType(typeof(bool))]
public sealed class TestWandbLaunchAgentConfigCommand : WandbLaunchCmdlet
{
    private const string PathSet = "Path";
    private const string ContentSet = "Content";

    /// <summary>The config file. Default: ~/.config/wandb/launch-config.yaml.</summary>
    [Parameter(Position = 0, ParameterSetName = PathSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>Config text (YAML or JSON) to check instead of a file.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ContentSet)]
    [AllowEmptyString]
    public string Content { get; set; } = "";

    /// <summary>Only return $true or $false; write no errors or warnings.</summary>
    [Parameter]
    public SwitchParameter Quiet { get; set; }

    /// <inheritdoc />
    private protected override void ProcessRecordCore()
    {
        IReadOnlyList<ConfigIssue> issues;
        try
        {
            var document = ParameterSetName == ContentSet
                ? StructuredText.Parse(Content, null, "InvalidAgentConfigYaml")
                : AgentConfigFile.Read(Path is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path));
            issues = AgentConfigValidator.Validate(document).Issues;
        }
        catch (LaunchException e)
        {
            if (!Quiet) WriteError(LaunchErrors.ToRecord(e));
            WriteObject(false);
            return;
        }
        if (!Quiet)
        {
            foreach (var issue in issues)
            {
                if (issue.Severity == ConfigIssueSeverity.Warning) WriteWarning(issue.ToString());
                else WriteError(LaunchErrors.ToRecord(new LaunchException(issue.ErrorId, LaunchErrorCategory.InvalidData, issue.ToString(), issue.Key)));
            }
        }
        WriteObject(issues.All(i => i.Severity != ConfigIssueSeverity.Error));
    }
}
