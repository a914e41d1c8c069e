using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Queues;

namespace WandbLaunch.Engine.Tests.Queues;

public class QueueNamesTests
{
    [Theory]
    [InlineData("a")]
    [InlineData("gpu-queue")]
    [InlineData("My Queue 2")]
    [InlineData("équipe/训练")]
    public void Ordinary_names_are_accepted(string name)
    {
        Assert.Equal(name, QueueNames.Validate(name));
    }

    [Fact]
    public void Sixty_four_characters_are_allowed_and_sixty_five_are_not()
    {
        Assert.Equal(64, QueueNames.Validate(new string('x', 64)).Length);

        var e = Assert.ThrowsAny<LaunchException>(() => QueueNames.Validate(new string('x', 65)));
        Assert.Equal("InvalidQueueName", e.ErrorId);
        Assert.Equal(LaunchErrorCategory.InvalidArgument, e.Category);
        Assert.Contains("65", e.Message);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData(" leading")]
    [InlineData("trailing ")]
    [InlineData("tab\tinside")]
    [InlineData("new\nline")]
    [InlineData("star*")]
    [InlineData("what?")]
    [InlineData("[abc]")]
    public void Empty_padded_control_and_wildcard_names_are_refused(string? name)
    {
        var e = Assert.ThrowsAny<LaunchException>(() => QueueNames.Validate(name));
        Assert.Equal("InvalidQueueName", e.ErrorId);
        Assert.Equal(name, e.Target);
    }
}
