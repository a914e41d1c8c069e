using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Queues;

namespace WandbLaunch.Engine.Tests.Queues;

public class LaunchPriorityTests
{
    [Fact]
    public void Wandb_priority_values_pop_lowest_first_and_medium_is_the_default()
    {
        Assert.Equal([0, 1, 2, 3], new[] { LaunchPriority.Critical, LaunchPriority.High, LaunchPriority.Medium, LaunchPriority.Low }.Select(p => (int)p));
        Assert.Equal(LaunchPriority.Medium, LaunchPriorities.Default);
    }

    [Theory]
    [InlineData("critical", LaunchPriority.Critical)]
    [InlineData("HIGH", LaunchPriority.High)]
    [InlineData("Medium", LaunchPriority.Medium)]
    [InlineData("low", LaunchPriority.Low)]
    [InlineData("0", LaunchPriority.Critical)]
    [InlineData("3", LaunchPriority.Low)]
    public void Names_and_numbers_are_accepted(string text, LaunchPriority expected)
    {
        Assert.Equal(expected, LaunchPriorities.Parse(text));
    }

    [Theory]
    [InlineData("urgent")]
    [InlineData("4")]
    [InlineData("-1")]
    [InlineData("")]
    [InlineData("critical,high")]
    [InlineData("low, critical")]
    public void Anything_else_is_refused_listing_the_allowed_values(string text)
    {
        var e = Assert.ThrowsAny<LaunchException>(() => LaunchPriorities.Parse(text));
        Assert.Equal("InvalidPriority", e.ErrorId);
        Assert.Equal(text, e.Target);
        Assert.Contains("critical (0), high (1), medium (2), low (3)", e.Message);
    }
}
