using System.Collections;
using System.Management.Automation;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Jobs;

/// <summary>
/// The parameters that describe a launch request (W&amp;B's `wandb launch` flags), shared by Submit-WandbLaunchJob
/// and Get-WandbLaunchJobManifest, and their translation into a launch spec.
/// </summary>
public abstract class LaunchSpecCmdlet : WandbLaunchCmdlet
{
    private protected const string UriSet = "Uri";
    private protected const string DockerImageSet = "DockerImage";
    private protected const string SpecSet = "Spec";

    /// <summary>The queue: a name (in -Entity's model-registry project) or a queue from Get-WandbLaunchQueue.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    [ValidateNotNull]
    public object Queue { get; set; } = "";

    /// <summary>The code to run: a git URL (https://, ssh://, git@host:path) or a local directory (W&amp;B's -u).</summary>
    [Parameter(Mandatory = true, ParameterSetName = UriSet)]
    [ValidateNotNullOrEmpty]
    public string? Uri { get; set; }

    /// <summary>The git branch, tag or commit to check out (W&amp;B's -g).</summary>
    [Parameter(ParameterSetName = UriSet)]
    [Alias("Version")]
    public string? GitVersion { get; set; }

    /// <summary>The command to run, as an argument vector: -EntryPoint python, train.py (W&amp;B's -E).</summary>
    [Parameter(ParameterSetName = UriSet)]
    [Parameter(ParameterSetName = DockerImageSet)]
    public string[]? EntryPoint { get; set; }

    /// <summary>A prebuilt image to run (W&amp;B's -d).</summary>
    [Parameter(Mandatory = true, ParameterSetName = DockerImageSet)]
    [ValidateNotNullOrEmpty]
    public string? DockerImage { get; set; }

    /// <summary>A whole launch spec: JSON or YAML text, a file path, or a hashtable (W&amp;B's -c). Other parameters override its keys.</summary>
    [Parameter(Mandatory = true, ParameterSetName = SpecSet)]
    [ValidateNotNull]
    public object? Spec { get; set; }

    /// <summary>Arguments appended to the entry point (overrides.args), passed as-is, never through a shell.</summary>
    [Parameter]
    [Alias("Args")]
    public string[]? Arguments { get; set; }

    /// <summary>The run config (overrides.run_config), given to the job as WANDB_CONFIG.</summary>
    [Parameter]
    public IDictionary? RunConfig { get; set; }

    /// <summary>Critical, High, Medium (the default) or Low; needs prioritization on the queue (W&amp;B's -P).</summary>
    [Parameter]
    public LaunchPriority Priority { get; set; } = LaunchPriority.Medium;

    /// <summary>Values for the queue's template variables, validated against their schemas (W&amp;B's --set-var).</summary>
    [Parameter]
    [Alias("SetVar")]
    public IDictionary? TemplateVariable { get; set; }

    /// <summary>Resource arguments for the queue's resource, merged over the queue's configuration (W&amp;B's -R).</summary>
    [Parameter]
    public object? ResourceArgs { get; set; }

    /// <summary>The run name (W&amp;B's --name).</summary>
    [Parameter]
    public string? Name { get; set; }

    /// <summary>The entity of the run, and of the queue when -Queue is a name (W&amp;B's -e).</summary>
    [Parameter]
    public string? Entity { get; set; }

    /// <summary>The project the run logs to (W&amp;B's -p).</summary>
    [Parameter]
    public string? Project { get; set; }

    /// <summary>The queue, the push request the parameters describe, and the queue's current definition.</summary>
    private protected (QueueKey Key, LaunchQueue Queue, PushRequest Request) Describe()
    {
        var key = ResolveQueue();
        var queue = Await(Backend.GetQueueAsync(key, StopToken)) ?? throw QueueNotFound(key);
        var request = new PushRequest
        {
            Spec = BuildSpec(queue.Resource),
            Priority = IsBound(nameof(Priority)) ? Priority : null,
            TemplateValues = TemplateVariable is null ? null : (JsonObject?)PowerShellValues.ToJson(TemplateVariable, "InvalidTemplateValue"),
        };
        return (key, queue, request);
    }

    private static LaunchException QueueNotFound(QueueKey key) =>
        LaunchException.NotFound("QueueNotFound", $"There is no queue named '{key.Name}' in {key.Entity}/{key.Project}. Get-WandbLaunchQueue lists the queues there.", key.Name);

    private QueueKey ResolveQueue()
    {
        var value = Queue is PSObject pso ? pso.BaseObject : Queue;
        return value switch
        {
            LaunchQueue queue => new QueueKey(queue.Entity, queue.Project, queue.Name),
            string name => new QueueKey(Entity ?? Backend.DefaultEntity, LaunchDefaults.Project, QueueNames.Validate(name)),
            _ => throw LaunchException.Invalid("InvalidQueueArgument",
                $"-Queue takes a queue name or a queue from Get-WandbLaunchQueue; it was a {value.GetType().Name}.", value),
        };
    }

    private JsonObject BuildSpec(string resource)
    {
        JsonObject spec;
        if (ParameterSetName == SpecSet)
        {
            var value = Spec is PSObject pso && pso.BaseObject is string s ? s : Spec;
            spec = value is string text && !text.TrimStart().StartsWith('{') && !text.Contains('\n') && File.Exists(SessionState.Path.GetUnresolvedProviderPathFromPSPath(text))
                ? Engine.Documents.StructuredText.ParseFile(SessionState.Path.GetUnresolvedProviderPathFromPSPath(text), "InvalidLaunchSpec").Root as JsonObject ?? throw NotMapping()
                : PowerShellValues.ToDocument(Spec, "InvalidLaunchSpec") as JsonObject ?? throw NotMapping();
        }
        else
        {
            spec = new JsonObject();
        }
        if (Uri is not null)
        {
            var uri = Uri;
            if (!uri.Contains("://") && !uri.Contains('@')) uri = SessionState.Path.GetUnresolvedProviderPathFromPSPath(uri);
            if (SourceUri.Classify(uri) == SourceUri.Kind.LocalDirectory && !Directory.Exists(uri))
            {
                throw LaunchException.NotFound("SourceDirectoryNotFound", $"The directory '{uri}' does not exist.", uri);
            }
            spec["uri"] = uri;
        }
        if (GitVersion is not null) spec["git"] = new JsonObject { ["version"] = GitVersion };
        if (DockerImage is not null) spec["docker"] = new JsonObject { ["docker_image"] = DockerImage };
        var overrides = spec["overrides"] as JsonObject ?? new JsonObject();
        if (EntryPoint is not null) overrides["entry_point"] = Strings(EntryPoint);
        if (Arguments is not null) overrides["args"] = Strings(Arguments);
        if (RunConfig is not null) overrides["run_config"] = PowerShellValues.ToJson(RunConfig, "InvalidRunConfig");
        if (overrides.Count > 0) spec["overrides"] = overrides;
        if (ResourceArgs is not null)
        {
            var args = PowerShellValues.ToDocument(ResourceArgs, "InvalidResourceArgs") as JsonObject
                ?? throw LaunchException.Invalid("InvalidResourceArgs", "-ResourceArgs must be a mapping (JSON/YAML text or a hashtable).", ResourceArgs);
            // Either {"<resource>": {...}} as in a launch spec, or the bare arguments for the queue's resource.
            spec["resource_args"] = args.Count > 0 && args.All(p => LaunchResource.All.Contains(p.Key)) ? args : new JsonObject { [resource] = args };
        }
        if (Name is not null) spec["name"] = Name;
        if (Entity is not null) spec["entity"] = Entity;
        spec["entity"] ??= Entity ?? Backend.DefaultEntity;
        if (Project is not null) spec["project"] = Project;
        spec["author"] ??= Environment.UserName;
        return spec;
    }

    private static LaunchException NotMapping() =>
        LaunchException.Invalid("InvalidLaunchSpec", "-Spec must be a launch spec mapping (JSON or YAML object, a file holding one, or a hashtable).", null);

    private static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
}
