using System.Collections.Specialized;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;

namespace WandbLaunch.Engine.Queues;

/// <summary>A launch queue: where launch requests wait for an agent, bound to one target resource.</summary>
public sealed class LaunchQueue
{
    /// <summary>The store's id for the queue.</summary>
    public required string QueueId { get; init; }

    public required string Name { get; init; }

    public required string Entity { get; init; }

    public required string Project { get; init; }

    /// <summary>The target resource (local-process, local-container, kubernetes, sagemaker, gcp-vertex).</summary>
    public required string Resource { get; init; }

    /// <summary>True when items pop by priority, then FIFO (W&amp;B prioritization mode V0).</summary>
    public bool Prioritization { get; init; }

    /// <summary>W&amp;B's name for <see cref="Prioritization"/>: V0 or DISABLED.</summary>
    public string PrioritizationMode => Prioritization ? "V0" : "DISABLED";

    public QueueAccess Access { get; init; }

    /// <summary>The resource configuration (the value of <c>resource_args.&lt;resource&gt;</c>), placeholders unrendered.</summary>
    public OrderedDictionary Configuration => (OrderedDictionary)JsonTree.ToPlain(ResourceConfig)!;

    /// <summary>The configuration as W&amp;B stores it: <c>{"resource_args": {"&lt;resource&gt;": {...}}}</c>.</summary>
    public string ConfigurationJson => JsonTree.ToJson(new JsonObject { ["resource_args"] = new JsonObject { [Resource] = ResourceConfig.DeepClone() } });

    public IReadOnlyList<TemplateVariable> TemplateVariables { get; init; } = [];

    /// <summary>Items waiting for an agent.</summary>
    public int PendingCount { get; init; }

    /// <summary>Items an agent holds (leased, starting or running).</summary>
    public int ActiveCount { get; init; }

    public string? CreatedBy { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>Where the queue is stored (the store's path or server URL).</summary>
    public string? Store { get; init; }

    internal JsonObject ResourceConfig { get; init; } = new();

    internal IReadOnlyDictionary<string, TemplateVariable> VariablesByName =>
        TemplateVariables.ToDictionary(v => v.Name, StringComparer.Ordinal);

    /// <summary>The configuration node (a copy), for callers that render or inspect it.</summary>
    public JsonObject GetResourceConfig() => (JsonObject)ResourceConfig.DeepClone();

    public override string ToString() => $"{Entity}/{Project}/{Name}";
}
