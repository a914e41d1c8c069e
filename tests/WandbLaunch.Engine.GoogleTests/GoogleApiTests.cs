using System.Security.Cryptography;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Cloud.Google;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Tests.Google;

namespace WandbLaunch.Engine.GoogleTests;

/// <summary>Credentials, tokens, endpoints, errors and back-off against the stand-in.</summary>
public sealed class GoogleApiTests : IDisposable
{
    private readonly GoogleServer _server = new();
    private readonly TempDirectory _dir = new();
    private readonly Dictionary<string, string> _env = new();

    public GoogleApiTests()
    {
        _env["HOME"] = _dir.Path; // no gcloud files of the host
        _env["GOOGLE_APPLICATION_CREDENTIALS"] = _dir.Write("sa.json", _server.ServiceAccountKeyJson());
        _env[GoogleEndpoints.VertexOverrideVariable] = _server.Url.ToString();
    }

    public void Dispose()
    {
        _server.Dispose();
        _dir.Dispose();
    }

    private string? Env(string name) => _env.TryGetValue(name, out var value) ? value : null;

    private List<TimeSpan> Waits { get; } = [];

    private GoogleApiClient Client(int maxRetries = 5) => new(GoogleAuth.FromEnvironment(Env))
    {
        MaxRetries = maxRetries,
        Delay = (wait, _) =>
        {
            lock (Waits) Waits.Add(wait);
            return Task.CompletedTask;
        },
    };

    private Uri Jobs => new(GoogleEndpoints.Vertex("us-central1", Env), $"v1/projects/{_server.Project}/locations/us-central1/customJobs");

    [Fact]
    public async Task AServiceAccountKeyGetsAScopedTokenFromItsTokenUriAndTheTokenIsReusedUntilItExpires()
    {
        var client = Client();
        Assert.Equal(_server.Project, await client.Auth.ProjectAsync(CancellationToken.None));
        Assert.Contains(_server.Account.ClientEmail, client.Auth.Identity);
        await client.SendAsync(HttpMethod.Get, Jobs, null, "Listing", CancellationToken.None);
        await client.SendAsync(HttpMethod.Get, Jobs, null, "Listing", CancellationToken.None);
        Assert.Empty(_server.Rejections);
        Assert.Equal(1, _server.Account.TokensIssued);
        Assert.Contains(_server.Requests, r => r.Path == "/token");

        // A token the service no longer takes (revoked, or expired by its clock) is renewed once.
        _server.Account.ExpireTokens();
        await client.SendAsync(HttpMethod.Get, Jobs, null, "Listing", CancellationToken.None);
        Assert.Equal(2, _server.Account.TokensIssued);
        Assert.Contains("expired access token", _server.Rejections);
    }

    [Fact]
    public async Task GcloudsUserLoginRefreshesAtItsTokenUriAndTakesGcloudsProject()
    {
        _env.Remove("GOOGLE_APPLICATION_CREDENTIALS");
        var gcloud = Path.Combine(_dir.Path, ".config", "gcloud");
        Directory.CreateDirectory(Path.Combine(gcloud, "configurations"));
        File.WriteAllText(Path.Combine(gcloud, "application_default_credentials.json"), _server.AuthorizedUserJson());
        File.WriteAllText(Path.Combine(gcloud, "configurations", "config_default"), $"[core]\naccount = someone@example.com\nproject = {_server.Project}\n");
        var client = Client();
        Assert.Contains("gcloud auth application-default login", client.Auth.Identity);
        Assert.Equal(_server.Project, await client.Auth.ProjectAsync(CancellationToken.None));
        await client.SendAsync(HttpMethod.Get, Jobs, null, "Listing", CancellationToken.None);
        Assert.Empty(_server.Rejections);

        // A revoked login is refused with Google's reason.
        _server.UserRefreshToken = "1//revoked";
        var e = await Assert.ThrowsAsync<LaunchException>(() => Client().SendAsync(HttpMethod.Get, Jobs, null, "Listing", CancellationToken.None));
        Assert.Equal("GoogleCredentialsRefused", e.ErrorId);
        Assert.Contains("Token has been expired or revoked", e.Message);
    }

    [Fact]
    public async Task GoogleCloudProjectOverridesTheKeysProject()
    {
        _env["GOOGLE_CLOUD_PROJECT"] = "other-project";
        Assert.Equal("other-project", await GoogleAuth.FromEnvironment(Env).ProjectAsync(CancellationToken.None));
    }

    [Fact]
    public async Task AKeyGoogleDoesNotKnowIsRefusedWithTheAccountAndNoSecret()
    {
        using var stranger = RSA.Create(2048);
        var keyJson = _server.ServiceAccountKeyJson(stranger);
        _env["GOOGLE_APPLICATION_CREDENTIALS"] = _dir.Write("stranger.json", keyJson);
        var e = await Assert.ThrowsAsync<LaunchException>(() => Client().SendAsync(HttpMethod.Get, Jobs, null, "Listing", CancellationToken.None));
        Assert.Equal("GoogleCredentialsRefused", e.ErrorId);
        Assert.Contains(_server.Account.ClientEmail, e.Message);
        Assert.Contains("Invalid JWT Signature", e.Message);
        var privateKey = (string)JsonNode.Parse(keyJson)!["private_key"]!;
        Assert.DoesNotContain(privateKey.Split('\n')[1], e.ToString());
        Assert.Contains("token: Invalid JWT Signature.", _server.Rejections);
    }

    [Fact]
    public void AnUnreadableCredentialFileIsNamed()
    {
        _env["GOOGLE_APPLICATION_CREDENTIALS"] = _dir.Write("broken.json", "{\"type\": \"service_account\"}");
        var e = Assert.Throws<LaunchException>(() => GoogleAuth.FromEnvironment(Env));
        Assert.Equal("GoogleCredentialsUnusable", e.ErrorId);
        Assert.Contains("broken.json", e.Message);
        Assert.Contains("client_email", e.Message);
    }

    [Fact]
    public async Task WithoutAKeyFileOrGcloudTheMetadataServerGivesTheTokenAndTheProject()
    {
        _env.Remove("GOOGLE_APPLICATION_CREDENTIALS");
        _env["GCE_METADATA_HOST"] = _server.HostPort;
        var client = Client();
        Assert.Equal(_server.Project, await client.Auth.ProjectAsync(CancellationToken.None));
        await client.SendAsync(HttpMethod.Get, Jobs, null, "Listing", CancellationToken.None);
        Assert.Empty(_server.Rejections);
        Assert.Contains(_server.Requests, r => r.Path == "/computeMetadata/v1/instance/service-accounts/default/token" && r.Headers["metadata-flavor"] == "Google");
    }

    [Fact]
    public async Task WithNoCredentialsAnywhereTheErrorSaysHowToProvideThem()
    {
        _env.Remove("GOOGLE_APPLICATION_CREDENTIALS");
        using var closed = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        closed.Start();
        var port = ((System.Net.IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        _env["GCE_METADATA_HOST"] = $"127.0.0.1:{port}";
        var e = await Assert.ThrowsAsync<LaunchException>(() => Client().SendAsync(HttpMethod.Get, Jobs, null, "Listing", CancellationToken.None));
        Assert.Equal("GoogleCredentialsNotFound", e.ErrorId);
        Assert.Contains("GOOGLE_APPLICATION_CREDENTIALS", e.Message);
        Assert.Contains("gcloud auth application-default login", e.Message);
    }

    [Fact]
    public async Task ThrottledRequestsAreTriedAgainWithCappedGrowingBackoff()
    {
        _server.Throttle(4);
        var client = Client();
        await client.SendAsync(HttpMethod.Get, Jobs, null, "Listing", CancellationToken.None);
        Assert.Equal(4, Waits.Count);
        for (var i = 0; i < Waits.Count; i++)
        {
            var cap = Math.Min(client.MaxBackoff.TotalMilliseconds, client.BaseBackoff.TotalMilliseconds * Math.Pow(2, i));
            Assert.InRange(Waits[i].TotalMilliseconds, cap / 2, cap);
        }
        Assert.Equal(4, _server.Requests.Count(r => r.Status == 429));
    }

    [Fact]
    public void TheBackoffNeverExceedsItsCap()
    {
        var client = Client();
        for (var attempt = 1; attempt < 40; attempt++) Assert.InRange(client.Backoff(attempt), TimeSpan.Zero, client.MaxBackoff);
    }

    [Fact]
    public async Task ThrottlingThatOutlastsTheRetriesIsAResourceExhaustedErrorInGooglesWords()
    {
        _server.Throttle(10);
        var e = await Assert.ThrowsAsync<GoogleApiException>(() => Client(maxRetries: 2).SendAsync(HttpMethod.Get, Jobs, null, "Listing", CancellationToken.None));
        Assert.Equal(429, e.HttpStatus);
        Assert.Equal("RESOURCE_EXHAUSTED", e.Status);
        Assert.Equal("GoogleResourceExhausted", e.ErrorId);
        Assert.True(e.IsTransient);
        Assert.Contains("Quota exceeded", e.Message);
        Assert.Equal(3, _server.Requests.Count(r => r.Status == 429));
    }

    [Fact]
    public async Task AnErrorOfTheServiceKeepsItsStatusAndMessage()
    {
        var e = await Assert.ThrowsAsync<GoogleApiException>(() => Client().SendAsync(HttpMethod.Get,
            new Uri(GoogleEndpoints.Vertex("us-central1", Env), "v1/projects/someone-else/locations/us-central1/customJobs"), null, "Listing", CancellationToken.None));
        Assert.Equal("PERMISSION_DENIED", e.Status);
        Assert.Equal(LaunchErrorCategory.PermissionDenied, e.Category);
        Assert.Contains("someone-else", e.ServiceMessage);
    }

    [Theory]
    [InlineData(null, "https://us-central1-aiplatform.googleapis.com/")]
    [InlineData("https://aiplatform.googleapis.com/", "https://us-central1-aiplatform.googleapis.com/")]
    [InlineData("https://aiplatform.googleapis.com", "https://us-central1-aiplatform.googleapis.com/")]
    [InlineData("https://aiplatform.example-universe.goog/", "https://us-central1-aiplatform.example-universe.goog/")]
    [InlineData("https://private-vertex.internal.example/api/", "https://private-vertex.internal.example/api/")]
    [InlineData("http://127.0.0.1:8123/", "http://127.0.0.1:8123/")]
    public void TheVertexEndpointIsRegionalAndAnOverrideIsDerivedAsGcloudDoes(string? overrideUrl, string expected)
    {
        var env = new Dictionary<string, string>();
        if (overrideUrl is not null) env[GoogleEndpoints.VertexOverrideVariable] = overrideUrl;
        Assert.Equal(expected, GoogleEndpoints.Vertex("us-central1", n => env.GetValueOrDefault(n)).ToString());
    }

    [Theory]
    [InlineData("aiplatform.googleapis.com")]
    [InlineData("ftp://aiplatform.googleapis.com/")]
    [InlineData("https://aiplatform.googleapis.com/?key=1")]
    public void AnOverrideThatIsNoHttpUrlIsRefused(string overrideUrl)
    {
        var e = Assert.Throws<LaunchException>(() => GoogleEndpoints.Vertex("us-central1", n => n == GoogleEndpoints.VertexOverrideVariable ? overrideUrl : null));
        Assert.Equal("InvalidEndpointOverride", e.ErrorId);
        Assert.Contains(GoogleEndpoints.VertexOverrideVariable, e.Message);
    }
}
