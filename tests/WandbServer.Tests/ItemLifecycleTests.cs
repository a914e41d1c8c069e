namespace WandbLaunch.Tests.WandbServer.Tests;

/// <summary>Items: PENDING → LEASED (pop) → CLAIMED (ack) or FAILED, leases that expire, the pop order, templates.</summary>
public sealed class ItemLifecycleTests
{
    [Fact]
    public async Task Pop_leases_ack_claims_once_and_fail_fails()
    {
        using var f = new Fixture();
        await f.CreateQueueAsync("q");
        var first = await f.PushAsync("q", new { entity = "alice" });
        var second = await f.PushAsync("q", new { entity = "alice" });
        Assert.All(f.Server.Items("alice", "q"), i => Assert.Equal("PENDING", i.State));

        Assert.Equal(first, (await f.PopAsync("q"))!["runQueueItemId"]!.GetValue<string>());
        Assert.Equal("LEASED", f.Server.Items("alice", "q")[0].State);
        Assert.True((await f.Alice.DataAsync(SdkOperations.AckRunQueueItem, new { itemId = first, runId = "r1" }))["ackRunQueueItem"]!["success"]!.GetValue<bool>());
        Assert.False((await f.Alice.DataAsync(SdkOperations.AckRunQueueItem, new { itemId = first, runId = "r1" }))["ackRunQueueItem"]!["success"]!.GetValue<bool>());
        Assert.Equal(("CLAIMED", "r1"), (f.Server.Items("alice", "q")[0].State, f.Server.Items("alice", "q")[0].AssociatedRunId));

        Assert.Equal(second, (await f.PopAsync("q"))!["runQueueItemId"]!.GetValue<string>());
        await f.Alice.DataAsync(SdkOperations.FailRunQueueItem, new { runQueueItemId = second, message = "no", stage = "agent", filePaths = (string[]?)null });
        Assert.Equal("FAILED", f.Server.Items("alice", "q")[1].State);
        Assert.Null(await f.PopAsync("q"));
    }

    [Fact]
    public async Task Concurrent_pops_never_hand_one_item_to_two_agents()
    {
        using var f = new Fixture();
        await f.CreateQueueAsync("q");
        var pushed = new HashSet<string>();
        for (var i = 0; i < 20; i++) pushed.Add(await f.PushAsync("q", new { entity = "alice" }));
        var pops = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => Task.Run(() => f.PopAsync("q"))));
        var popped = pops.Where(p => p is not null).Select(p => p!["runQueueItemId"]!.GetValue<string>()).ToList();
        Assert.Equal(20, popped.Count);
        Assert.Equal(pushed, popped.ToHashSet());
        Assert.All(f.Server.Items("alice", "q"), i => Assert.Equal("LEASED", i.State));
    }

    [Fact]
    public async Task A_lease_not_acked_in_time_returns_the_item_to_pending()
    {
        using var f = new Fixture();
        f.Server.LeaseTimeout = TimeSpan.FromSeconds(30);
        await f.CreateQueueAsync("q");
        var id = await f.PushAsync("q", new { entity = "alice" });
        await f.PopAsync("q");
        f.Server.AdvanceClock(TimeSpan.FromSeconds(29));
        Assert.Equal("LEASED", Assert.Single(f.Server.Items("alice", "q")).State);
        Assert.Null(await f.PopAsync("q"));
        f.Server.AdvanceClock(TimeSpan.FromSeconds(2));
        Assert.Equal("PENDING", Assert.Single(f.Server.Items("alice", "q")).State);
        Assert.False((await f.Alice.DataAsync(SdkOperations.AckRunQueueItem, new { itemId = id, runId = "late" }))["ackRunQueueItem"]!["success"]!.GetValue<bool>());
        Assert.Equal(id, (await f.PopAsync("q"))!["runQueueItemId"]!.GetValue<string>());
    }

    [Fact]
    public async Task V0_pops_by_priority_then_first_in_and_disabled_pops_first_in()
    {
        using var f = new Fixture();
        await f.CreateQueueAsync("prio", prioritizationMode: "V0");
        await f.CreateQueueAsync("fifo");
        var low = await f.PushAsync("prio", new { entity = "alice" }, priority: 3);
        var highA = await f.PushAsync("prio", new { entity = "alice" }, priority: 1);
        var highB = await f.PushAsync("prio", new { entity = "alice" }, priority: 1);
        var critical = await f.PushAsync("prio", new { entity = "alice" }, priority: 0);
        var order = new List<string>();
        for (var i = 0; i < 4; i++) order.Add((await f.PopAsync("prio"))!["runQueueItemId"]!.GetValue<string>());
        Assert.Equal([critical, highA, highB, low], order);

        var a = await f.PushAsync("fifo", new { entity = "alice" }, priority: 3);
        await f.PushAsync("fifo", new { entity = "alice" }, priority: 0);
        Assert.Equal(a, (await f.PopAsync("fifo"))!["runQueueItemId"]!.GetValue<string>());
    }

    [Fact]
    public async Task Template_values_are_checked_and_filled_into_the_resource_config()
    {
        using var f = new Fixture();
        await f.CreateQueueAsync("t", "kubernetes", new { replicas = "{{n}}", image = "repo/{{tag}}:x" }, new Dictionary<string, object>
        {
            ["n"] = new { schema = new { type = "integer", minimum = 1, maximum = 4 } },
            ["tag"] = new { schema = new { type = "string", @enum = new[] { "cpu", "gpu" }, @default = "cpu" } },
        });
        await f.PushAsync("t", new { entity = "alice", resource_args = new { kubernetes = new { labels = new { a = "b" } } } }, values: new { n = 2 });
        var spec = System.Text.Json.Nodes.JsonNode.Parse(Assert.Single(f.Server.Items("alice", "t")).RunSpec)!["resource_args"]!["kubernetes"]!;
        Assert.Equal(2, spec["replicas"]!.GetValue<int>());
        Assert.Equal("repo/cpu:x", spec["image"]!.GetValue<string>());
        Assert.Equal("b", spec["labels"]!["a"]!.GetValue<string>());

        foreach (var values in new object[] { new { n = 9 }, new { n = 1, tag = "tpu" }, new { tag = "gpu" }, new { n = 1, other = 1 } })
        {
            var reply = await f.Alice.PostAsync(SdkOperations.PushToRunQueueByName, new
            {
                entityName = "alice", projectName = "model-registry", queueName = "t", runSpec = "{}", templateVariableValues = System.Text.Json.JsonSerializer.Serialize(values),
            });
            Assert.Equal(400, reply.Status);
            Assert.Null(reply.Data!["pushToRunQueueByName"]);
        }
        Assert.Single(f.Server.Items("alice", "t"));
    }

    [Fact]
    public async Task The_agent_sees_stop_polling_and_its_heartbeats()
    {
        using var f = new Fixture();
        var queueId = await f.CreateQueueAsync("q");
        var agentId = await f.CreateAgentAsync(queueId);
        f.Server.AdvanceClock(TimeSpan.FromMinutes(1));
        await f.Alice.DataAsync(SdkOperations.UpdateLaunchAgent, new { agentId, agentStatus = "RUNNING" });
        var agent = Assert.Single(f.Server.Agents);
        Assert.Equal(("RUNNING", 1), (agent.Status, agent.StatusUpdates));
        Assert.True(agent.HeartbeatAt >= f.Server.Now - TimeSpan.FromSeconds(5));
        f.Server.StopPolling(agentId);
        Assert.True((await f.Alice.DataAsync(SdkOperations.LaunchAgent, new { agentId }))["launchAgent"]!["stopPolling"]!.GetValue<bool>());
        var refused = await f.Alice.PostAsync(SdkOperations.CreateLaunchAgent, new { entity = "alice", project = "model-registry", queues = new[] { "bm9wZQ==" }, hostname = "h" });
        Assert.Equal(404, refused.Status);
    }

    [Fact]
    public async Task StopRun_sets_the_runs_stopped_flag_and_refuses_an_unknown_run_or_another_users()
    {
        using var f = new Fixture();
        f.Server.InitRun("alice", "p", "r1");
        var id = f.Server.Run("alice", "p", "r1")!.Id;
        Assert.True((await f.Alice.DataAsync(SdkOperations.StopRun, new { id }))["stopRun"]!["success"]!.GetValue<bool>());
        Assert.True(f.Server.Run("alice", "p", "r1")!.Stopped);

        var unknown = await f.Alice.PostAsync(SdkOperations.StopRun, new { id = "UnVuOjk5OTk5" });
        Assert.Equal(404, unknown.Status);
        Assert.Null(unknown.Data?["stopRun"]);
        Assert.Contains("not found", unknown.FirstMessage);

        using var bob = new StandInClient(f.Server, f.Server.AddUser("bob"));
        f.Server.InitRun("alice", "p", "r2");
        var other = await bob.PostAsync(SdkOperations.StopRun, new { id = f.Server.Run("alice", "p", "r2")!.Id });
        Assert.Equal(403, other.Status);
        Assert.False(f.Server.Run("alice", "p", "r2")!.Stopped);
    }
}
