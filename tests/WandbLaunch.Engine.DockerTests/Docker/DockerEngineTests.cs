using WandbLaunch.Engine.Docker;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.DockerTests.Docker;

public class DockerEngineTests
{
    private static Func<string, string?> DockerHost(string? value) => name => name == "DOCKER_HOST" ? value : null;

    [Theory]
    [InlineData(null, "unix:///var/run/docker.sock")]
    [InlineData("", "unix:///var/run/docker.sock")]
    [InlineData("unix:///tmp/other/docker.sock", "unix:///tmp/other/docker.sock")]
    [InlineData("tcp://127.0.0.1:2375", "tcp://127.0.0.1:2375/")]
    public void The_endpoint_is_DOCKER_HOST_or_the_default_socket(string? host, string endpoint)
    {
        Assert.Equal(endpoint, DockerEngine.DefaultEndpoint(DockerHost(host)).ToString());
    }

    [Theory]
    [InlineData("/var/run/docker.sock")]
    [InlineData("ftp://host/docker")]
    public void A_DOCKER_HOST_that_is_not_an_engine_address_is_refused(string host)
    {
        var e = Assert.ThrowsAny<LaunchException>(() => DockerEngine.DefaultEndpoint(DockerHost(host)));
        Assert.Equal("InvalidDockerHost", e.ErrorId);
        Assert.Contains(host, e.Message);
    }

    [Fact]
    public async Task A_socket_that_does_not_exist_is_unreachable_at_once_and_the_error_names_it()
    {
        using var engine = DockerEngine.Connect(DockerHost("unix:///tmp/wbl-no-such-dir/docker.sock"));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.False(await engine.IsReachableAsync(TimeSpan.FromSeconds(5)));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2));
        var e = engine.Unreachable();
        Assert.Equal("DockerEngineUnreachable", e.ErrorId);
        Assert.Contains("unix:///tmp/wbl-no-such-dir/docker.sock", e.Message);
    }

    [DockerFact]
    public async Task The_test_engine_is_reachable()
    {
        using var engine = DockerEngine.Connect(Environment.GetEnvironmentVariable);
        Assert.True(await engine.IsReachableAsync(TimeSpan.FromSeconds(10)));
    }
}
