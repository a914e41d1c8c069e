using Docker.DotNet;
using Docker.DotNet.Models;
using WandbLaunch.Engine.Docker;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Registries;

namespace WandbLaunch.Engine.DockerTests.Registries;

/// <summary>
/// The registry tools/Start-TestServices.ps1 runs (Debian's docker-registry, htpasswd, basic auth), with an image
/// pushed to it by the real engine.
/// </summary>
public sealed class RegistryClientRealRegistryTests : IAsyncLifetime
{
    private readonly string _repository = "wbl-xunit-" + Guid.NewGuid().ToString("N")[..8] + "/base";
    private readonly RegistryClient _client = new();
    private DockerEngine? _engine;
    private ImageReference? _pushed;

    private static RegistryCredential Good => new(TestServices.RegistryUser, TestServices.RegistryPassword) { Source = "test" };

    private ImageReference Image(string tag) => ImageReference.Parse($"{TestServices.Registry}/{_repository}:{tag}");

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Pushes the base image as {repository}:1 with the engine's API (once per test that needs it).</summary>
    private async Task<ImageReference> PushAsync()
    {
        var image = Image("1");
        _engine = DockerEngine.Connect(Environment.GetEnvironmentVariable);
        await _engine.Client.Images.TagImageAsync(TestServices.BaseImage, new ImageTagParameters { RepositoryName = image.Name, Tag = image.Tag });
        string? error = null;
        await _engine.Client.Images.PushImageAsync(image.Name, new ImagePushParameters { Tag = image.Tag },
            new AuthConfig { ServerAddress = image.Registry, Username = Good.Username, Password = Good.Password },
            new Reporter(m => error ??= m.Error?.Message));
        Assert.Null(error);
        _pushed = image;
        return image;
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        if (_engine is null) return;
        if (_pushed is not null)
        {
            try
            {
                await _engine.Client.Images.DeleteImageAsync(_pushed.ToString(), new ImageDeleteParameters { Force = true });
            }
            catch (DockerApiException)
            {
            }
            await DeleteFromRegistryAsync(_pushed);
        }
        _engine.Dispose();
    }

    /// <summary>Deletes the pushed manifest (the registry allows deletes), so the test leaves the registry as it was.</summary>
    private static async Task DeleteFromRegistryAsync(ImageReference image)
    {
        using var http = new HttpClient();
        var auth = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{Good.Username}:{Good.Password}")));
        var url = $"http://{image.Registry}/v2/{image.Repository}/manifests/";
        using var head = new HttpRequestMessage(HttpMethod.Head, url + image.Tag);
        head.Headers.Authorization = auth;
        head.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json");
        using var found = await http.SendAsync(head);
        if (!found.Headers.TryGetValues("Docker-Content-Digest", out var digests)) return;
        using var delete = new HttpRequestMessage(HttpMethod.Delete, url + digests.First());
        delete.Headers.Authorization = auth;
        using var _ = await http.SendAsync(delete);
    }

    [DockerFact]
    public async Task Good_credentials_log_in()
    {
        await _client.CheckLoginAsync(Image("1"), Good, CancellationToken.None);
    }

    [DockerFact]
    public async Task A_wrong_password_is_refused_naming_the_registry_and_user_not_the_password()
    {
        var wrong = "wrong-" + Guid.NewGuid().ToString("N");
        var credential = new RegistryCredential(TestServices.RegistryUser, wrong) { Source = "-RegistryCredential" };
        var e = await Assert.ThrowsAnyAsync<LaunchException>(() => _client.CheckLoginAsync(Image("1"), credential, CancellationToken.None));
        Assert.Equal("RegistryAuthenticationFailed", e.ErrorId);
        Assert.Contains(TestServices.Registry, e.Message);
        Assert.Contains($"'{TestServices.RegistryUser}'", e.Message);
        Assert.DoesNotContain(wrong, e.Message);

        e = await Assert.ThrowsAnyAsync<LaunchException>(() => _client.ManifestExistsAsync(Image("1"), credential, CancellationToken.None));
        Assert.Equal("RegistryAuthenticationFailed", e.ErrorId);
    }

    [DockerFact]
    public async Task No_credentials_are_refused_saying_how_to_give_them()
    {
        var e = await Assert.ThrowsAnyAsync<LaunchException>(() => _client.CheckLoginAsync(Image("1"), null, CancellationToken.None));
        Assert.Equal("RegistryAuthenticationFailed", e.ErrorId);
        Assert.Contains("docker login " + TestServices.Registry, e.Message);
        Assert.Contains("-RegistryCredential", e.Message);
    }

    [DockerFact]
    public async Task A_pushed_tag_exists_and_other_tags_and_repositories_do_not()
    {
        var image = await PushAsync();
        Assert.True(await _client.ManifestExistsAsync(image, Good, CancellationToken.None));
        Assert.False(await _client.ManifestExistsAsync(Image("2"), Good, CancellationToken.None));
        Assert.False(await _client.ManifestExistsAsync(ImageReference.Parse($"{TestServices.Registry}/{_repository}-absent:1"), Good, CancellationToken.None));
    }

    private sealed class Reporter(Action<JSONMessage> report) : IProgress<JSONMessage>
    {
        public void Report(JSONMessage value) => report(value);
    }
}
