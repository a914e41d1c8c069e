using System.Text.Json.Nodes;
using WandbLaunch.Engine.Services;
using static WandbLaunch.TestSupport.LaunchAssertions;

namespace WandbLaunch.Engine.JobTests;

/// <summary>
/// The agent settings of a queue-less launch: as in W&amp;B's direct launch, the spec's own <c>builder</c> and
/// <c>registry</c> blocks replace the launch config's whole (<c>wandb/sdk/launch/agent/agent.py</c>
/// <c>construct_agent_configs</c>, <c>wandb/sdk/launch/utils.py</c> <c>resolve_build_and_registry_config</c>).
/// </summary>
public sealed class DirectLaunchConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("wbl-direct-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string ConfigFile()
    {
        var path = Path.Combine(_dir, "launch-config.yaml");
        File.WriteAllText(path, """
            builder:
              type: docker
              destination: 127.0.0.1:5000/from-file
            registry:
              type: ecr
              uri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/from-file
            environment:
              type: aws
              region: us-east-1
            """);
        return path;
    }

    private static SubmitOptions WithSpec(string json) => new() { Spec = JsonNode.Parse(json) };

    [Fact]
    public void The_specs_builder_and_registry_replace_the_config_files_whole()
    {
        var config = DirectLaunch.AgentConfig(ConfigFile(), WithSpec("""
            {"builder": {"type": "noop", "base_image": "python:3.11"},
             "registry": {"type": "ecr", "uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/from-spec"}}
            """), _ => null);

        Assert.Equal("noop", config.Builder.Type);
        // Replaced whole, not merged with the file's: the destination is the spec registry's uri (W&B's fallback).
        Assert.Equal("123456789012.dkr.ecr.us-east-1.amazonaws.com/from-spec", config.Builder.Destination);
        Assert.Equal("123456789012.dkr.ecr.us-east-1.amazonaws.com/from-spec", config.Registry.Uri);
        Assert.Equal("aws", config.Environment.Type); // environment comes from the file only, as in W&B
        Assert.Equal(1, config.MaxJobs);
        Assert.DoesNotContain(config.Warnings, w => w.ToString().Contains("base_image", StringComparison.Ordinal));
    }

    [Fact]
    public void Without_the_blocks_in_the_spec_the_config_files_apply()
    {
        var config = DirectLaunch.AgentConfig(ConfigFile(), WithSpec("""{"builder": {"base_image": "python:3.11"}}"""), _ => null);

        Assert.Equal("docker", config.Builder.Type);
        Assert.Equal("127.0.0.1:5000/from-file", config.Builder.Destination);
        Assert.Equal("123456789012.dkr.ecr.us-east-1.amazonaws.com/from-file", config.Registry.Uri);
    }

    [Fact]
    public void A_bad_builder_in_the_spec_is_refused_as_in_a_config_file()
    {
        var e = ThrowsLaunch("InvalidBuilderType", () => DirectLaunch.AgentConfig(ConfigFile(), WithSpec("""{"builder": {"type": "buildah"}}"""), _ => null));
        Assert.Contains("buildah", e.Message, StringComparison.Ordinal);
    }
}
