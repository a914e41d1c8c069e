using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Cloud.Google;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Registries;
using WandbLaunch.Tests.Google;

namespace WandbLaunch.Engine.GoogleTests;

/// <summary>Artifact Registry: URIs, the oauth2accesstoken login, the tag check, and the agent's credential for a GAR destination.</summary>
public sealed class ArtifactRegistryTests : IDisposable
{
    private readonly GoogleServer _server = new();
    private readonly TempDirectory _dir = new();
    private readonly Dictionary<string, string> _env = new();

    public ArtifactRegistryTests()
    {
        _env["HOME"] = _dir.Path;
        _env["GOOGLE_APPLICATION_CREDENTIALS"] = _dir.Write("sa.json", _server.ServiceAccountKeyJson());
        _env[GoogleEndpoints.ArtifactRegistryOverrideVariable] = _server.Url.ToString();
        _server.AddRepository("us-central1", "launch");
        _server.AddImage("us-central1", "launch", "train", "abc123", "latest");
    }

    public void Dispose()
    {
        _backend?.Dispose();
        _server.Dispose();
        _dir.Dispose();
    }

    private string? Env(string name) => _env.GetValueOrDefault(name);

    private ArtifactRegistryClient Client() => new(new GoogleApiClient(GoogleAuth.FromEnvironment(Env)), Env);

    [Theory]
    [InlineData("us-central1-docker.pkg.dev/ml-project/launch/train", "us-central1", "ml-project", "launch", "train")]
    [InlineData("https://europe-west4-docker.pkg.dev/ml-project/launch", "europe-west4", "ml-project", "launch", null)]
    [InlineData("us-docker.pkg.dev/ml-project/launch/train:v1", "us", "ml-project", "launch", "train")]
    public void AnArtifactRegistryUriNamesRegionProjectRepositoryAndImage(string uri, string region, string project, string repository, string? image)
    {
        Assert.True(ArtifactRegistryRepository.TryParse(uri, out var parsed));
        Assert.Equal(new ArtifactRegistryRepository(region, project, repository, image), parsed);
    }

    [Theory]
    [InlineData("gcr.io/ml-project/train")]
    [InlineData("123456789012.dkr.ecr.us-east-1.amazonaws.com/train")]
    [InlineData("us-central1-docker.pkg.dev/ml-project")]
    public void OtherRegistriesAreNotArtifactRegistry(string uri) => Assert.False(ArtifactRegistryRepository.TryParse(uri, out _));

    [Fact]
    public async Task DockerLogsInAsOauth2accesstokenWithAnAccessTokenOfTheServiceAccount()
    {
        var credential = await Client().CredentialAsync(CancellationToken.None);
        Assert.Equal("oauth2accesstoken", credential.Username);
        Assert.Contains(credential.Password, _server.Account.IssuedTokens);
        Assert.DoesNotContain(credential.Password, credential.ToString());
        Assert.Contains(_server.Account.ClientEmail, credential.Source);
    }

    [Fact]
    public async Task ATagExistsWhenAnyImageOfTheRepositoryCarriesIt()
    {
        ArtifactRegistryRepository.TryParse("us-central1-docker.pkg.dev/ml-project/launch/train", out var repository);
        var client = Client();
        Assert.True(await client.TagExistsAsync(repository, "abc123", CancellationToken.None));
        Assert.False(await client.TagExistsAsync(repository, "def456", CancellationToken.None));
        Assert.Contains(_server.Requests, r => r.Path == "/v1/projects/ml-project/locations/us-central1/repositories/launch/dockerImages" && r.Status == 200);
    }

    [Fact]
    public async Task AMissingRepositoryIsAnError()
    {
        ArtifactRegistryRepository.TryParse("us-central1-docker.pkg.dev/ml-project/nothing/train", out var repository);
        var e = await Assert.ThrowsAsync<LaunchException>(() => Client().TagExistsAsync(repository, "abc123", CancellationToken.None));
        Assert.Equal("ArtifactRegistryRepositoryNotFound", e.ErrorId);
        Assert.Contains("nothing", e.Message);
    }

    private Engine.Storage.Sqlite.SqliteLaunchBackend? _backend;

    private AgentContext Agent(RegistryCredential? given = null, string? destination = null) =>
        new(_backend ??= new Engine.Storage.Sqlite.SqliteLaunchBackend(_dir.File("launch.db"), "ml-team"), new AgentOptions
        {
            Config = new LaunchAgentConfig { Builder = new BuilderSettings { Type = "docker", Destination = destination } },
            Name = "gar", Environment = Env, WorkDirectory = _dir.Path, RegistryCredential = given,
        }, new RecordingAgentEvents(), null);

    [Fact]
    public void TheAgentPushesToArtifactRegistryWithAnAccessTokenUnlessGivenACredential()
    {
        const string destination = "us-central1-docker.pkg.dev/ml-project/launch/train";
        var credential = Agent(destination: destination).Credential("us-central1-docker.pkg.dev");
        Assert.NotNull(credential);
        Assert.Equal("oauth2accesstoken", credential.Username);
        Assert.Contains(credential.Password, _server.Account.IssuedTokens);

        var given = new RegistryCredential("_json_key", "{}");
        Assert.Same(given, Agent(given, destination).Credential("us-central1-docker.pkg.dev"));
        // Another registry never gets a Google token.
        Assert.Null(Agent(destination: destination).Credential("registry.example.com"));
    }
}
