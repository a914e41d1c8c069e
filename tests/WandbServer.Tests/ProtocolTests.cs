using System.Text.Json;

namespace WandbLaunch.Tests.WandbServer.Tests;

/// <summary>What the stand-in refuses, and how: the schema's checks, auth, permissions and W&B's error shapes.</summary>
public sealed class ProtocolTests
{
    [Fact]
    public async Task An_unknown_field_is_refused_with_400_and_the_message_the_SDK_matches()
    {
        using var f = new Fixture();
        var reply = await f.Alice.PostAsync("mutation { pushToRunQueueByName(input: {entityName: \"a\", projectName: \"b\", queueName: \"c\", runSpec: \"{}\"}) { runQueueItemId nope } }");
        Assert.Equal(400, reply.Status);
        Assert.Null(reply.Json["data"]);
        var error = Assert.Single(reply.Errors!)!;
        Assert.StartsWith("Cannot query field \"nope\" on type \"PushToRunQueueByNamePayload\"", error["message"]!.GetValue<string>());
        Assert.Equal(1, error["locations"]![0]!["line"]!.GetValue<int>());
        Assert.Empty(f.Server.Items("alice", "c"));
    }

    [Theory]
    [InlineData("query { project(name: \"x\", entityName: \"alice\", owner: \"y\") { id } }", "owner")]
    [InlineData("query Q($name: String) { project(name: $name, entityName: $other) { id } }", "$other")]
    [InlineData("mutation { ackRunQueueItem(input: {runQueueItemId: \"1\", runName: \"r\", extra: 1}) { success } }", "extra")]
    [InlineData("mutation { ackRunQueueItem(input: {runQueueItemId: \"1\"}) { success } }", "runName")]
    [InlineData("mutation { createRunQueue(input: {entityName: \"a\", projectName: \"b\", queueName: \"c\", access: PUBLIC}) { success } }", "PUBLIC")]
    [InlineData("query { viewer { id ", "")]
    public async Task Unknown_arguments_undeclared_variables_and_wrong_inputs_are_refused_with_400(string query, string mentioned)
    {
        using var f = new Fixture();
        var reply = await f.Alice.PostAsync(query);
        Assert.Equal(400, reply.Status);
        Assert.Contains(mentioned, reply.FirstMessage);
        Assert.Null(reply.Json["data"]);
    }

    [Fact]
    public async Task A_variable_of_the_wrong_type_is_refused()
    {
        using var f = new Fixture();
        var wrongType = await f.Alice.PostAsync(SdkOperations.RunState, new { project = 5, entity = "alice", name = "r" });
        Assert.Equal(400, wrongType.Status);
        var missing = await f.Alice.PostAsync(SdkOperations.RunState, new { entity = "alice", name = "r" });
        Assert.Equal(400, missing.Status);
        var objectForJsonString = await f.Alice.PostAsync(SdkOperations.CreateDefaultResourceConfig, new { entityName = "alice", resource = "local-process", config = new { resource_args = new { } } });
        Assert.Equal(400, objectForJsonString.Status);
    }

    [Fact]
    public async Task Introspection_answers_which_fields_the_server_has()
    {
        using var f = new Fixture();
        var data = await f.Alice.DataAsync("query ProbeServer { RunQueueType: __type(name: \"RunQueue\") { fields { name } } CreateRunQueueInputType: __type(name: \"CreateRunQueueInput\") { inputFields { name } } }");
        var fields = data["RunQueueType"]!["fields"]!.AsArray().Select(x => x!["name"]!.GetValue<string>()).ToList();
        Assert.Contains("prioritizationMode", fields);
        var inputs = data["CreateRunQueueInputType"]!["inputFields"]!.AsArray().Select(x => x!["name"]!.GetValue<string>()).ToList();
        Assert.Contains("defaultResourceConfigID", inputs);
        Assert.DoesNotContain("priority", inputs);
        await f.Alice.DataAsync("{ __schema { queryType { name } mutationType { fields { name } } } }");
    }

    [Fact]
    public async Task A_missing_or_wrong_key_gets_401_and_no_key_is_ever_echoed()
    {
        using var f = new Fixture();
        using var anonymous = new StandInClient(f.Server, null);
        Assert.Equal(401, (await anonymous.PostAsync(SdkOperations.Viewer)).Status);
        using var wrong = new StandInClient(f.Server, new string('0', 40));
        var refused = await wrong.PostAsync(SdkOperations.Viewer);
        Assert.Equal(401, refused.Status);
        Assert.NotNull(refused.FirstMessage);

        await f.CreateQueueAsync("q");
        var reply = await f.Alice.PostAsync(SdkOperations.PushToRunQueueByName, new
        {
            entityName = "alice", projectName = "model-registry", queueName = "missing", runSpec = JsonSerializer.Serialize(new { _wandb_api_key = f.AliceKey }),
        });
        Assert.DoesNotContain(f.AliceKey, reply.Body);
        Assert.All(f.Server.Calls, c => Assert.DoesNotContain(f.AliceKey, c.Variables));
        Assert.Contains(f.Server.Calls, c => c.Variables.Contains("<redacted>"));
        Assert.Contains(f.Server.Calls, c => c.Status == 401 && c.Username is null);
    }

    [Fact]
    public async Task A_user_outside_a_team_is_refused_with_403_and_data_null()
    {
        using var f = new Fixture();
        var bobKey = f.Server.AddUser("bob");
        f.Server.AddTeam("team", "bob");
        using var bob = new StandInClient(f.Server, bobKey);
        await f.CreateQueueAsync("tq", entity: "team", client: bob);

        var reply = await f.Alice.PostAsync(SdkOperations.PopFromRunQueue, new { entity = "team", project = "model-registry", queueName = "tq", launchAgentId = (string?)null });
        Assert.Equal(403, reply.Status);
        Assert.True(reply.Json["data"]!.AsObject().ContainsKey("popFromRunQueue"));
        Assert.Null(reply.Data!["popFromRunQueue"]);
        Assert.Equal("popFromRunQueue", reply.Errors![0]!["path"]![0]!.GetValue<string>());
        Assert.Equal(403, (await f.Alice.PostAsync(SdkOperations.ProjectRunQueues, new { entity = "team", projectName = "model-registry" })).Status);

        var serviceKey = f.Server.AddServiceAccount("team");
        using var service = new StandInClient(f.Server, serviceKey);
        Assert.Equal("team", (await service.DataAsync(SdkOperations.Viewer))["viewer"]!["entity"]!.GetValue<string>());
        Assert.Single((await service.DataAsync(SdkOperations.ProjectRunQueues, new { entity = "team", projectName = "model-registry" }))["project"]!["runQueues"]!.AsArray());
    }

    [Fact]
    public async Task A_queue_name_that_exists_gets_409_and_a_missing_queue_404()
    {
        using var f = new Fixture();
        await f.CreateQueueAsync("q");
        var again = await f.Alice.PostAsync(SdkOperations.CreateRunQueue, new { entity = "alice", project = "model-registry", queueName = "q", access = "PROJECT" });
        Assert.Equal(409, again.Status);
        Assert.Null(again.Data!["createRunQueue"]);
        var push = await f.Alice.PostAsync(SdkOperations.PushToRunQueueByName, new { entityName = "alice", projectName = "model-registry", queueName = "nope", runSpec = "{}" });
        Assert.Equal(404, push.Status);
        Assert.Null(push.Data!["pushToRunQueueByName"]);
        var badSpec = await f.Alice.PostAsync(SdkOperations.PushToRunQueueByName, new { entityName = "alice", projectName = "model-registry", queueName = "q", runSpec = "{not json" });
        Assert.Equal(400, badSpec.Status);
        Assert.Empty(f.Server.Items("alice", "q"));
    }

    [Fact]
    public async Task A_malformed_body_gets_400()
    {
        using var f = new Fixture();
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(f.Server.Url, "/graphql")) { Content = new StringContent("{\"query\": ") };
        request.Headers.Authorization = new("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"api:{f.AliceKey}")));
        using var response = await http.SendAsync(request);
        Assert.Equal(400, (int)response.StatusCode);
        Assert.NotNull(System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())!["errors"]);
    }
}
