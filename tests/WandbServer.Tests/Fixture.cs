using System.Text.Json;

namespace WandbLaunch.Tests.WandbServer.Tests;

/// <summary>A stand-in with user "alice" (key <see cref="AliceKey"/>) and a queue made as wandb.Api().create_run_queue makes it.</summary>
internal sealed class Fixture : IDisposable
{
    public WandbStandIn Server { get; } = new();
    public string AliceKey { get; }
    public StandInClient Alice { get; }

    public Fixture()
    {
        AliceKey = Server.AddUser("alice");
        Alice = new StandInClient(Server, AliceKey);
    }

    /// <summary>createProject, createDefaultResourceConfig and createRunQueue with the SDK's texts; returns the queue id.</summary>
    public async Task<string> CreateQueueAsync(string name, string resource = "local-process", object? config = null,
        object? templateVariables = null, string? prioritizationMode = null, string entity = "alice", StandInClient? client = null)
    {
        client ??= Alice;
        await client.DataAsync(SdkOperations.CreateProject, new { input = new { name = "model-registry", entityName = entity } });
        var created = await client.DataAsync(SdkOperations.CreateDefaultResourceConfig, new
        {
            entityName = entity, resource,
            config = JsonSerializer.Serialize(new Dictionary<string, object> { ["resource_args"] = new Dictionary<string, object> { [resource] = config ?? new { } } }),
            templateVariables = templateVariables is null ? "{}" : JsonSerializer.Serialize(templateVariables),
        });
        var configId = created["createDefaultResourceConfig"]!["defaultResourceConfigID"]!.GetValue<string>();
        var queue = await client.DataAsync(SdkOperations.CreateRunQueue, new
        {
            entity, project = "model-registry", queueName = name, access = "PROJECT", prioritizationMode, defaultResourceConfigID = configId,
        });
        return queue["createRunQueue"]!["queueID"]!.GetValue<string>();
    }

    public async Task<string> PushAsync(string queue, object spec, int? priority = null, object? values = null, string entity = "alice")
    {
        var data = await Alice.DataAsync(SdkOperations.PushToRunQueueByName, new
        {
            entityName = entity, projectName = "model-registry", queueName = queue, runSpec = JsonSerializer.Serialize(spec), priority,
            templateVariableValues = values is null ? null : JsonSerializer.Serialize(values),
        });
        return data["pushToRunQueueByName"]!["runQueueItemId"]!.GetValue<string>();
    }

    public async Task<string> CreateAgentAsync(params string[] queueIds)
    {
        var data = await Alice.DataAsync(SdkOperations.CreateLaunchAgent, new
        {
            entity = "alice", project = "model-registry", queues = queueIds, hostname = "host", agentConfig = "{}", version = "0.1.0",
        });
        return data["createLaunchAgent"]!["launchAgentId"]!.GetValue<string>();
    }

    public async Task<System.Text.Json.Nodes.JsonNode?> PopAsync(string queue, string? agentId = null) =>
        (await Alice.DataAsync(SdkOperations.PopFromRunQueue, new { entity = "alice", project = "model-registry", queueName = queue, launchAgentId = agentId }))["popFromRunQueue"];

    public void Dispose()
    {
        Alice.Dispose();
        Server.Dispose();
    }
}
