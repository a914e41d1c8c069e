using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Storage.Wandb;

namespace WandbLaunch.Engine.Tests.Wandb;

/// <summary>Resolution takes the environment, home and working folder as arguments: no process-wide state changes.</summary>
public sealed class WandbCredentialsTests : IDisposable
{
    private const string NetrcKey = "netrc0123456789abcdef0123456789abcdef0123";
    private const string EnvKey = "envkey0123456789abcdef0123456789abcdef012";
    private readonly TempDirectory _home = new();
    private readonly TempDirectory _work = new();
    private readonly Dictionary<string, string> _env = [];

    public void Dispose()
    {
        _home.Dispose();
        _work.Dispose();
    }

    private WandbConnection Resolve(string? baseUrl = null, string? apiKey = null, string? entity = null) =>
        WandbCredentials.Resolve(new WandbConnectRequest(baseUrl, apiKey, entity), n => _env.GetValueOrDefault(n), _home.Path, _work.Path);

    private void WriteNetrc(string text) => File.WriteAllText(_home.File(".netrc"), text);

    private void WriteSettings(string folder, string text)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "settings"), text);
    }

    [Fact]
    public void Without_settings_it_is_wandb_ai_with_the_key_wandb_login_stored()
    {
        WriteNetrc($"machine api.wandb.ai\n  login user\n  password {NetrcKey}\n");
        var connection = Resolve();
        Assert.Equal("https://api.wandb.ai", connection.Location);
        Assert.Equal(NetrcKey, connection.ApiKey.Reveal());
        Assert.Null(connection.Entity);
    }

    [Fact]
    public void ApiKey_beats_WANDB_API_KEY_which_beats_netrc()
    {
        WriteNetrc($"machine api.wandb.ai password {NetrcKey}");
        _env["WANDB_API_KEY"] = EnvKey;
        Assert.Equal(EnvKey, Resolve().ApiKey.Reveal());
        Assert.Equal("given-key-0123", Resolve(apiKey: "given-key-0123").ApiKey.Reveal());
    }

    [Fact]
    public void The_netrc_entry_is_the_servers_host_and_port_and_NETRC_names_the_file()
    {
        var other = _home.File("other-netrc");
        File.WriteAllText(other, $"machine api.wandb.ai password wrong-one\nmachine 127.0.0.1:8080 password {NetrcKey}");
        _env["NETRC"] = other;
        Assert.Equal(NetrcKey, Resolve(baseUrl: "http://127.0.0.1:8080/").ApiKey.Reveal());
    }

    [Fact]
    public void Base_url_comes_from_the_parameter_then_WANDB_BASE_URL_then_the_settings_files()
    {
        _env["WANDB_API_KEY"] = EnvKey;
        WriteSettings(Path.Combine(_home.Path, ".config", "wandb"), "[default]\nbase_url = https://global.example\nentity = from-global\n");
        Assert.Equal("https://global.example", Resolve().Location);
        Assert.Equal("from-global", Resolve().Entity);
        WriteSettings(Path.Combine(_work.Path, "wandb"), "[default]\nbase_url: https://workspace.example/\n");
        Assert.Equal("https://workspace.example", Resolve().Location);
        _env["WANDB_BASE_URL"] = "https://env.example";
        Assert.Equal("https://env.example", Resolve().Location);
        Assert.Equal("https://param.example", Resolve(baseUrl: "https://param.example").Location);
    }

    [Fact]
    public void WANDB_CONFIG_DIR_moves_the_global_settings_file()
    {
        _env["WANDB_API_KEY"] = EnvKey;
        _env["WANDB_CONFIG_DIR"] = _home.File("cfg");
        WriteSettings(_home.File("cfg"), "[other]\nentity = no\n[default]\nentity = team-a\n");
        Assert.Equal("team-a", Resolve().Entity);
    }

    [Fact]
    public void Entity_comes_from_the_parameter_then_WANDB_ENTITY_then_settings()
    {
        _env["WANDB_API_KEY"] = EnvKey;
        WriteSettings(Path.Combine(_home.Path, ".config", "wandb"), "[default]\nentity = from-settings\n");
        _env["WANDB_ENTITY"] = "from-env";
        Assert.Equal("from-env", Resolve().Entity);
        Assert.Equal("given", Resolve(entity: "given").Entity);
    }

    [Fact]
    public void No_key_anywhere_is_a_clear_error_that_names_the_ways_to_give_one()
    {
        var e = Assert.Throws<LaunchException>(() => Resolve(baseUrl: "https://wandb.corp:8443"));
        Assert.Equal("WandbApiKeyMissing", e.ErrorId);
        Assert.Contains("wandb.corp:8443", e.Message);
        Assert.Contains("WANDB_API_KEY", e.Message);
    }

    [Theory]
    [InlineData("key-with\nhidden-injected: header")]
    [InlineData("key with hidden words in it")]
    public void A_key_that_could_forge_headers_is_refused_without_showing_it(string key)
    {
        var e = Assert.Throws<LaunchException>(() => Resolve(apiKey: key));
        Assert.Equal("WandbApiKeyInvalid", e.ErrorId);
        Assert.DoesNotContain("hidden", e.Message);
    }

    [Theory]
    [InlineData("ftp://server")]
    [InlineData("not a url")]
    [InlineData("https://server/?x=1")]
    public void A_base_url_that_is_not_http_is_refused(string url)
    {
        _env["WANDB_API_KEY"] = EnvKey;
        Assert.Equal("WandbBaseUrlInvalid", Assert.Throws<LaunchException>(() => Resolve(baseUrl: url)).ErrorId);
    }

    [Fact]
    public void A_password_in_the_url_is_refused_and_not_echoed()
    {
        _env["WANDB_API_KEY"] = EnvKey;
        var e = Assert.Throws<LaunchException>(() => Resolve(baseUrl: "https://user:hunter2secret@server"));
        Assert.DoesNotContain("hunter2secret", e.Message);
        Assert.Null(e.Target);
    }

    [Fact]
    public void The_key_never_prints_and_equal_settings_are_one_connection()
    {
        _env["WANDB_API_KEY"] = EnvKey;
        var a = Resolve(entity: "e");
        var b = Resolve(entity: "e");
        Assert.Equal(a, b);
        Assert.NotEqual(a, Resolve(apiKey: "another-key-0123", entity: "e"));
        Assert.Equal("Wandb https://api.wandb.ai", a.ToString());
        Assert.Equal("***", a.ApiKey.ToString());
        Assert.DoesNotContain(EnvKey, $"{a} {a.ApiKey} {a.Location}");
    }
}
