using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace WandbLaunch.Tests.WandbServer.Tests;

/// <summary>Posts GraphQL to the stand-in as the SDK does: Basic auth "api:&lt;key&gt;", {query, variables}.</summary>
internal sealed class StandInClient(WandbStandIn server, string? apiKey, TimeSpan? timeout = null) : IDisposable
{
    private readonly HttpClient _http = new() { Timeout = timeout ?? TimeSpan.FromSeconds(30) };

    public sealed record Reply(int Status, string Body)
    {
        public JsonNode Json => JsonNode.Parse(Body)!;
        public JsonNode? Data => Json["data"];
        public JsonArray? Errors => Json["errors"] as JsonArray;
        public string? FirstMessage => Errors?[0]?["message"]?.GetValue<string>();
    }

    public async Task<Reply> PostAsync(string query, object? variables = null)
    {
        var body = new JsonObject { ["query"] = query, ["variables"] = variables is null ? null : System.Text.Json.JsonSerializer.SerializeToNode(variables) };
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server.Url, "/graphql"))
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        if (apiKey is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"api:{apiKey}")));
        using var response = await _http.SendAsync(request);
        return new Reply((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Posts and insists on a 200 without errors; returns "data".</summary>
    public async Task<JsonNode> DataAsync(string query, object? variables = null)
    {
        var reply = await PostAsync(query, variables);
        Assert.True(reply.Status == 200 && reply.Errors is null, $"{reply.Status}: {reply.Body}");
        return reply.Data!;
    }

    public async Task<int> PutAsync(string url, byte[] content)
    {
        using var response = await _http.PutAsync(url, new ByteArrayContent(content));
        return (int)response.StatusCode;
    }

    public void Dispose() => _http.Dispose();
}
