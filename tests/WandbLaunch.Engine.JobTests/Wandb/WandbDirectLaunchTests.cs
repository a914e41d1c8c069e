using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Services;
using WandbLaunch.Tests.WandbServer;

namespace WandbLaunch.Engine.JobTests.Wandb;

/// <summary>
/// A queue-less launch on a W&amp;B server: W&amp;B's <c>wandb launch</c> without <c>-q</c> puts nothing in a queue
/// (<c>sdk/launch/_launch.py</c> <c>_launch</c> runs the project itself), while ours would record the job in a queue of
/// its own, which the Launch App would show to the whole entity; so it is refused, and nothing reaches the server.
/// </summary>
public sealed class WandbDirectLaunchTests : IAsyncLifetime
{
    private WandbTestBed _bed = null!;

    public async Task InitializeAsync() => _bed = await WandbTestBed.StartAsync();

    public async Task DisposeAsync() => await _bed.DisposeAsync();

    [Fact]
    public async Task Is_refused_with_DirectLaunchNotSupported_and_makes_no_queue_on_the_server()
    {
        var before = await _bed.Backend.GetQueuesAsync(null, null, CancellationToken.None);

        var refused = await Assert.ThrowsAsync<LaunchException>(() => new DirectLaunch(_bed.Backend, _ => null).CheckAsync(
            new SubmitOptions { DockerImage = "example/train:1", Project = "proj" }, LaunchResource.LocalContainer, new LaunchAgentConfig(), false, CancellationToken.None));

        Assert.Equal("DirectLaunchNotSupported", refused.ErrorId);
        Assert.Contains("Submit-WandbLaunchJob", refused.Message);
        var after = await _bed.Backend.GetQueuesAsync(null, null, CancellationToken.None);
        Assert.Equal(before.Select(q => q.Name), after.Select(q => q.Name));
        Assert.DoesNotContain(after, q => DirectQueues.IsDirect(q.Project));
    }
}
