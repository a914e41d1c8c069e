using System.Text.Json.Nodes;

namespace WandbLaunch.Engine.Queues;

/// <summary>What an admin asks for when creating a queue. <see cref="QueueRules.Check"/> validates and normalizes it.</summary>
public sealed class QueueDefinition
{
    public required string Name { get; init; }

    public required string Entity { get; init; }

    public required string Project { get; init; }

    public required string Resource { get; init; }

    /// <summary>The resource configuration; either the bare config or <c>{resource_args: {resource: config}}</c>.</summary>
    public JsonNode? Configuration { get; init; }

    /// <summary>Variable name → JSON schema.</summary>
    public JsonObject? TemplateVariables { get; init; }

    public bool Prioritization { get; init; }

    public QueueAccess Access { get; init; } = QueueAccess.Project;

    public string? CreatedBy { get; init; }
}
