using WandbLaunch.Engine.Cloud.Aws;

namespace WandbLaunch.Engine.AwsTests;

/// <summary>
/// Without keys in the agent's environment the credentials come from the AWS SDK's own default chain, which reads the
/// process's environment (profiles, web identity and instance roles come after it in the same chain). The SDK keeps
/// what it read of shared profile files for the process, so a profile file is not tested here: that is the SDK's.
/// </summary>
public sealed class SdkCredentialChainTests
{
    [Fact]
    public async Task TheSdksDefaultChainSignsTheRequests()
    {
        await using var h = new AwsHarness();
        const string processKey = "AKIAPROCESSEXAMPLE01";
        const string processSecret = "process-secret-key-0123456789abcdefghij";
        h.Server.AddKey(processKey, processSecret);
        using var key = new EnvironmentVariableScope("AWS_ACCESS_KEY_ID", processKey);
        using var secret = new EnvironmentVariableScope("AWS_SECRET_ACCESS_KEY", processSecret);
        using var token = new EnvironmentVariableScope("AWS_SESSION_TOKEN", null);

        var environment = TestAgents.EnvironmentOf(new Dictionary<string, string> { ["AWS_ENDPOINT_URL"] = h.Server.Url.ToString() });
        var source = AwsCredentialSource.FromEnvironment(environment);
        using var client = new AwsClient("us-east-1", source, environment, AwsHarness.FastPolling.Retry);
        var identity = await AwsIdentity.GetAsync(client, CancellationToken.None);
        Assert.Equal("123456789012", identity.Account);
        Assert.Contains(processKey, h.Server.Requests.Single().Headers["authorization"]);
        Assert.Contains($"access key {processKey}", source.Description);
        Assert.Contains("AWS SDK's default chain", source.Description);
        Assert.DoesNotContain(processSecret, source.Description);
    }
}
