using System.Text.Json.Nodes;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.TestSupport;

/// <summary>Creates the queues the tests' harnesses work on, in the default project of an entity.</summary>
public static class TestQueues
{
    public static async Task<QueueKey> CreateAsync(ILaunchBackend backend, string entity, string name, string resource = LaunchResource.LocalProcess,
        string? configurationJson = null, bool prioritization = false, string? templateVariablesJson = null, string? createdBy = null)
    {
        await backend.CreateQueueAsync(new QueueDefinition
        {
            Name = name,
            Entity = entity,
            Project = LaunchDefaults.Project,
            Resource = resource,
            Prioritization = prioritization,
            Configuration = configurationJson is null ? null : JsonNode.Parse(configurationJson),
            TemplateVariables = templateVariablesJson is null ? null : (JsonObject)JsonNode.Parse(templateVariablesJson)!,
            CreatedBy = createdBy,
        }, CancellationToken.None);
        return new QueueKey(entity, LaunchDefaults.Project, name);
    }
}
