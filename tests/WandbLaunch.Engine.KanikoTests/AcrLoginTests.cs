using WandbLaunch.Engine.Cloud.Azure;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Registries;
using WandbLaunch.Tests.CloudStorage;

namespace WandbLaunch.Engine.KanikoTests;

/// <summary>
/// The ACR login: an Azure AD token (client secret, at AZURE_AUTHORITY_HOST) exchanged for an ACR refresh token,
/// used as the registry password, against the loopback Azure AD and ACR stand-in.
/// </summary>
public sealed class AcrLoginTests : IDisposable
{
    private const string Tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    private const string ClientId = "0d3f6a1e-5b7c-4e39-9d2a-1c8b7e6f5a40";
    private const string ClientSecret = "acr-client-s3cret~value";
    private const string Registry = "mlteam.azurecr.io";

    private readonly AcrServer _server = new(Tenant, ClientId, ClientSecret);
    private readonly HttpMessageHandler _router;
    private readonly Dictionary<string, string> _env = new()
    {
        ["AZURE_TENANT_ID"] = Tenant,
        ["AZURE_CLIENT_ID"] = ClientId,
        ["AZURE_CLIENT_SECRET"] = ClientSecret,
        ["AZURE_AUTHORITY_HOST"] = "https://login.stand-in.example/",
    };

    public AcrLoginTests() => _router = _server.Router();

    private AcrLogins Logins(Func<DateTimeOffset>? now = null) => new(n => _env.TryGetValue(n, out var v) ? v : null, _router, now);

    [Fact]
    public async Task TheAadTokenIsExchangedForARefreshTokenThatLogsInAsTheZeroUser()
    {
        using var logins = Logins();
        var login = await logins.LoginAsync(Registry, CancellationToken.None);

        Assert.Equal("00000000-0000-0000-0000-000000000000", login.Username);
        Assert.Equal(1, _server.RefreshTokensIssued);
        Assert.DoesNotContain(login.Password, login.ToString());
        // The token went to the authority host the environment names, for ARM's scope, and was exchanged at the registry.
        Assert.Contains(_server.Requests, r => r.Method == "POST" && r.Path == $"/{Tenant}/oauth2/v2.0/token" && r.Headers["x-forwarded-host"] == "login.stand-in.example" && r.Status == 200);
        Assert.Contains(_server.Requests, r => r.Method == "POST" && r.Path == "/oauth2/exchange" && r.Headers["x-forwarded-host"] == Registry && r.Status == 200);

        // The registry's own token service takes the login, so the manifest check works with it.
        _server.AddTag("ml/train", "0123abcd");
        using var registry = new RegistryClient(_router);
        Assert.True(await registry.ManifestExistsAsync(ImageReference.Parse($"{Registry}/ml/train:0123abcd"), login, CancellationToken.None));
        Assert.False(await registry.ManifestExistsAsync(ImageReference.Parse($"{Registry}/ml/train:fffffff0"), login, CancellationToken.None));
    }

    [Fact]
    public async Task TheLoginIsKeptUntilFiveMinutesBeforeItExpires()
    {
        var now = DateTimeOffset.UtcNow;
        using var logins = Logins(() => now);
        var first = await logins.LoginAsync(Registry, CancellationToken.None);
        now = now.AddHours(2);
        Assert.Same(first, await logins.LoginAsync(Registry, CancellationToken.None));
        Assert.Equal(1, _server.RefreshTokensIssued);

        now = now.AddMinutes(56); // 3 h lifetime: less than five minutes left
        var second = await logins.LoginAsync(Registry, CancellationToken.None);
        Assert.NotEqual(first.Password, second.Password);
        Assert.Equal(2, _server.RefreshTokensIssued);
    }

    [Fact]
    public async Task AWrongClientSecretFailsSayingWhatToSetWithoutTheSecret()
    {
        _env["AZURE_CLIENT_SECRET"] = "wrong-s3cret";
        using var logins = Logins();
        var e = await Assert.ThrowsAsync<LaunchException>(() => logins.LoginAsync(Registry, CancellationToken.None));

        Assert.Equal("AcrLoginFailed", e.ErrorId);
        Assert.StartsWith($"No Azure AD token to log in to {Registry}:", e.Message);
        Assert.Contains("AZURE_CLIENT_SECRET", e.Message);
        Assert.DoesNotContain("wrong-s3cret", e.ToString());
        Assert.Contains("invalid_client", _server.Rejections);
        Assert.Equal(0, _server.RefreshTokensIssued);

        // The next build within a minute is answered from memory instead of waiting for Azure AD again.
        var requests = _server.Requests.Count;
        var again = await Assert.ThrowsAsync<LaunchException>(() => logins.LoginAsync(Registry, CancellationToken.None));
        Assert.Equal(e.Message, again.Message);
        Assert.Equal(requests, _server.Requests.Count);
    }

    [Fact]
    public async Task AnAuthorityHostThatIsNotHttpsIsRefused()
    {
        _env["AZURE_AUTHORITY_HOST"] = "http://login.stand-in.example/";
        using var logins = Logins();
        var e = await Assert.ThrowsAsync<LaunchException>(() => logins.LoginAsync(Registry, CancellationToken.None));
        Assert.Equal("InvalidAzureAuthorityHost", e.ErrorId);
        Assert.Empty(_server.Requests);
    }

    [Theory]
    [InlineData("mlteam.azurecr.io", true)]
    [InlineData("ml-team.azurecr.io", false)]
    [InlineData("mlteam.azurecr.io.evil.example", false)]
    [InlineData("123456789012.dkr.ecr.eu-west-1.amazonaws.com", false)]
    public void OnlyAcrHostsAreLoggedInTo(string host, bool acr) => Assert.Equal(acr, AcrLogins.IsHost(host));

    public void Dispose()
    {
        _router.Dispose();
        _server.Dispose();
    }
}
