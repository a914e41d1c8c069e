using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Registries;

namespace WandbLaunch.Engine.DockerTests.Registries;

/// <summary>The bearer-token flow, against <see cref="TokenRegistry"/> on loopback.</summary>
public sealed class RegistryClientTokenTests : IDisposable
{
    private static readonly string[] ManifestTypes =
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ];

    private readonly TokenRegistry _registry = new("robot", "s3cret-" + Guid.NewGuid().ToString("N"), ["team/app:v1"], publicRepositories: ["library/public"]);
    private readonly RegistryClient _client = new();

    public void Dispose()
    {
        _client.Dispose();
        _registry.Dispose();
    }

    private RegistryCredential Good => new(_registry.User, _registry.Password) { Source = "test" };

    private ImageReference Image(string repositoryAndTag) => ImageReference.Parse($"{_registry.Host}/{repositoryAndTag}");

    private List<TokenRegistry.Recorded> Requests => _registry.Requests.ToList();

    [Fact]
    public async Task A_manifest_check_follows_the_challenge_to_the_realm_and_retries_with_the_token()
    {
        Assert.True(await _client.ManifestExistsAsync(Image("team/app:v1"), Good, CancellationToken.None));

        var requests = Requests;
        Assert.Equal(3, requests.Count);
        var (first, token, retry) = (requests[0], requests[1], requests[2]);

        Assert.Equal(("HEAD", "/v2/team/app/manifests/v1"), (first.Method, first.Path));
        Assert.Null(first.Authorization);

        Assert.Equal(("GET", "/token"), (token.Method, token.Path));
        Assert.Equal(TokenRegistry.Service, token.Query["service"]);
        Assert.Equal("repository:team/app:pull", token.Query["scope"]);
        Assert.Equal("Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{_registry.User}:{_registry.Password}")), token.Authorization);

        Assert.Equal(("HEAD", "/v2/team/app/manifests/v1"), (retry.Method, retry.Path));
        Assert.StartsWith("Bearer ", retry.Authorization);
        foreach (var type in ManifestTypes)
        {
            Assert.Contains(type, first.Accept);
            Assert.Contains(type, retry.Accept);
        }
    }

    [Fact]
    public async Task A_missing_tag_is_false_and_a_missing_repository_too()
    {
        Assert.False(await _client.ManifestExistsAsync(Image("team/app:v2"), Good, CancellationToken.None));
        Assert.False(await _client.ManifestExistsAsync(Image("team/other:v1"), Good, CancellationToken.None));
        Assert.Equal(
            ["repository:team/app:pull", "repository:team/other:pull"],
            Requests.Where(r => r.Path == "/token").Select(r => r.Query["scope"]));
    }

    [Fact]
    public async Task Logging_in_asks_for_a_pull_token_on_the_images_repository_when_the_challenge_names_no_scope()
    {
        await _client.CheckLoginAsync(Image("team/app:v1"), Good, CancellationToken.None);
        var requests = Requests;
        Assert.Equal(["GET /v2/", "GET /token", "GET /v2/"], requests.Select(r => $"{r.Method} {r.Path}"));
        Assert.Equal("repository:team/app:pull", requests[1].Query["scope"]);
        Assert.StartsWith("Bearer ", requests[2].Authorization);
    }

    [Fact]
    public async Task Wrong_credentials_are_refused_at_the_token_endpoint_naming_the_registry_and_user_not_the_password()
    {
        const string wrong = "not-the-password-0123";
        var credential = new RegistryCredential(_registry.User, wrong) { Source = "-RegistryCredential" };
        foreach (var call in new Func<Task>[]
                 {
                     () => _client.CheckLoginAsync(Image("team/app:v1"), credential, CancellationToken.None),
                     () => _client.ManifestExistsAsync(Image("team/app:v1"), credential, CancellationToken.None),
                 })
        {
            var e = await Assert.ThrowsAnyAsync<LaunchException>(call);
            Assert.Equal("RegistryAuthenticationFailed", e.ErrorId);
            Assert.Equal(LaunchErrorCategory.PermissionDenied, e.Category);
            Assert.Contains(_registry.Host, e.Message);
            Assert.Contains($"'{_registry.User}'", e.Message);
            Assert.Contains("-RegistryCredential", e.Message);
            Assert.DoesNotContain(wrong, e.Message);
        }
        Assert.DoesNotContain(Requests, r => r.Path.StartsWith("/v2/", StringComparison.Ordinal) && r.Authorization is not null);
    }

    [Fact]
    public async Task Without_credentials_a_private_repository_is_refused_saying_none_were_found()
    {
        var e = await Assert.ThrowsAnyAsync<LaunchException>(() => _client.ManifestExistsAsync(Image("team/app:v1"), null, CancellationToken.None));
        Assert.Equal("RegistryAuthenticationFailed", e.ErrorId);
        Assert.Contains("requires credentials and none were found", e.Message);
        Assert.Null(Requests.Single(r => r.Path == "/token").Authorization);
    }

    [Fact]
    public async Task Without_credentials_a_public_repository_is_read_with_an_anonymous_token()
    {
        _registry.Tags.Add("library/public:1");
        Assert.True(await _client.ManifestExistsAsync(Image("library/public:1"), null, CancellationToken.None));
        Assert.Null(Requests.Single(r => r.Path == "/token").Authorization);
    }
}
