using System.Text;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Registries;

namespace WandbLaunch.Engine.DockerTests.Registries;

/// <summary>
/// Reads Docker config files from a temporary DOCKER_CONFIG; credential helpers are a real program,
/// docker-credential-test, put on PATH (so these tests run alone: PATH is process-wide).
/// </summary>
[Collection(ProcessEnvironmentCollection.Name)]
public sealed class DockerConfigCredentialsTests : IDisposable
{
    private readonly TempDirectory _config = new();
    private readonly TempDirectory _bin = new();
    private readonly EnvironmentVariableScope _path;

    public DockerConfigCredentialsTests()
    {
        // A credential helper as the docker CLI runs them: `docker-credential-test get`, the server URL on stdin,
        // JSON with Username and Secret on stdout; unknown servers get exit code 1 and a message.
        var helper = _bin.Write("docker-credential-test", """
            #!/bin/sh
            server=$(cat)
            echo "$* $server" >> "$(dirname "$0")/calls.log"
            case "$server" in
              registry.example.com|helper.example.com)
                printf '{"ServerURL":"%s","Username":"helper-user","Secret":"helper-secret"}\n' "$server" ;;
              *)
                echo "credentials not found in native keychain"
                exit 1 ;;
            esac
            """.ReplaceLineEndings("\n"));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(helper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        _path = new EnvironmentVariableScope("PATH", _bin.Path + Path.PathSeparator + System.Environment.GetEnvironmentVariable("PATH"));
    }

    public void Dispose()
    {
        _path.Dispose();
        _config.Dispose();
        _bin.Dispose();
    }

    private string? Environment(string name) => name == "DOCKER_CONFIG" ? _config.Path : null;

    private void WriteConfig(string json) => _config.Write("config.json", json);

    private RegistryCredential? Find(string registry) => DockerConfigCredentials.Find(registry, Environment);

    private static string Auth(string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));

    private string[] HelperCalls() => File.Exists(_bin.File("calls.log")) ? File.ReadAllLines(_bin.File("calls.log")) : [];

    [Fact]
    public void The_config_file_is_config_json_in_DOCKER_CONFIG()
    {
        Assert.Equal(Path.Combine(_config.Path, "config.json"), DockerConfigCredentials.ConfigPath(Environment));
    }

    [Fact]
    public void Auths_entries_hold_base64_user_and_password()
    {
        WriteConfig(new JsonObject { ["auths"] = new JsonObject { ["127.0.0.1:5000"] = new JsonObject { ["auth"] = Auth("wbl", "pa:ss:word") } } }.ToJsonString());
        var credential = Find("127.0.0.1:5000")!;
        Assert.Equal("wbl", credential.Username);
        Assert.Equal("pa:ss:word", credential.Password);
        Assert.Equal(Path.Combine(_config.Path, "config.json"), credential.Source);
        Assert.DoesNotContain("pa:ss:word", credential.ToString());
        Assert.Null(Find("other.example.com"));
    }

    [Theory]
    [InlineData("https://registry.example.com")]
    [InlineData("http://registry.example.com")]
    [InlineData("https://registry.example.com/v1/")]
    [InlineData("https://registry.example.com/v2/")]
    public void Auths_keys_may_be_urls_as_older_docker_logins_wrote_them(string key)
    {
        WriteConfig(new JsonObject { ["auths"] = new JsonObject { [key] = new JsonObject { ["auth"] = Auth("u", "p") } } }.ToJsonString());
        Assert.Equal("u", Find("registry.example.com")?.Username);
    }

    [Fact]
    public void Docker_Hub_is_found_under_its_index_url()
    {
        WriteConfig(new JsonObject { ["auths"] = new JsonObject { ["https://index.docker.io/v1/"] = new JsonObject { ["auth"] = Auth("hubuser", "hubpass") } } }.ToJsonString());
        Assert.Equal("hubuser", Find(ImageReference.DockerHub)?.Username);
    }

    [Fact]
    public void Auths_entries_may_hold_username_and_password_fields()
    {
        WriteConfig("""{"auths": {"registry.example.com": {"username": "plain", "password": "text"}}}""");
        var credential = Find("registry.example.com")!;
        Assert.Equal(("plain", "text"), (credential.Username, credential.Password));
    }

    [Fact]
    public void An_entry_without_credentials_is_no_credential()
    {
        WriteConfig("""{"auths": {"registry.example.com": {}}}""");
        Assert.Null(Find("registry.example.com"));
    }

    [Fact]
    public void No_config_file_is_no_credential()
    {
        Assert.Null(Find("registry.example.com"));
    }

    [Theory]
    [InlineData("{not json")]
    [InlineData("""{"auths": {"registry.example.com": {"auth": "%%%not-base64"}}}""")]
    public void A_broken_config_file_is_refused_naming_it(string json)
    {
        WriteConfig(json);
        var e = Assert.ThrowsAny<LaunchException>(() => Find("registry.example.com"));
        Assert.Equal("InvalidDockerConfig", e.ErrorId);
        Assert.Contains(Path.Combine(_config.Path, "config.json"), e.Message);
    }

    [Fact]
    public void CredHelpers_run_the_named_helper_with_get_and_the_server_on_stdin()
    {
        WriteConfig("""{"credHelpers": {"registry.example.com": "test"}}""");
        var credential = Find("registry.example.com")!;
        Assert.Equal(("helper-user", "helper-secret"), (credential.Username, credential.Password));
        Assert.Equal("docker-credential-test", credential.Source);
        Assert.Equal(["get registry.example.com"], HelperCalls());
    }

    [Fact]
    public void CredHelpers_come_before_auths_for_their_host()
    {
        WriteConfig("""{"credHelpers": {"registry.example.com": "test"}, "auths": {"registry.example.com": {"auth": "AUTH"}}}""".Replace("AUTH", Auth("u", "p")));
        Assert.Equal("helper-user", Find("registry.example.com")?.Username);
    }

    [Fact]
    public void A_credHelper_that_knows_nothing_of_the_host_is_an_error_with_its_message()
    {
        WriteConfig("""{"credHelpers": {"unknown.example.com": "test"}}""");
        var e = Assert.ThrowsAny<LaunchException>(() => Find("unknown.example.com"));
        Assert.Equal("CredentialHelperFailed", e.ErrorId);
        Assert.Contains("docker-credential-test", e.Message);
        Assert.Contains("credentials not found in native keychain", e.Message);
    }

    [Fact]
    public void A_credHelper_that_is_not_on_PATH_is_an_error_naming_the_program()
    {
        WriteConfig("""{"credHelpers": {"registry.example.com": "absent"}}""");
        var e = Assert.ThrowsAny<LaunchException>(() => Find("registry.example.com"));
        Assert.Equal("CredentialHelperNotFound", e.ErrorId);
        Assert.Contains("docker-credential-absent", e.Message);
    }

    [Fact]
    public void CredsStore_is_asked_after_auths_and_knowing_nothing_is_no_credential()
    {
        WriteConfig("""{"credsStore": "test", "auths": {"auths.example.com": {"auth": "AUTH"}}}""".Replace("AUTH", Auth("from-auths", "p")));
        Assert.Equal("helper-user", Find("helper.example.com")?.Username);
        Assert.Equal("from-auths", Find("auths.example.com")?.Username);
        Assert.Null(Find("nowhere.example.com"));
        Assert.Contains("get helper.example.com", HelperCalls());
        Assert.DoesNotContain(HelperCalls(), call => call.EndsWith("auths.example.com", StringComparison.Ordinal));
    }

    [Fact]
    public void A_credsStore_that_is_not_on_PATH_is_no_credential()
    {
        WriteConfig("""{"credsStore": "absent"}""");
        Assert.Null(Find("registry.example.com"));
    }
}
