using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Registries;

namespace WandbLaunch.Engine.DockerTests.Registries;

public class ImageReferenceTests
{
    [Theory]
    [InlineData("busybox", "docker.io", "library/busybox", "latest")]
    [InlineData("busybox:1.36", "docker.io", "library/busybox", "1.36")]
    [InlineData("team/app:v2", "docker.io", "team/app", "v2")]
    [InlineData("docker.io/library/busybox:1", "docker.io", "library/busybox", "1")]
    [InlineData("127.0.0.1:5000/wbl/app:ae2f4ca5", "127.0.0.1:5000", "wbl/app", "ae2f4ca5")]
    [InlineData("127.0.0.1:5000/app", "127.0.0.1:5000", "app", "latest")]
    [InlineData("localhost/app:1", "localhost", "app", "1")]
    [InlineData("localhost:5000/a/b/c:1", "localhost:5000", "a/b/c", "1")]
    [InlineData("registry:5000/app:1", "registry:5000", "app", "1")]
    [InlineData("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1", "123456789012.dkr.ecr.us-east-1.amazonaws.com", "team/app", "1")]
    [InlineData("us-docker.pkg.dev/proj/repo/img:tag", "us-docker.pkg.dev", "proj/repo/img", "tag")]
    public void Splits_registry_repository_and_tag_as_docker_does(string image, string registry, string repository, string tag)
    {
        var reference = ImageReference.Parse(image);
        Assert.Equal(registry, reference.Registry);
        Assert.Equal(repository, reference.Repository);
        Assert.Equal(tag, reference.Tag);
    }

    [Theory]
    [InlineData("busybox", "busybox:latest", "library/busybox")]
    [InlineData("library/busybox:1", "busybox:1", "library/busybox")]
    [InlineData("team/app:v2", "team/app:v2", "team/app")]
    [InlineData("127.0.0.1:5000/wbl/app:ae2f4ca5", "127.0.0.1:5000/wbl/app:ae2f4ca5", "127.0.0.1:5000/wbl/app")]
    public void Writes_the_name_as_docker_does(string image, string written, string name)
    {
        var reference = ImageReference.Parse(image);
        Assert.Equal(written, reference.ToString());
        Assert.Equal(name, reference.Name);
    }

    [Fact]
    public void Keeps_a_digest_and_writes_it_back_with_an_at_sign()
    {
        const string digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        var reference = ImageReference.Parse($"127.0.0.1:5000/wbl/app@{digest}");
        Assert.Equal("127.0.0.1:5000", reference.Registry);
        Assert.Equal("wbl/app", reference.Repository);
        Assert.Equal(digest, reference.Tag);
        Assert.Equal($"127.0.0.1:5000/wbl/app@{digest}", reference.ToString());
        Assert.Equal($"busybox@{digest}", ImageReference.Parse($"busybox@{digest}").ToString());
    }

    [Fact]
    public void A_tag_and_a_digest_together_resolve_to_the_digest_as_docker_does()
    {
        const string digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        var reference = ImageReference.Parse($"localhost:5000/app:1.0@{digest}");
        Assert.Equal("localhost:5000", reference.Registry);
        Assert.Equal("app", reference.Repository);
        Assert.Equal(digest, reference.Tag);
    }

    [Theory]
    [InlineData("127.0.0.1:5000/app", true)]
    [InlineData("127.1.2.3:5000/app", true)]
    [InlineData("localhost:5000/app", true)]
    [InlineData("localhost/app", true)]
    [InlineData("registry.example.com/app", false)]
    [InlineData("busybox", false)]
    public void Loopback_registries_are_the_ones_docker_reaches_over_http(string image, bool loopback)
    {
        Assert.Equal(loopback, ImageReference.Parse(image).IsLoopback);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("my image")]
    public void Refuses_what_is_not_an_image_name(string image)
    {
        var e = Assert.ThrowsAny<LaunchException>(() => ImageReference.Parse(image));
        Assert.Equal("InvalidImageName", e.ErrorId);
    }
}
