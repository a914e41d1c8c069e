using System.Text.Json.Nodes;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Storage.Wandb;

// Queues: project.runQueues, runQueue metadata + defaultResourceConfig, createDefaultResourceConfig + createRunQueue,
// upsertRunQueue, deleteRunQueues.
public sealed partial class WandbLaunchBackend
{
    public async Task<LaunchQueue> CreateQueueAsync(QueueDefinition definition, CancellationToken cancellationToken)
    {
        var checkedDef = QueueRules.Check(definition.Name, definition.Resource, definition.Configuration, definition.TemplateVariables);
        var key = new QueueKey(definition.Entity, definition.Project, checkedDef.Name);
        if (await GetQueueAsync(key, cancellationToken).ConfigureAwait(false) is not null)
        {
            throw new LaunchException("QueueExists", LaunchErrorCategory.ResourceExists,
                $"A queue named '{checkedDef.Name}' already exists in {key.Entity}/{key.Project}. Use Set-WandbLaunchQueue to change it, or choose another name.", checkedDef.Name);
        }
        var config = await ExecuteAsync("createDefaultResourceConfig", WandbOperations.CreateDefaultResourceConfig, new JsonObject
        {
            ["entityName"] = key.Entity,
            ["resource"] = checkedDef.Resource,
            ["config"] = StoredConfig(checkedDef.Resource, checkedDef.Config),
            ["templateVariables"] = StoredVariables(checkedDef.Variables),
        }, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false);
        var configId = Str(config["createDefaultResourceConfig"] as JsonObject, "defaultResourceConfigID")
            ?? throw new WandbServerException("createDefaultResourceConfig", 200, "The W&B server did not create the queue's resource configuration.");
        var created = await ExecuteAsync("createRunQueue", WandbOperations.CreateRunQueue, new JsonObject
        {
            ["entity"] = key.Entity,
            ["project"] = key.Project,
            ["queueName"] = key.Name,
            ["access"] = definition.Access == QueueAccess.User ? "USER" : "PROJECT",
            ["prioritizationMode"] = definition.Prioritization ? "V0" : "DISABLED",
            ["defaultResourceConfigID"] = configId,
        }, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false);
        if (created["createRunQueue"] is not JsonObject result || result["success"]?.GetValueKind() != System.Text.Json.JsonValueKind.True)
        {
            throw new WandbServerException("createRunQueue", 200, $"The W&B server did not create queue {Printable.Quote(key.ToString())}.");
        }
        return await GetQueueAsync(key, cancellationToken).ConfigureAwait(false) ?? throw QueueNotFoundException.For(key);
    }

    public async Task<IReadOnlyList<LaunchQueue>> GetQueuesAsync(string? entity, string? project, CancellationToken cancellationToken)
    {
        entity ??= DefaultEntity;
        project ??= LaunchDefaults.Project;
        var queues = new List<LaunchQueue>();
        foreach (var listed in await ListQueuesAsync(entity, project, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false))
        {
            if (await ReadQueueAsync(new QueueKey(entity, project, listed.Name), listed, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false) is { } queue)
            {
                queues.Add(queue);
            }
        }
        return queues;
    }

    public async Task<LaunchQueue?> GetQueueAsync(QueueKey key, CancellationToken cancellationToken) =>
        await ReadQueueAsync(key, null, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false);

    public async Task<LaunchQueue> UpdateQueueAsync(QueueKey key, QueueUpdate update, CancellationToken cancellationToken)
    {
        var current = await GetQueueAsync(key, cancellationToken).ConfigureAwait(false) ?? throw QueueNotFoundException.For(key);
        if (update.NewName is not null && update.NewName != current.Name) throw NotOnWandb("Renaming a queue", "Create a queue with the new name and remove the old one.");
        if (update.Access is not null && update.Access != current.Access) throw NotOnWandb("Changing a queue's access", "Set it in the Launch App.");
        var config = update.ConfigurationGiven ? update.Configuration : current.ResourceConfig;
        var vars = update.TemplateVariables ?? QueueRules.VariablesToJson(current.TemplateVariables);
        var checkedDef = QueueRules.Check(current.Name, current.Resource, config, vars);
        var prioritization = update.Prioritization ?? current.Prioritization;
        var data = await ExecuteAsync("upsertRunQueue", WandbOperations.UpsertRunQueue, new JsonObject
        {
            ["entityName"] = key.Entity,
            ["projectName"] = key.Project,
            ["queueName"] = key.Name,
            ["resourceType"] = checkedDef.Resource,
            ["resourceConfig"] = JsonTree.ToJson(checkedDef.Config),
            ["templateVariables"] = StoredVariables(checkedDef.Variables),
            ["prioritizationMode"] = prioritization ? "V0" : "DISABLED",
        }, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false);
        if (data["upsertRunQueue"] is not JsonObject result || result["success"]?.GetValueKind() != System.Text.Json.JsonValueKind.True)
        {
            var errors = (data["upsertRunQueue"] as JsonObject)?["configSchemaValidationErrors"]?.ToJsonString();
            throw new WandbServerException("upsertRunQueue", 200,
                $"The W&B server did not update queue {Printable.Quote(key.ToString())}{(errors is null or "null" ? "." : $": {Printable.Escape(errors)}")}");
        }
        return await GetQueueAsync(key, cancellationToken).ConfigureAwait(false) ?? throw QueueNotFoundException.For(key);
    }

    public async Task DeleteQueueAsync(QueueKey key, bool force, CancellationToken cancellationToken)
    {
        var metadata = await ReadMetadataAsync(key, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false) ?? throw QueueNotFoundException.For(key);
        if (!force)
        {
            var items = await ReadItemsAsync(key, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false);
            var active = items.Count(i => i.State is Jobs.LaunchJobState.Leased or Jobs.LaunchJobState.Starting or Jobs.LaunchJobState.Running);
            if (active > 0)
            {
                throw new LaunchException("QueueHasActiveJobs", LaunchErrorCategory.InvalidOperation,
                    $"Queue '{key.Name}' has {active} job(s) held by agents. Stop them first, or use -Force.", key.Name);
            }
        }
        var data = await ExecuteAsync("deleteRunQueues", WandbOperations.DeleteRunQueue, new JsonObject { ["id"] = metadata.Id }, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false);
        if (data["deleteRunQueues"] is not JsonObject result || result["success"]?.GetValueKind() != System.Text.Json.JsonValueKind.True)
        {
            throw new WandbServerException("deleteRunQueues", 200, $"The W&B server did not delete queue {Printable.Quote(key.ToString())}.");
        }
    }

    /// <summary>W&amp;B's stored form of a queue configuration.</summary>
    private static string StoredConfig(string resource, JsonObject config) =>
        JsonTree.ToJson(new JsonObject { ["resource_args"] = new JsonObject { [resource] = config.DeepClone() } });

    /// <summary>W&amp;B's stored form of template variables: <c>{"name": {"schema": {...}}}</c>, null when there are none.</summary>
    private static string? StoredVariables(IReadOnlyList<TemplateVariable> variables)
    {
        if (variables.Count == 0) return null;
        var stored = new JsonObject();
        foreach (var variable in variables) stored[variable.Name] = new JsonObject { ["schema"] = variable.ToSchema() };
        return JsonTree.ToJson(stored);
    }

    private sealed record ListedQueue(string Id, string Name, string? CreatedBy, string? Access);

    private sealed record QueueMetadata(string Id, string? Access, string? DefaultResourceConfigId, string? PrioritizationMode);

    private async Task<IReadOnlyList<ListedQueue>> ListQueuesAsync(string entity, string project, WandbRetryPolicy retry, CancellationToken cancellationToken)
    {
        var data = await ExecuteAsync("project.runQueues", WandbOperations.ProjectRunQueues,
            new JsonObject { ["entity"] = entity, ["projectName"] = project }, retry, cancellationToken).ConfigureAwait(false);
        // A project that does not exist yet (no queue was ever made) has no queues.
        if (data["project"] is not JsonObject p || p["runQueues"] is not JsonArray list) return [];
        return list.OfType<JsonObject>()
            .Where(q => Str(q, "id") is not null && Str(q, "name") is not null)
            .Select(q => new ListedQueue(Str(q, "id")!, Str(q, "name")!, Str(q, "createdBy"), Str(q, "access")))
            .ToList();
    }

    private async Task<QueueMetadata?> ReadMetadataAsync(QueueKey key, WandbRetryPolicy retry, CancellationToken cancellationToken)
    {
        var data = await ExecuteAsync("project.runQueue", WandbOperations.RunQueueMetadata,
            new JsonObject { ["projectName"] = key.Project, ["entityName"] = key.Entity, ["runQueue"] = key.Name }, retry, cancellationToken).ConfigureAwait(false);
        if ((data["project"] as JsonObject)?["runQueue"] is not JsonObject q || Str(q, "id") is not { } id) return null;
        return new QueueMetadata(id, Str(q, "access"), Str(q, "defaultResourceConfigID"), Str(q, "prioritizationMode"));
    }

    private async Task<LaunchQueue?> ReadQueueAsync(QueueKey key, ListedQueue? listed, WandbRetryPolicy retry, CancellationToken cancellationToken)
    {
        var metadata = await ReadMetadataAsync(key, retry, cancellationToken).ConfigureAwait(false);
        if (metadata is null) return null;
        string resource = "";
        var config = new JsonObject();
        IReadOnlyList<TemplateVariable> variables = [];
        if (metadata.DefaultResourceConfigId is { } configId)
        {
            var data = await ExecuteAsync("entity.defaultResourceConfig", WandbOperations.DefaultResourceConfig,
                new JsonObject { ["entityName"] = key.Entity, ["id"] = configId }, retry, cancellationToken).ConfigureAwait(false);
            if ((data["entity"] as JsonObject)?["defaultResourceConfig"] is JsonObject stored)
            {
                resource = Str(stored, "resource") ?? "";
                // Stored as {"resource_args": {"<resource>": {...}}}; a queue made elsewhere may hold anything.
                if (JsonString(stored["config"]) is JsonObject whole)
                {
                    config = (whole["resource_args"] as JsonObject)?[resource] as JsonObject is { } args ? (JsonObject)args.DeepClone() : new JsonObject();
                }
                variables = ReadTemplateVariables(key, stored["templateVariables"]);
            }
        }
        return new LaunchQueue
        {
            QueueId = metadata.Id,
            Name = key.Name,
            Entity = key.Entity,
            Project = key.Project,
            Resource = resource,
            Prioritization = metadata.PrioritizationMode == "V0",
            Access = string.Equals(metadata.Access ?? listed?.Access, "USER", StringComparison.OrdinalIgnoreCase) ? QueueAccess.User : QueueAccess.Project,
            ResourceConfig = config,
            TemplateVariables = variables,
            CreatedBy = listed?.CreatedBy,
            Store = Location,
        };
    }

    /// <summary>W&amp;B reads template variables back as <c>[{name, schema: "&lt;JSON&gt;"}]</c>; one it cannot read is skipped, with a diagnostic.</summary>
    private static IReadOnlyList<TemplateVariable> ReadTemplateVariables(QueueKey key, JsonNode? node)
    {
        var variables = new List<TemplateVariable>();
        if (node is not JsonArray list) return variables;
        foreach (var entry in list.OfType<JsonObject>())
        {
            var name = Str(entry, "name") ?? "";
            try
            {
                variables.Add(TemplateVariable.FromSchema(name, JsonString(entry["schema"])));
            }
            catch (LaunchException e)
            {
                EngineLog.Verbose(Source, $"queue {Printable.Quote(key.ToString())}: template variable {Printable.Quote(name)} skipped: {e.Message}");
            }
        }
        return variables;
    }
}
