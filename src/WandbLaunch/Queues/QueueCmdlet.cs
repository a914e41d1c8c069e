using System.Management.Automation;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Queues;

/// <summary>What the queue cmdlets share: entity and project defaults, name lookup with wildcards, config input.</summary>
public abstract class QueueCmdlet : WandbLaunchCmdlet
{
    /// <summary>The entity (W&amp;B user or team) that owns the queue. Default: WANDB_ENTITY, else the local user name.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Entity { get; set; }

    /// <summary>The project that holds the queue. Default: model-registry, where W&amp;B keeps launch queues.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Project { get; set; }

    private protected string EntityOrDefault => Entity ?? Backend.DefaultEntity;

    private protected string ProjectOrDefault => Project ?? LaunchDefaults.Project;

    private protected QueueKey KeyFor(string name) => new(EntityOrDefault, ProjectOrDefault, name);

    /// <summary>
    /// The queues matching <paramref name="names"/> (wildcards allowed). A literal name that matches nothing is a
    /// non-terminating QueueNotFound error, as Get-Item does for a missing path.
    /// </summary>
    private protected IEnumerable<LaunchQueue> FindQueues(string[]? names)
    {
        if (names is null || names.Length == 0) return Await(Backend.GetQueuesAsync(EntityOrDefault, ProjectOrDefault, StopToken));
        // Literal names are looked up one by one (an indexed read); the whole list is read only for wildcards.
        IReadOnlyList<LaunchQueue>? all = null;
        var found = new List<LaunchQueue>();
        void Add(LaunchQueue queue)
        {
            if (found.All(q => q.QueueId != queue.QueueId)) found.Add(queue);
        }
        foreach (var name in names)
        {
            if (WildcardPattern.ContainsWildcardCharacters(name))
            {
                all ??= Await(Backend.GetQueuesAsync(EntityOrDefault, ProjectOrDefault, StopToken));
                var pattern = new WildcardPattern(name, WildcardOptions.IgnoreCase);
                foreach (var queue in all.Where(q => pattern.IsMatch(q.Name))) Add(queue);
                continue;
            }
            var exact = Await(Backend.GetQueueAsync(KeyFor(name), StopToken));
            if (exact is null) WriteError(LaunchErrors.ToRecord(QueueNotFound(name)));
            else Add(exact);
        }
        return found;
    }

    private protected LaunchException QueueNotFound(string name) =>
        QueueNotFoundException.For(new QueueKey(EntityOrDefault, ProjectOrDefault, name));

    /// <summary>Reads -Configuration (text, hashtable or object) or -ConfigurationPath (a JSON or YAML file).</summary>
    private protected JsonNode? ReadConfiguration(object? configuration, string? configurationPath)
    {
        if (configurationPath is not null)
        {
            var path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(configurationPath);
            if (!File.Exists(path))
            {
                throw LaunchException.NotFound("ConfigurationFileNotFound", $"The configuration file '{path}' does not exist.", path);
            }
            return Engine.Documents.StructuredText.ParseFile(path, "InvalidQueueConfiguration").Root;
        }
        return PowerShellValues.ToDocument(configuration, "InvalidQueueConfiguration");
    }

    private protected static JsonObject? ReadTemplateVariables(System.Collections.IDictionary? variables) =>
        variables is null ? null : (JsonObject?)PowerShellValues.ToJson(variables, "InvalidTemplateVariable");
}
