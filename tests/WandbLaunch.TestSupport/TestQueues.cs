using System.Text.Json.Nodes;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.TestSupport;

/// <summary>Defines and creates the queues tests work on (in the default project of an entity unless told).</summary>
public static class TestQueues
{
    /// <summary>The one place tests build a <see cref="QueueDefinition"/> (JSON texts parsed as a user's would be).</summary>
    public static QueueDefinition Definition(string name, string entity, string project = LaunchDefaults.Project, string resource = LaunchResource.LocalProcess,
        string? configurationJson = null, bool prioritization = false, string? templateVariablesJson = null, string? createdBy = null) => new()
        {
            Name = name,
            Entity = entity,
            Project = project,
            Resource = resource,
            Prioritization = prioritization,
            Configuration = configurationJson is null ? null : JsonNode.Parse(configurationJson),
            TemplateVariables = templateVariablesJson is null ? null : (JsonObject)JsonNode.Parse(templateVariablesJson)!,
            CreatedBy = createdBy,
        };

    public static async Task<QueueKey> CreateAsync(ILaunchBackend backend, string entity, string name, string resource = LaunchResource.LocalProcess,
        string? configurationJson = null, bool prioritization = false, string? templateVariablesJson = null, string? createdBy = null)
    {
        await backend.CreateQueueAsync(Definition(name, entity, LaunchDefaults.Project, resource, configurationJson, prioritization, templateVariablesJson, createdBy),
            CancellationToken.None);
        return new QueueKey(entity, LaunchDefaults.Project, name);
    }
}
