using System.Text;
using WandbLaunch.Engine.Registries;

namespace WandbLaunch.Engine.DockerTests.Registries;

/// <summary>Which credential the agent sends to which registry.</summary>
public sealed class RegistryCredentialTests : IDisposable
{
    private readonly TempDirectory _config = new();
    private readonly RegistryCredential _given = new("agent-user", "agent-password") { Source = "-RegistryCredential" };

    public RegistryCredentialTests()
    {
        var hub = Convert.ToBase64String(Encoding.UTF8.GetBytes("hub-user:hub-password"));
        _config.Write("config.json", """{"auths": {"https://index.docker.io/v1/": {"auth": "AUTH"}}}""".Replace("AUTH", hub));
    }

    public void Dispose() => _config.Dispose();

    private string? Environment(string name) => name == "DOCKER_CONFIG" ? _config.Path : null;

    [Fact]
    public void The_given_credential_is_for_the_destinations_registry()
    {
        Assert.Same(_given, RegistryCredential.Resolve("registry.example.com:5000", _given, "registry.example.com:5000/team/app", Environment));
    }

    [Fact]
    public void The_given_credential_is_never_sent_to_another_registry_such_as_a_base_images()
    {
        // FROM python:3.10-slim in a build that pushes to a private registry: Docker Hub gets the Docker config's
        // credential (or none), not the private registry's password.
        var hub = RegistryCredential.Resolve(ImageReference.DockerHub, _given, "registry.example.com:5000/team/app", Environment);
        Assert.Equal("hub-user", hub?.Username);
        Assert.Null(RegistryCredential.Resolve("ghcr.io", _given, "registry.example.com:5000/team/app", Environment));
    }

    [Fact]
    public void Without_a_destination_the_given_credential_is_for_any_registry()
    {
        Assert.Same(_given, RegistryCredential.Resolve("registry.example.com", _given, null, Environment));
    }

    [Fact]
    public void Without_a_given_credential_the_Docker_config_is_read()
    {
        Assert.Equal("hub-user", RegistryCredential.Resolve(ImageReference.DockerHub, null, "registry.example.com/team/app", Environment)?.Username);
        Assert.Null(RegistryCredential.Resolve("registry.example.com", null, "registry.example.com/team/app", Environment));
    }

    [Fact]
    public void The_secret_is_not_in_its_text()
    {
        Assert.Equal("agent-user (from -RegistryCredential)", _given.ToString());
    }
}
