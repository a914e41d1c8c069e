using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Wandb;

namespace WandbLaunch.Engine.Tests.Wandb;

/// <summary>
/// Connecting and the shapes the backend sends, against a loopback server that answers by operation with scripted
/// data. (The backend's semantics are tested by the contract suite against the stand-in server.)
/// </summary>
public sealed partial class WandbBackendTransportTests : IDisposable
{
    private const string Key = "backendkey0123456789abcdef0123456789abcd";
    private readonly ConcurrentQueue<(string Operation, JsonObject Variables)> _requests = new();
    private readonly LoopbackHttpListener _server;
    private Func<string, JsonObject, (int Status, string Body)> _answer = (_, _) => (200, """{"data":{}}""");

    public WandbBackendTransportTests()
    {
        _server = new LoopbackHttpListener(async context =>
        {
            using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
            var body = JsonNode.Parse(await reader.ReadToEndAsync())!.AsObject();
            var operation = OperationName().Match(body["query"]!.GetValue<string>()).Groups[1].Value;
            var variables = body["variables"] as JsonObject ?? new JsonObject();
            _requests.Enqueue((operation, variables));
            var (status, text) = _answer(operation, variables);
            context.Response.StatusCode = status;
            var bytes = Encoding.UTF8.GetBytes(text);
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        });
    }

    [GeneratedRegex(@"(?:query|mutation)\s+(\w+)")]
    private static partial Regex OperationName();

    public void Dispose() => _server.Dispose();

    private WandbConnection Connection(string? entity = null) =>
        new(_server.Url, WandbApiKey.Of(Key, "test")) { Entity = entity };

    private const string ViewerAnswer = """{"data":{"viewer":{"id":"VXNlcjox","entity":"alice","username":"alice"}}}""";

    [Fact]
    public async Task Connecting_checks_the_key_with_viewer_and_takes_the_viewers_entity()
    {
        _answer = (op, _) => op == "Viewer" ? (200, ViewerAnswer) : (400, "{}");
        var backend = (WandbLaunchBackend)await LaunchBackends.ConnectAsync(Connection(), CancellationToken.None);
        Assert.Equal("alice", backend.DefaultEntity);
        Assert.Equal("alice", backend.ConnectedAs!.Username);
        Assert.Equal(_server.Url.ToString().TrimEnd('/'), backend.Location);
    }

    [Fact]
    public async Task A_wrong_key_fails_at_connect_with_an_auth_error_without_the_key()
    {
        _answer = (_, _) => (401, """{"errors":[{"message":"user is not logged in"}]}""");
        var e = await Assert.ThrowsAsync<WandbAuthException>(() => LaunchBackends.ConnectAsync(Connection("team"), CancellationToken.None));
        Assert.Equal("WandbAuthFailed", e.ErrorId);
        Assert.DoesNotContain(Key, e.Message);
    }

    [Fact]
    public async Task An_unknown_entity_fails_at_connect()
    {
        _answer = (op, _) => op == "Viewer" ? (200, ViewerAnswer) : (200, """{"data":{"entity":null}}""");
        var e = await Assert.ThrowsAsync<LaunchException>(() => LaunchBackends.ConnectAsync(Connection("no-such-team"), CancellationToken.None));
        Assert.Equal("WandbEntityNotFound", e.ErrorId);
        Assert.Contains("no-such-team", e.Message);
        var entityCheck = _requests.Single(r => r.Operation == "EntityIsTeam");
        Assert.Equal("no-such-team", entityCheck.Variables["entity"]!.GetValue<string>());
    }

    [Fact]
    public void Jobs_get_the_connections_server_and_key_and_the_local_store_gives_none()
    {
        ILaunchBackend backend = LaunchBackends.For(Connection("e"));
        Assert.Equal(Key, backend.ConnectionVariable("WANDB_API_KEY"));
        Assert.Equal(backend.Location, backend.ConnectionVariable("WANDB_BASE_URL"));
        Assert.Null(backend.ConnectionVariable("WANDB_PROJECT"));
    }

    [Fact]
    public async Task A_new_queue_is_stored_as_the_launch_app_stores_it()
    {
        var created = false;
        _answer = (op, v) => op switch
        {
            "GetRunQueueMetadata" when !created => (200, """{"data":{"project":{"runQueue":null}}}"""),
            "GetRunQueueMetadata" => (200, """{"data":{"project":{"runQueue":{"id":"UnVuUXVldWU6MQ==","access":"PROJECT","defaultResourceConfigID":"cfg1","prioritizationMode":"V0","externalLinks":null}}}}"""),
            "CreateDefaultResourceConfig" => (200, """{"data":{"createDefaultResourceConfig":{"defaultResourceConfigID":"cfg1","success":true}}}"""),
            "CreateRunQueue" => Created(),
            "GetDefaultResourceConfig" => (200, """{"data":{"entity":{"defaultResourceConfig":{"resource":"local-process","config":"{\"resource_args\": {\"local-process\": {\"env\": {\"GPUS\": \"{{gpus}}\"}}}}","templateVariables":[{"name":"gpus","schema":"{\"type\": \"integer\", \"minimum\": 1, \"maximum\": 8}"}]}}}}"""),
            _ => (400, """{"errors":[{"message":"unexpected"}]}"""),
        };
        (int, string) Created()
        {
            created = true;
            return (200, """{"data":{"createRunQueue":{"success":true,"queueID":"UnVuUXVldWU6MQ=="}}}""");
        }

        using var backend = new WandbLaunchBackend(Connection("team"));
        var queue = await backend.CreateQueueAsync(new QueueDefinition
        {
            Name = "gpu",
            Entity = "team",
            Project = LaunchDefaults.Project,
            Resource = "local-process",
            Configuration = JsonNode.Parse("""{"env": {"GPUS": "{{gpus}}"}}"""),
            TemplateVariables = JsonNode.Parse("""{"gpus": {"type": "integer", "minimum": 1, "maximum": 8}}""")!.AsObject(),
            Prioritization = true,
        }, CancellationToken.None);

        var config = _requests.Single(r => r.Operation == "CreateDefaultResourceConfig").Variables;
        Assert.Equal("team", config["entityName"]!.GetValue<string>());
        Assert.Equal("local-process", config["resource"]!.GetValue<string>());
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"resource_args": {"local-process": {"env": {"GPUS": "{{gpus}}"}}}}"""), JsonNode.Parse(config["config"]!.GetValue<string>())));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"gpus": {"schema": {"type": "integer", "minimum": 1, "maximum": 8}}}"""), JsonNode.Parse(config["templateVariables"]!.GetValue<string>())));
        var runQueue = _requests.Single(r => r.Operation == "CreateRunQueue").Variables;
        Assert.Equal("model-registry", runQueue["project"]!.GetValue<string>());
        Assert.Equal("gpu", runQueue["queueName"]!.GetValue<string>());
        Assert.Equal("PROJECT", runQueue["access"]!.GetValue<string>());
        Assert.Equal("V0", runQueue["prioritizationMode"]!.GetValue<string>());
        Assert.Equal("cfg1", runQueue["defaultResourceConfigID"]!.GetValue<string>());

        Assert.Equal("local-process", queue.Resource);
        Assert.True(queue.Prioritization);
        Assert.Equal("{{gpus}}", queue.GetResourceConfig()["env"]!["GPUS"]!.GetValue<string>());
        Assert.Equal("gpus", Assert.Single(queue.TemplateVariables).Name);
    }

    [Fact]
    public async Task A_queue_that_exists_is_refused_before_anything_is_created()
    {
        _answer = (op, _) => op == "GetRunQueueMetadata"
            ? (200, """{"data":{"project":{"runQueue":{"id":"q1","access":"PROJECT","defaultResourceConfigID":null,"prioritizationMode":"DISABLED","externalLinks":null}}}}""")
            : (400, "{}");
        using var backend = new WandbLaunchBackend(Connection("team"));
        var e = await Assert.ThrowsAsync<LaunchException>(() => backend.CreateQueueAsync(
            new QueueDefinition { Name = "gpu", Entity = "team", Project = LaunchDefaults.Project, Resource = "local-process" }, CancellationToken.None));
        Assert.Equal("QueueExists", e.ErrorId);
        Assert.DoesNotContain(_requests, r => r.Operation.StartsWith("Create", StringComparison.Ordinal));
    }
}
