using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Registries;
using WandbLaunch.Engine.Runners;

namespace WandbLaunch.Engine.AwsTests;

/// <summary>The agent's registry credentials: an ECR registry logs in with GetAuthorizationToken, as W&amp;B's agent does.</summary>
public sealed class EcrLoginTests
{
    private static AgentContext Agent(AwsHarness h, RegistryCredential? given = null)
    {
        var config = new LaunchAgentConfig { Queues = ["sm"], Entity = AwsHarness.Entity, Builder = new BuilderSettings { Type = "docker", Destination = "123456789012.dkr.ecr.us-east-1.amazonaws.com/launch" } };
        var options = new AgentOptions { Config = config, Name = "ecr-test", Environment = h.Environment, WorkDirectory = h.Dir.File("work"), RegistryCredential = given };
        return new AgentContext(h.Backend, options, new RecordingAgentEvents(), new RunnerRegistry([]));
    }

    [Fact]
    public async Task AnEcrDestinationIsPushedToWithTheLoginEcrGives()
    {
        await using var h = new AwsHarness();
        var agent = Agent(h);
        var credential = agent.Credential("123456789012.dkr.ecr.us-east-1.amazonaws.com");
        Assert.NotNull(credential);
        Assert.Equal("AWS", credential.Username);
        Assert.Equal(h.Server.EcrPassword, credential.Password);
        Assert.Contains("ECR GetAuthorizationToken in us-east-1", credential.Source);
        agent.Credential("123456789012.dkr.ecr.us-east-1.amazonaws.com");
        Assert.Equal(1, h.Server.CallsOf("GetAuthorizationToken"));
        // Another registry is not ECR's business.
        Assert.Null(agent.Credential("registry.example.com"));
        Assert.Single(h.Server.Requests);
    }

    [Fact]
    public async Task RegistryCredentialGivenToTheAgentWinsOverEcr()
    {
        await using var h = new AwsHarness();
        var agent = Agent(h, new RegistryCredential("AWS", "given-password"));
        Assert.Equal("given-password", agent.Credential("123456789012.dkr.ecr.us-east-1.amazonaws.com")!.Password);
        Assert.Empty(h.Server.Requests);
    }
}
