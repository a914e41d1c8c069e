using System.Collections;
using System.Management.Automation;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Queues;

/// <summary>
/// <para type="synopsis">Creates a launch queue bound to a target resource.</para>
/// </summary>
[Cmdlet(VerbsCommon.New, "WandbLaunchQueue", SupportsShouldProcess = true, DefaultParameterSetName = ConfigurationSet)]
[OutputType(typeof(LaunchQueue))]
public sealed class NewWandbLaunchQueueCommand : QueueCmdlet
{
    private const string ConfigurationSet = "Configuration";
    private const string ConfigurationPathSet = "ConfigurationPath";

    /// <summary>The queue name: 1 to 64 characters, unique within the entity and project.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [AllowEmptyString] // so that an empty name gets InvalidQueueName like every other bad name
    public string Name { get; set; } = "";

    /// <summary>The target resource jobs on this queue run on: local-process, local-container, kubernetes, sagemaker or gcp-vertex (W&amp;B's other name vertex is stored as gcp-vertex).</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [ValidateSet(LaunchResource.LocalContainer, LaunchResource.LocalProcess, LaunchResource.Kubernetes, LaunchResource.SageMaker, LaunchResource.GcpVertex, LaunchResource.VertexArgsKey, IgnoreCase = true)]
    public string Resource { get; set; } = "";

    /// <summary>
    /// The resource configuration, as JSON or YAML text or as a hashtable. Either the bare configuration or W&amp;B's
    /// stored form {"resource_args": {"&lt;resource&gt;": ...}}. Values may use {{variable}} placeholders.
    /// </summary>
    [Parameter(ParameterSetName = ConfigurationSet, ValueFromPipelineByPropertyName = true)]
    [Alias("Config")]
    public object? Configuration { get; set; }

    /// <summary>A JSON or YAML file holding the resource configuration.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ConfigurationPathSet)]
    [Alias("ConfigPath")]
    public string? ConfigurationPath { get; set; }

    /// <summary>
    /// Template variables, name → JSON schema: @{ cpus = @{ type = 'integer'; minimum = 1; maximum = 8; default = 2 };
    /// size = @{ type = 'string'; enum = 'small','large' } }. Each must be used as {{name}} in the configuration.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public IDictionary? TemplateVariable { get; set; }

    /// <summary>Pop items by priority (critical, high, medium, low), then in submission order (W&amp;B mode V0).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public SwitchParameter Prioritization { get; set; }

    /// <summary>Who may push to the queue: Project (everyone in the project, the default) or User (only you).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public QueueAccess Access { get => (QueueAccess)_access; set => _access = (int)value; }

    // Held as its number: a field of an engine enum type would make PowerShell load the engine when it imports the module
    // (it lists the cmdlet types then); see docs/architecture.md, "Load contexts".
    private int _access = (int)QueueAccess.Project;

    /// <inheritdoc />
    private protected override void ProcessRecordCore()
    {
        TryRun(() =>
        {
            var definition = new QueueDefinition
            {
                Name = Name,
                Entity = EntityOrDefault,
                Project = ProjectOrDefault,
                Resource = Resource.ToLowerInvariant(),
                Configuration = ReadConfiguration(Configuration, ConfigurationPath),
                TemplateVariables = ReadTemplateVariables(TemplateVariable),
                Prioritization = Prioritization.IsPresent,
                Access = Access,
                CreatedBy = Environment.UserName,
            };
            // Validate before asking, so -WhatIf reports bad input too.
            DirectQueues.RefuseReserved(definition.Project, "create a queue");
            QueueRules.Check(definition.Name, definition.Resource, definition.Configuration, definition.TemplateVariables);
            if (!ShouldProcess($"{definition.Entity}/{definition.Project}/{Name} ({definition.Resource}) in {Backend.Location}", "Create launch queue")) return;
            WriteObject(Await(Backend.CreateQueueAsync(definition, StopToken)));
        });
    }
}
