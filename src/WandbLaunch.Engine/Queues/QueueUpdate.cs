using System.Text.Json.Nodes;

namespace WandbLaunch.Engine.Queues;

/// <summary>A change to a queue; null members stay as they are.</summary>
public sealed class QueueUpdate
{
    public string? NewName { get; init; }

    public JsonNode? Configuration { get; init; }

    public bool ConfigurationGiven { get; init; }

    public JsonObject? TemplateVariables { get; init; }

    public bool? Prioritization { get; init; }

    public QueueAccess? Access { get; init; }

    public bool IsEmpty => NewName is null && !ConfigurationGiven && TemplateVariables is null && Prioritization is null && Access is null;
}
