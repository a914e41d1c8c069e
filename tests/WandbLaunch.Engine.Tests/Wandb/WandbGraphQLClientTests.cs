using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Storage.Wandb;

namespace WandbLaunch.Engine.Tests.Wandb;

/// <summary>The client against a real loopback HTTP server that answers each request with the next scripted reply.</summary>
public sealed class WandbGraphQLClientTests : IDisposable
{
    private const string Key = "secretkey0123456789abcdef0123456789abcdef";
    private static readonly WandbRetryPolicy Quick = new(TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(50));

    private readonly ConcurrentQueue<Func<HttpListenerContext, Task>> _replies = new();
    private readonly ConcurrentQueue<(string Method, string Path, string? Authorization, string? UserAgent, string Body)> _requests = new();
    private readonly LoopbackHttpListener _server;

    public WandbGraphQLClientTests()
    {
        _server = new LoopbackHttpListener(async context =>
        {
            using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();
            _requests.Enqueue((context.Request.HttpMethod, context.Request.Url!.AbsolutePath, context.Request.Headers["Authorization"], context.Request.Headers["User-Agent"], body));
            var reply = _replies.TryDequeue(out var next) ? next : Json(200, """{"data":{"ok":true}}""");
            try
            {
                await reply(context);
            }
            catch (HttpListenerException)
            {
            }
        });
    }

    public void Dispose() => _server.Dispose();

    private static Func<HttpListenerContext, Task> Json(int status, string body, Action<HttpListenerResponse>? headers = null) => async context =>
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        headers?.Invoke(context.Response);
        var bytes = Encoding.UTF8.GetBytes(body);
        await context.Response.OutputStream.WriteAsync(bytes);
        context.Response.Close();
    };

    private static Func<HttpListenerContext, Task> Hang() => async context =>
    {
        await Task.Delay(TimeSpan.FromSeconds(10));
        context.Response.Abort();
    };

    private WandbGraphQLClient Client(TimeSpan? timeout = null) =>
        new(_server.Url, WandbApiKey.Of(Key, "test"), timeout ?? TimeSpan.FromSeconds(5));

    private Task<JsonObject> Run(WandbGraphQLClient client, WandbRetryPolicy? retry = null) =>
        client.ExecuteAsync("viewer", "query Viewer{ viewer { id } }", new JsonObject { ["x"] = 1 }, retry ?? Quick, CancellationToken.None);

    [Fact]
    public async Task Posts_the_query_to_graphql_with_basic_api_auth_and_the_modules_user_agent()
    {
        _replies.Enqueue(Json(200, """{"data":{"viewer":{"id":"u1"}}}"""));
        using var client = Client();
        var data = await Run(client);
        Assert.Equal("u1", data["viewer"]!["id"]!.GetValue<string>());
        var request = Assert.Single(_requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal("/graphql", request.Path);
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("api:" + Key)), request.Authorization);
        Assert.Equal($"WandbLaunch/{WandbGraphQLClient.ModuleVersion}", request.UserAgent);
        var body = JsonNode.Parse(request.Body)!.AsObject();
        Assert.Equal("query Viewer{ viewer { id } }", body["query"]!.GetValue<string>());
        Assert.Equal(1, body["variables"]!["x"]!.GetValue<int>());
    }

    [Theory]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(503)]
    [InlineData(429)]
    public async Task Retries_server_errors_and_rate_limits_until_an_answer(int status)
    {
        _replies.Enqueue(Json(status, """{"errors":[{"message":"busy"}]}"""));
        _replies.Enqueue(Json(status, "<html>bad gateway</html>"));
        _replies.Enqueue(Json(200, """{"data":{"ok":true}}"""));
        using var client = Client();
        var data = await Run(client);
        Assert.True(data["ok"]!.GetValue<bool>());
        Assert.Equal(3, _requests.Count);
    }

    [Fact]
    public async Task Honours_Retry_After_on_429()
    {
        _replies.Enqueue(Json(429, "{}", r => r.AddHeader("Retry-After", "1")));
        using var client = Client();
        var clock = Stopwatch.StartNew();
        await Run(client);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(950), $"retried after {clock.ElapsedMilliseconds} ms");
        Assert.Equal(2, _requests.Count);
    }

    [Fact]
    public async Task Gives_up_when_the_retry_budget_is_spent()
    {
        for (var i = 0; i < 100; i++) _replies.Enqueue(Json(503, """{"errors":[{"message":"down for maintenance"}]}"""));
        using var client = Client();
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<WandbServerException>(() => Run(client, Quick with { Budget = TimeSpan.FromMilliseconds(400) }));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3));
        Assert.Equal(503, e.Status);
        Assert.Contains("down for maintenance", e.Message);
        Assert.True(_requests.Count >= 2, $"{_requests.Count} request(s)");
    }

    [Theory]
    [InlineData(400, "WandbServerError")]
    [InlineData(404, "WandbNotFound")]
    [InlineData(409, "WandbConflict")]
    public async Task Never_retries_client_errors(int status, string errorId)
    {
        _replies.Enqueue(Json(status, """{"data":{"viewer":null},"errors":[{"message":"queue not found"}]}"""));
        using var client = Client();
        var e = await Assert.ThrowsAsync<WandbServerException>(() => Run(client));
        Assert.Equal(errorId, e.ErrorId);
        Assert.Equal(status, e.Status);
        Assert.Contains("queue not found", e.Message);
        Assert.Single(_requests);
    }

    [Theory]
    [InlineData(401)]
    [InlineData(403)]
    public async Task A_refused_key_is_an_auth_error_that_says_what_to_check_and_is_not_retried(int status)
    {
        _replies.Enqueue(Json(status, """{"errors":[{"message":"invalid api key"}]}"""));
        using var client = Client();
        var e = await Assert.ThrowsAsync<WandbAuthException>(() => Run(client));
        Assert.Equal("WandbAuthFailed", e.ErrorId);
        Assert.Contains("WANDB_API_KEY", e.Message);
        Assert.Contains("Connect-WandbLaunch -ApiKey", e.Message);
        Assert.Single(_requests);
    }

    [Fact]
    public async Task GraphQL_errors_in_a_200_answer_are_errors()
    {
        _replies.Enqueue(Json(200, """{"data":{"upsertRunQueue":null},"errors":[{"message":"permission denied for entity"}]}"""));
        using var client = Client();
        var e = await Assert.ThrowsAsync<WandbServerException>(() => Run(client));
        Assert.Equal(200, e.Status);
        Assert.Contains("permission denied for entity", e.Message);
        Assert.Single(_requests);
    }

    [Theory]
    [InlineData("{\"data\": {\"ok\": tru")]
    [InlineData("<html>proxy login</html>")]
    [InlineData("[1,2,3]")]
    [InlineData("{\"nodata\":1}")]
    public async Task A_malformed_answer_is_a_clear_error_not_a_crash(string body)
    {
        _replies.Enqueue(Json(200, body));
        using var client = Client();
        var e = await Assert.ThrowsAsync<WandbServerException>(() => Run(client));
        Assert.Contains("viewer", e.Message);
    }

    [Fact]
    public async Task A_server_that_hangs_times_out_and_is_retried_then_reported_unreachable()
    {
        _replies.Enqueue(Hang());
        _replies.Enqueue(Hang());
        _replies.Enqueue(Hang());
        using var client = Client(TimeSpan.FromMilliseconds(300));
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<WandbUnreachableException>(() => Run(client, Quick with { Budget = TimeSpan.FromMilliseconds(500) }));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"{clock.ElapsedMilliseconds} ms");
        Assert.Equal("WandbUnreachable", e.ErrorId);
        Assert.Contains("did not answer", e.Message);
        Assert.True(_requests.Count >= 2);
    }

    [Fact]
    public async Task A_hang_followed_by_an_answer_succeeds()
    {
        _replies.Enqueue(Hang());
        using var client = Client(TimeSpan.FromMilliseconds(300));
        var data = await Run(client);
        Assert.True(data["ok"]!.GetValue<bool>());
    }

    [Fact]
    public async Task No_server_at_the_url_is_unreachable_with_the_url()
    {
        var url = _server.Url;
        _server.Dispose();
        using var client = new WandbGraphQLClient(url, WandbApiKey.Of(Key, "test"), TimeSpan.FromSeconds(2));
        var e = await Assert.ThrowsAsync<WandbUnreachableException>(() => Run(client, Quick with { Budget = TimeSpan.FromMilliseconds(200) }));
        Assert.Contains(url.Authority, e.Message);
        Assert.Equal(url + "graphql", e.Url);
    }

    [Fact]
    public async Task Cancellation_stops_the_retries_at_once()
    {
        for (var i = 0; i < 100; i++) _replies.Enqueue(Json(503, "{}"));
        using var client = Client();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            client.ExecuteAsync("viewer", "query Viewer{ viewer { id } }", null, WandbRetryPolicy.Agent, cts.Token));
    }

    [Fact]
    public async Task Neither_messages_nor_diagnostics_ever_contain_the_key_even_when_the_server_echoes_it()
    {
        var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes("api:" + Key));
        _replies.Enqueue(Json(503, $$"""{"errors":[{"message":"bad key {{Key}} in Basic {{basic}}"}]}"""));
        _replies.Enqueue(Json(401, $$"""{"errors":[{"message":"key {{Key}} refused"}]}"""));
        var diagnostics = new RecordingDiagnostics();
        using var client = Client();
        Exception e;
        using (EngineLog.Use(diagnostics))
        {
            e = await Assert.ThrowsAsync<WandbAuthException>(() => Run(client));
        }
        Assert.DoesNotContain(Key, e.Message);
        Assert.DoesNotContain(Key, e.ToString());
        Assert.False(diagnostics.All.Contains(basic), basic + "\n" + diagnostics.All);
        Assert.Contains("***", e.Message);
        Assert.DoesNotContain(Key, diagnostics.All);
        Assert.DoesNotContain("Authorization", diagnostics.All);
        Assert.Contains("viewer", diagnostics.All);
    }

    [Fact]
    public async Task Debug_reports_each_requests_operation_status_and_time_and_verbose_the_retries()
    {
        _replies.Enqueue(Json(503, "{}"));
        var diagnostics = new RecordingDiagnostics();
        using var client = Client();
        using (EngineLog.Use(diagnostics))
        {
            await Run(client);
        }
        var debug = diagnostics.At(DiagnosticLevel.Debug);
        Assert.Contains(debug, l => l.StartsWith("wandb: ") && l.Contains("viewer -> 503 in "));
        Assert.Contains(debug, l => l.Contains("viewer -> 200 in "));
        Assert.Contains(diagnostics.At(DiagnosticLevel.Verbose), l => l.Contains("viewer: attempt 1 failed") && l.Contains("retrying in"));
    }
}
