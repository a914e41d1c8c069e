namespace WandbLaunch.Tests.WandbServer.Tests;

/// <summary>The stand-in's fault injection does what the backend's retry tests rely on.</summary>
public sealed class FaultTests
{
    [Fact]
    public async Task FailNext_answers_the_matching_operation_the_given_number_of_times()
    {
        using var f = new Fixture();
        await f.CreateQueueAsync("q");
        f.Server.Faults.FailNext(500, times: 2, operation: "popFromRunQueue");
        Assert.Equal(200, (await f.Alice.PostAsync(SdkOperations.Viewer)).Status);
        var args = new { entity = "alice", project = "model-registry", queueName = "q", launchAgentId = (string?)null };
        Assert.Equal(500, (await f.Alice.PostAsync(SdkOperations.PopFromRunQueue, args)).Status);
        Assert.Equal(500, (await f.Alice.PostAsync(SdkOperations.PopFromRunQueue, args)).Status);
        Assert.Equal(200, (await f.Alice.PostAsync(SdkOperations.PopFromRunQueue, args)).Status);

        f.Server.Faults.FailNext(429, body: "{\"errors\":[{\"message\":\"rate limited\"}]}");
        var limited = await f.Alice.PostAsync(SdkOperations.Viewer);
        Assert.Equal((429, "rate limited"), (limited.Status, limited.FirstMessage));
        Assert.Contains(f.Server.Calls, c => c.OperationName == "popFromRunQueue" && c.Status == 500 && c.Fields.Contains("popFromRunQueue"));
    }

    [Fact]
    public async Task HangNext_holds_the_answer_past_a_client_timeout_and_nothing_is_lost()
    {
        using var f = new Fixture();
        await f.CreateQueueAsync("q");
        await f.PushAsync("q", new { entity = "alice" });
        f.Server.Faults.HangNext(TimeSpan.FromSeconds(3), "popFromRunQueue");
        using var impatient = new StandInClient(f.Server, f.AliceKey, TimeSpan.FromMilliseconds(500));
        await Assert.ThrowsAnyAsync<TaskCanceledException>(() => impatient.PostAsync(SdkOperations.PopFromRunQueue, new { entity = "alice", project = "model-registry", queueName = "q", launchAgentId = (string?)null }));
        Assert.Equal("PENDING", Assert.Single(f.Server.Items("alice", "q")).State);
    }

    [Fact]
    public async Task MalformedNext_sends_a_body_that_does_not_parse()
    {
        using var f = new Fixture();
        f.Server.Faults.MalformedNext("Viewer");
        var reply = await f.Alice.PostAsync(SdkOperations.Viewer);
        Assert.Equal(200, reply.Status);
        Assert.ThrowsAny<System.Text.Json.JsonException>(() => reply.Json);
        Assert.Equal(200, (await f.Alice.PostAsync(SdkOperations.Viewer)).Status);
    }

    [Fact]
    public async Task Down_refuses_connections_until_the_server_is_back_with_its_state()
    {
        using var f = new Fixture();
        await f.CreateQueueAsync("q");
        await f.PushAsync("q", new { entity = "alice" });
        f.Server.Faults.Down(true);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => f.Alice.PostAsync(SdkOperations.Viewer));
        f.Server.Faults.Down(false);
        Assert.Equal(200, (await f.Alice.PostAsync(SdkOperations.Viewer)).Status);
        Assert.NotNull(await f.PopAsync("q"));
    }
}
