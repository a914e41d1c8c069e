using System.Text.Json.Nodes;
using WandbLaunch.Engine.Errors;

using Xunit;

namespace WandbLaunch.TestSupport;

/// <summary>Assertions on launch errors (by error id) and on JSON trees (<c>using static</c> them).</summary>
public static class LaunchAssertions
{
    public static async Task<LaunchException> ThrowsLaunchAsync(string errorId, Func<Task> action)
    {
        var e = await Assert.ThrowsAnyAsync<LaunchException>(action);
        Assert.Equal(errorId, e.ErrorId);
        return e;
    }

    public static LaunchException ThrowsLaunch(string errorId, Action action)
    {
        var e = Assert.ThrowsAny<LaunchException>(action);
        Assert.Equal(errorId, e.ErrorId);
        return e;
    }

    /// <summary>Asserts two JSON trees are equal (compared as compact JSON).</summary>
    public static void JsonEqual(string expected, JsonNode? actual) =>
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), actual), $"expected {JsonNode.Parse(expected)!.ToJsonString()}\nactual   {actual?.ToJsonString() ?? "null"}");
}
