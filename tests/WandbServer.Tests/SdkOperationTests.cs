using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace WandbLaunch.Tests.WandbServer.Tests;

/// <summary>The stand-in accepts each operation exactly as the wandb SDK sends it, and answers as the SDK reads it.</summary>
public sealed class SdkOperationTests
{
    [Fact]
    public async Task A_queue_made_as_the_SDK_makes_it_reads_back_as_the_SDK_reads_it()
    {
        using var f = new Fixture();
        var queueId = await f.CreateQueueAsync("gpu", "kubernetes", new { @namespace = "{{ns}}" },
            new Dictionary<string, object> { ["ns"] = new { schema = new { type = "string", @enum = new[] { "a", "b" } } } }, "V0");

        var queues = await f.Alice.DataAsync(SdkOperations.ProjectRunQueues, new { entity = "alice", projectName = "model-registry" });
        var listed = Assert.Single(queues["project"]!["runQueues"]!.AsArray());
        Assert.Equal(queueId, listed!["id"]!.GetValue<string>());
        Assert.Equal("PROJECT", listed["access"]!.GetValue<string>());
        Assert.Equal("alice", listed["createdBy"]!.GetValue<string>());

        var meta = (await f.Alice.DataAsync(SdkOperations.GetRunQueueMetadata, new { projectName = "model-registry", entityName = "alice", runQueue = "gpu" }))["project"]!["runQueue"]!;
        Assert.Equal("V0", meta["prioritizationMode"]!.GetValue<string>());
        var config = (await f.Alice.DataAsync(SdkOperations.GetDefaultResourceConfig, new { entityName = "alice", id = meta["defaultResourceConfigID"]!.GetValue<string>() }))["entity"]!["defaultResourceConfig"]!;
        Assert.Equal("kubernetes", config["resource"]!.GetValue<string>());
        Assert.Equal("{{ns}}", config["config"]!["resource_args"]!["kubernetes"]!["namespace"]!.GetValue<string>());
        var variable = Assert.Single(config["templateVariables"]!.AsArray())!;
        Assert.Equal("ns", variable["name"]!.GetValue<string>());
        Assert.Equal("string", JsonNode.Parse(variable["schema"]!.GetValue<string>())!["type"]!.GetValue<string>());

        var stored = f.Server.Queue("alice", "gpu")!;
        Assert.Equal("{\"resource_args\":{\"kubernetes\":{\"namespace\":\"{{ns}}\"}}}", stored.Config);
        Assert.Equal("model-registry", stored.Project);
    }

    [Fact]
    public async Task A_job_goes_through_push_pop_ack_run_and_files_with_the_SDK_texts()
    {
        using var f = new Fixture();
        var queueId = await f.CreateQueueAsync("q", config: new { env = new[] { "A={{a}}" } },
            templateVariables: new Dictionary<string, object> { ["a"] = new { schema = new { type = "integer", minimum = 1 } } });
        var pushed = (await f.Alice.DataAsync(SdkOperations.PushToRunQueueByName, new
        {
            entityName = "alice", projectName = "model-registry", queueName = "q",
            runSpec = JsonSerializer.Serialize(new { job = "alice/p/j:latest", entity = "alice", project = "p" }),
            priority = 1, templateVariableValues = "{\"a\": 5}",
        }))["pushToRunQueueByName"]!;
        var itemId = pushed["runQueueItemId"]!.GetValue<string>();
        var merged = JsonNode.Parse(pushed["runSpec"]!.GetValue<string>())!;   // the SDK json.loads it
        Assert.Equal("A=5", merged["resource_args"]!["local-process"]!["env"]![0]!.GetValue<string>());

        var agentId = await f.CreateAgentAsync(queueId);
        var agent = (await f.Alice.DataAsync(SdkOperations.LaunchAgent, new { agentId }))["launchAgent"]!;
        Assert.False(agent["stopPolling"]!.GetValue<bool>());
        Assert.Equal(queueId, agent["runQueues"]![0]!.GetValue<string>());
        Assert.True((await f.Alice.DataAsync(SdkOperations.UpdateLaunchAgent, new { agentId, agentStatus = "POLLING" }))["updateLaunchAgent"]!["success"]!.GetValue<bool>());

        var popped = (await f.PopAsync("q", agentId))!;
        Assert.Equal(itemId, popped["runQueueItemId"]!.GetValue<string>());
        Assert.Equal("alice/p/j:latest", popped["runSpec"]!["job"]!.GetValue<string>());   // the agent uses it as a dict
        Assert.Null(await f.PopAsync("q", agentId));
        Assert.True((await f.Alice.DataAsync(SdkOperations.AckRunQueueItem, new { itemId, runId = "run1" }))["ackRunQueueItem"]!["success"]!.GetValue<bool>());

        var item = (await f.Alice.DataAsync(SdkOperations.GetRunQueueItem, new { projectName = "model-registry", entityName = "alice", runQueue = "q", itemId }))["project"]!["runQueue"]!["runQueueItem"]!;
        Assert.Equal("CLAIMED", item["state"]!.GetValue<string>());
        Assert.Equal("run1", item["associatedRunId"]!.GetValue<string>());
        var legacy = (await f.Alice.DataAsync(SdkOperations.GetRunQueueItemLegacy, new { projectName = "model-registry", entityName = "alice", runQueue = "q" }))["project"]!["runQueue"]!["runQueueItems"]!["edges"]!;
        Assert.Equal(itemId, legacy[0]!["node"]!["id"]!.GetValue<string>());

        // the job's wandb.init
        var bucket = (await f.Alice.DataAsync(SdkOperations.UpsertBucket, new { name = "run1", project = "p", entity = "alice", config = "{}", debug = false, tags = new string[0] }))["upsertBucket"]!;
        Assert.True(bucket["inserted"]!.GetValue<bool>());
        Assert.Equal("alice", bucket["bucket"]!["project"]!["entity"]!["name"]!.GetValue<string>());
        Assert.Equal("running", (await f.Alice.DataAsync(SdkOperations.RunState, new { project = "p", entity = "alice", name = "run1" }))["project"]!["run"]!["state"]!.GetValue<string>());
        Assert.False((await f.Alice.DataAsync(SdkOperations.RunStoppedStatus, new { projectName = "p", entityName = "alice", runId = "run1" }))["project"]!["run"]!["stopped"]!.GetValue<bool>());
        Assert.True((await f.Alice.DataAsync(SdkOperations.StopRun, new { id = bucket["bucket"]!["id"]!.GetValue<string>() }))["stopRun"]!["success"]!.GetValue<bool>());
        Assert.True((await f.Alice.DataAsync(SdkOperations.CoreRunStoppedStatus, new { projectName = "p", entityName = "alice", runId = "run1" }))["project"]!["run"]!["stopped"]!.GetValue<bool>());
        Assert.True(f.Server.Run("alice", "p", "run1")!.Stopped);

        // the agent's error log, uploaded as W&B's agent does, then the item failed with it
        var files = (await f.Alice.DataAsync(SdkOperations.CreateRunFiles, new { entity = "alice", project = "p", run = "run1", files = new[] { $"{itemId}/error/error.log" } }))["createRunFiles"]!;
        Assert.Equal(200, await f.Alice.PutAsync(files["files"]![0]!["uploadUrl"]!.GetValue<string>(), Encoding.UTF8.GetBytes("boom")));
        Assert.Equal("boom", Encoding.UTF8.GetString(f.Server.RunFile("alice", "p", "run1", $"{itemId}/error/error.log")!));
        await f.Alice.DataAsync(SdkOperations.UpdateRunQueueItemWarning, new { runQueueItemId = itemId, message = "slow", stage = "Kubernetes", filePaths = (string[]?)null });
        await f.Alice.DataAsync(SdkOperations.FailRunQueueItem, new { runQueueItemId = itemId, message = "it broke", stage = "run", filePaths = new[] { $"{itemId}/error/error.log" } });
        var failed = Assert.Single(f.Server.Items("alice", "q"));
        Assert.Equal("FAILED", failed.State);
        Assert.Equal(("it broke", "run"), (failed.Error!.Message, failed.Error.Stage));
        Assert.Equal("slow", Assert.Single(failed.Warnings).Message);
        Assert.Equal("POLLING", Assert.Single(f.Server.Agents).Status);
    }

    [Fact]
    public async Task Upsert_delete_legacy_push_viewer_team_features_and_sweeps_are_accepted()
    {
        using var f = new Fixture();
        f.Server.AddTeam("team", "alice");
        var upserted = await f.Alice.DataAsync(SdkOperations.UpsertRunQueue, new
        {
            entityName = "team", projectName = "model-registry", queueName = "uq", resourceType = "local-container",
            resourceConfig = "{\"resource_args\": {\"local-container\": {}}}", templateVariables = (string?)null, prioritizationMode = "DISABLED", externalLinks = (string?)null,
        });
        Assert.True(upserted["upsertRunQueue"]!["success"]!.GetValue<bool>());
        await f.Alice.DataAsync(SdkOperations.CoreUpsertRunQueue, new
        {
            entityName = "team", projectName = "model-registry", queueName = "uq", resourceType = "local-container",
            resourceConfig = "{\"resource_args\": {\"local-container\": {\"x\": 1}}}", prioritizationMode = "V0",
        });
        var queue = f.Server.Queue("team", "uq")!;
        Assert.Equal(("V0", "local-container"), (queue.PrioritizationMode, queue.Resource));

        var legacy = await f.Alice.DataAsync(SdkOperations.PushToRunQueue, new { queueID = queue.Id, runSpec = "{\"entity\": \"team\"}", templateVariableValues = (string?)null });
        var itemId = legacy["pushToRunQueue"]!["runQueueItemId"]!.GetValue<string>();
        var found = await f.Alice.DataAsync(SdkOperations.FetchRunQueuesFromProject, new { entityName = "team", projectName = "model-registry", runQueueName = "uq" });
        Assert.Equal(queue.Id, found["project"]!["runQueue"]!["id"]!.GetValue<string>());
        Assert.True((await f.Alice.DataAsync(SdkOperations.DeleteFromRunQueue, new { queueID = queue.Id, runQueueItemId = itemId }))["deleteFromRunQueue"]!["success"]!.GetValue<bool>());
        Assert.Empty(f.Server.Items("team", "uq"));
        Assert.Empty((await f.Alice.DataAsync(SdkOperations.GetRunQueueItems, new { projectName = "model-registry", entityName = "team", runQueue = "uq" }))["project"]!["runQueue"]!["runQueueItems"]!["edges"]!.AsArray());
        Assert.True((await f.Alice.DataAsync(SdkOperations.DeleteRunQueue, new { id = queue.Id }))["deleteRunQueues"]!["success"]!.GetValue<bool>());
        Assert.Null(f.Server.Queue("team", "uq"));

        var viewer = (await f.Alice.DataAsync(SdkOperations.Viewer))["viewer"]!;
        Assert.Equal(("alice", "alice"), (viewer["entity"]!.GetValue<string>(), viewer["username"]!.GetValue<string>()));
        Assert.Equal("team", viewer["teams"]!["edges"]![0]!["node"]!["name"]!.GetValue<string>());
        await f.Alice.DataAsync(SdkOperations.CoreViewer);
        await f.Alice.DataAsync(SdkOperations.ServerFeaturesQuery);
        Assert.True((await f.Alice.DataAsync(SdkOperations.EntityIsTeam, new { entity = "team" }))["entity"]!["isTeam"]!.GetValue<bool>());
        Assert.Null((await f.Alice.DataAsync(SdkOperations.EntityIsTeam, new { entity = "nobody" }))["entity"]);

        f.Server.SetSweepState("alice", "p", "sw1", "RUNNING");
        var sweepId = f.Server.Sweep("alice", "p", "sw1")!.Id;
        await f.Alice.DataAsync(SdkOperations.UpsertSweep, new { id = sweepId, state = "PAUSED", entityName = "alice", projectName = "p" });
        Assert.Equal("PAUSED", (await f.Alice.DataAsync(SdkOperations.GetSweepState, new { entity = "alice", project = "p", sweep = "sw1" }))["project"]!["sweep"]!["state"]!.GetValue<string>());

        f.Server.InitRun("alice", "p", "r2");
        var core = await f.Alice.DataAsync(SdkOperations.CoreCreateRunFiles, new { entity = "alice", project = "p", run = "r2", files = new[] { "a.txt" } });
        Assert.StartsWith(f.Server.Url.ToString(), core["createRunFiles"]!["files"]![0]!["uploadUrl"]!.GetValue<string>());
        await f.Alice.DataAsync(SdkOperations.CoreStopRun, new { id = f.Server.Run("alice", "p", "r2")!.Id });
        await f.Alice.DataAsync(SdkOperations.CoreUpsertBucket, new { name = "r3", project = "p", entity = "alice", state = "finished" });
        Assert.Equal("finished", f.Server.Run("alice", "p", "r3")!.State);
    }
}
