using System.Collections;
using System.Management.Automation;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Queues;

/// <summary>
/// <para type="synopsis">Changes a launch queue's configuration, template variables, prioritization, access or name.</para>
/// </summary>
[Cmdlet(VerbsCommon.Set, "WandbLaunchQueue", SupportsShouldProcess = true, DefaultParameterSetName = ConfigurationSet)]
[OutputType(typeof(LaunchQueue))]
public sealed class SetWandbLaunchQueueCommand : QueueCmdlet
{
    private const string ConfigurationSet = "Configuration";
    private const string ConfigurationPathSet = "ConfigurationPath";

    /// <summary>The queue to change; wildcards are allowed. Queues from Get-WandbLaunchQueue bind by name.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string[] Name { get; set; } = [];

    /// <summary>A new resource configuration (JSON or YAML text, or a hashtable); replaces the current one.</summary>
    [Parameter(ParameterSetName = ConfigurationSet)]
    [Alias("Config")]
    public object? Configuration { get; set; }

    /// <summary>A JSON or YAML file holding the new resource configuration.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ConfigurationPathSet)]
    [Alias("ConfigPath")]
    public string? ConfigurationPath { get; set; }

    /// <summary>New template variables (name → schema); replaces the current set. @{} removes them all.</summary>
    [Parameter]
    public IDictionary? TemplateVariable { get; set; }

    /// <summary>Turns prioritization on (-Prioritization) or off (-Prioritization:$false).</summary>
    [Parameter]
    public SwitchParameter Prioritization { get; set; }

    /// <summary>Who may push to the queue: Project or User.</summary>
    [Parameter]
    public QueueAccess Access { get => (QueueAccess)_access; set => _access = (int)value; }

    // Held as its number: a field of an engine enum type would make PowerShell load the engine when it imports the module
    // (it lists the cmdlet types then); see docs/architecture.md, "Load contexts".
    private int _access;

    /// <summary>A new name for the queue.</summary>
    [Parameter]
    [ValidateNotNull] // an empty name reaches QueueNames.Validate and gets InvalidQueueName like every other bad name
    public string? NewName { get; set; }

    /// <summary>Writes the changed queue to the pipeline.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <inheritdoc />
    private protected override void ProcessRecordCore()
    {
        var update = RunOrTerminate(() => new QueueUpdate
        {
            NewName = NewName is null ? null : QueueNames.Validate(NewName),
            ConfigurationGiven = IsBound(nameof(Configuration)) || IsBound(nameof(ConfigurationPath)),
            Configuration = ReadConfiguration(Configuration, ConfigurationPath),
            TemplateVariables = ReadTemplateVariables(TemplateVariable),
            Prioritization = IsBound(nameof(Prioritization)) ? Prioritization.IsPresent : null,
            Access = IsBound(nameof(Access)) ? Access : null,
        });
        IEnumerable<LaunchQueue> queues = [];
        if (!TryRun(() => queues = FindQueues(Name).ToList())) return;
        foreach (var queue in queues)
        {
            TryRun(() =>
            {
                if (!ShouldProcess($"{queue} in {Backend.Location}", "Update launch queue")) return;
                var changed = Await(Backend.UpdateQueueAsync(KeyFor(queue.Name), update, StopToken));
                if (PassThru) WriteObject(changed);
            });
        }
    }
}
