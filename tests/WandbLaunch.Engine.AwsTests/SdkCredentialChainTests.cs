using WandbLaunch.Engine.Cloud.Aws;

namespace WandbLaunch.Engine.AwsTests;

/// <summary>
/// Without keys in the agent's environment the credentials come from the AWS SDK's own default chain: here a named
/// profile in a shared credentials file. The chain reads the process's environment, so these tests set it (and run
/// alone: xunit runs the tests of one class one after another, and no other test class sets these variables).
/// </summary>
public sealed class SdkCredentialChainTests
{
    [Fact]
    public async Task AProfileNamedByAwsProfileSignsTheRequests()
    {
        await using var h = new AwsHarness();
        const string profileKey = "AKIAPROFILEEXAMPLE01";
        const string profileSecret = "profile-secret-key-0123456789abcdefghij";
        h.Server.AddKey(profileKey, profileSecret);
        var credentials = h.Dir.File("credentials");
        File.WriteAllText(credentials, $"[default]\naws_access_key_id = AKIADEFAULTNOTUSED00\naws_secret_access_key = nope\n\n[launch]\naws_access_key_id = {profileKey}\naws_secret_access_key = {profileSecret}\n");
        using var file = new EnvironmentVariableScope("AWS_SHARED_CREDENTIALS_FILE", credentials);
        using var config = new EnvironmentVariableScope("AWS_CONFIG_FILE", h.Dir.File("config-none"));
        using var profile = new EnvironmentVariableScope("AWS_PROFILE", "launch");
        using var key = new EnvironmentVariableScope("AWS_ACCESS_KEY_ID", null);
        using var secret = new EnvironmentVariableScope("AWS_SECRET_ACCESS_KEY", null);
        using var token = new EnvironmentVariableScope("AWS_SESSION_TOKEN", null);
        using var metadata = new EnvironmentVariableScope("AWS_EC2_METADATA_DISABLED", "true");

        var environment = TestAgents.EnvironmentOf(new Dictionary<string, string> { ["AWS_ENDPOINT_URL"] = h.Server.Url.ToString() });
        var source = AwsCredentialSource.FromEnvironment(environment);
        using var client = new AwsClient("us-east-1", source, environment, AwsHarness.FastPolling.Retry);
        var identity = await AwsIdentity.GetAsync(client, CancellationToken.None);
        Assert.Equal("123456789012", identity.Account);
        Assert.Contains(profileKey, h.Server.Requests.Single().Headers["authorization"]);
        Assert.Contains($"access key {profileKey}", source.Description);
        Assert.DoesNotContain(profileSecret, source.Description);
    }
}
