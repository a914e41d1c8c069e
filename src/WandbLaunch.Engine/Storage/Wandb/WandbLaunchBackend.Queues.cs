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
        if (await ReadMetadataAsync(key, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false) is not null) throw QueueExists(key);
        var config = await ExecuteAsync("createDefaultResourceConfig", WandbOperations.CreateDefaultResourceConfig, new JsonObject
        {
            ["entityName"] = key.Entity,
            ["resource"] = checkedDef.Resource,
            ["config"] = StoredConfig(checkedDef.Resource, checkedDef.Config),
            ["templateVariables"] = StoredVariables(checkedDef.Variables),
        }, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false);
        var configId = Str(config["createDefaultResourceConfig"] as JsonObject, "defaultResourceConfigID")
            ?? throw new WandbServerException("createDefaultResourceConfig", 200, "The W&B server did not create the queue's resource configuration.");
        JsonObject created;
        try
        {
            created = await ExecuteAsync("createRunQueue", WandbOperations.CreateRunQueue, new JsonObject
            {
                ["entity"] = key.Entity,
                ["project"] = key.Project,
                ["queueName"] = key.Name,
                ["access"] = definition.Access == QueueAccess.User ? "USER" : "PROJECT",
                ["prioritizationMode"] = definition.Prioritization ? "V0" : "DISABLED",
                ["defaultResourceConfigID"] = configId,
            }, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false);
        }
        catch (WandbServerException e) when (e.Status == 409)
        {
            // Another client created it since the check above.
            throw QueueExists(key);
        }
        if (created["createRunQueue"] is not JsonObject result || result["success"]?.GetValueKind() != System.Text.Json.JsonValueKind.True)
        {
            throw new WandbServerException("createRunQueue", 200, $"The W&B server did not create queue {Printable.Quote(key.ToString())}.");
        }
        // A new queue has no items to count.
        return await ReadQueueAsync(key, null, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false) ?? throw QueueNotFoundException.For(key);
    }

    public async Task<IReadOnlyList<LaunchQueue>> GetQueuesAsync(string? entity, string? project, CancellationToken cancellationToken)
    {
        entity ??= DefaultEntity;
        project ??= LaunchDefaults.Project;
        var queues = new List<LaunchQueue>();
        // Sorted by name, as the local store lists them.
        foreach (var listed in (await ListQueuesAsync(entity, project, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false)).OrderBy(q => q.Name, StringComparer.Ordinal))
        {
            var key = new QueueKey(entity, project, listed.Name);
            if (await ReadQueueAsync(key, listed, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false) is { } queue)
            {
                queues.Add(await WithCountsAsync(queue, cancellationToken).ConfigureAwait(false));
            }
        }
        return queues;
    }

    public async Task<LaunchQueue?> GetQueueAsync(QueueKey key, CancellationToken cancellationToken) =>
        await ReadQueueAsync(key, null, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false) is { } queue
            ? await WithCountsAsync(queue, cancellationToken).ConfigureAwait(false)
            : null;

    /// <summary>The queue with how many of its items wait (PENDING) and how many agents hold (LEASED, or CLAIMED and not ended as far as this host knows).</summary>
    private async Task<LaunchQueue> WithCountsAsync(LaunchQueue queue, CancellationToken cancellationToken)
    {
        var key = new QueueKey(queue.Entity, queue.Project, queue.Name);
        var items = await ReadItemsAsync(key, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false);
        return new LaunchQueue
        {
            QueueId = queue.QueueId, Name = queue.Name, Entity = queue.Entity, Project = queue.Project, Resource = queue.Resource,
            Prioritization = queue.Prioritization, Access = queue.Access, ResourceConfig = queue.ResourceConfig, TemplateVariables = queue.TemplateVariables,
            CreatedBy = queue.CreatedBy, CreatedAt = queue.CreatedAt, UpdatedAt = queue.UpdatedAt, Store = queue.Store,
            PendingCount = items.Count(i => i.State == Jobs.LaunchJobState.Pending),
            ActiveCount = items.Count(i => i.State is Jobs.LaunchJobState.Leased or Jobs.LaunchJobState.Starting or Jobs.LaunchJobState.Running),
        };
    }

    public async Task<LaunchQueue> UpdateQueueAsync(QueueKey key, QueueUpdate update, CancellationToken cancellationToken)
    {
        if (update.NewName is not null) QueueNames.Validate(update.NewName);
        var current = await ReadQueueAsync(key, null, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false) ?? throw QueueNotFoundException.For(key);
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
            ["resourceConfig"] = StoredConfig(checkedDef.Resource, checkedDef.Config),
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
            var active = 0;
            foreach (var item in await ReadItemsAsync(key, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false))
            {
                if (await IsHeldAsync(item, cancellationToken).ConfigureAwait(false)) active++;
            }
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

    /// <summary>
    /// Whether an agent still holds the item: LEASED; or CLAIMED (W&amp;B's state for a started item, also once it ended)
    /// and held by an agent on this host, or its run is still running. A CLAIMED item whose run ended, or never began
    /// and no agent here holds, is over.
    /// </summary>
    private async Task<bool> IsHeldAsync(Jobs.LaunchJob item, CancellationToken cancellationToken)
    {
        if (item.State is Jobs.LaunchJobState.Leased or Jobs.LaunchJobState.Starting) return true;
        if (item.State != Jobs.LaunchJobState.Running) return false;
        if (_held.ContainsKey(item.Id) || RecordsFor(item.Entity).Read(item.Id) is not null) return true;
        return await RunStateAsync(item, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false) is { } state
            && (state.Equals("running", StringComparison.OrdinalIgnoreCase) || state.Equals("pending", StringComparison.OrdinalIgnoreCase));
    }

    private static LaunchException QueueExists(QueueKey key) => new("QueueExists", LaunchErrorCategory.ResourceExists,
        $"A queue named '{key.Name}' already exists in {key.Entity}/{key.Project}. Use Set-WandbLaunchQueue to change it, or choose another name.", key.Name);

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

    private sealed record QueueMetadata(string Id, string? Access, string? DefaultResourceConfigId, string? PrioritizationMode, string? CreatedBy);

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
        return new QueueMetadata(id, Str(q, "access"), Str(q, "defaultResourceConfigID"), Str(q, "prioritizationMode"), Str(q, "createdBy"));
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
            CreatedBy = metadata.CreatedBy ?? listed?.CreatedBy,
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
