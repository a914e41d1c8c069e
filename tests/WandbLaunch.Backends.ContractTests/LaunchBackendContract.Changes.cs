using System.Diagnostics;

namespace WandbLaunch.Backends.ContractTests;

/// <summary>The change signal: WaitForChange wakes on a write (through this or another handle) and otherwise waits out its timeout.</summary>
public abstract partial class LaunchBackendContract<TFactory>
{
    [SkippableFact]
    public async Task WaitForChange_returns_promptly_after_a_write_through_another_handle()
    {
        Needs(BackendCapability.ChangeSignal);
        var queue = await QueueAsync("q");
        var other = Factory.Open();
        // A first wait establishes what "unchanged" is.
        await Backend.WaitForChangeAsync(TimeSpan.FromMilliseconds(50), None);

        var clock = Stopwatch.StartNew();
        var wait = Backend.WaitForChangeAsync(TimeSpan.FromSeconds(20), None);
        await Task.Delay(200);
        Assert.False(wait.IsCompleted, "nothing changed yet");
        await PushAsync(queue, """{"uri": "/tmp/code"}""", through: other);
        var pushedAt = clock.Elapsed;
        var winner = await Task.WhenAny(wait, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.Same(wait, winner);
        Assert.True(clock.Elapsed - pushedAt < TimeSpan.FromSeconds(3), $"woke {clock.Elapsed - pushedAt} after the commit");
    }

    [SkippableFact]
    public async Task WaitForChange_returns_at_once_after_a_write_through_the_same_handle()
    {
        Needs(BackendCapability.ChangeSignal);
        var queue = await QueueAsync("q");
        await Backend.WaitForChangeAsync(TimeSpan.FromMilliseconds(50), None);
        var wait = Backend.WaitForChangeAsync(TimeSpan.FromSeconds(20), None);
        await PushAsync(queue, """{"uri": "/tmp/code"}""");
        Assert.Same(wait, await Task.WhenAny(wait, Task.Delay(TimeSpan.FromSeconds(10))));
    }

    [Fact]
    public async Task WaitForChange_waits_out_its_timeout_when_nothing_changes()
    {
        await QueueAsync("q");
        await Backend.WaitForChangeAsync(TimeSpan.FromMilliseconds(50), None);
        // Reads through this and other backends are not changes.
        _ = await Factory.Open().GetQueuesAsync(null, null, None);
        var clock = Stopwatch.StartNew();
        var wait = Backend.WaitForChangeAsync(TimeSpan.FromMilliseconds(600), None);
        _ = await Backend.GetQueuesAsync(null, null, None);
        _ = await Backend.PopAsync("agent-a", Key("q"), Long, None);
        await wait;
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(550), $"returned after {clock.Elapsed}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"returned after {clock.Elapsed}");
    }

    [Fact]
    public async Task WaitForChange_ends_when_cancelled()
    {
        await QueueAsync("q");
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var clock = Stopwatch.StartNew();
        try
        {
            await Backend.WaitForChangeAsync(TimeSpan.FromSeconds(30), cts.Token);
        }
        catch (OperationCanceledException)
        {
        }
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));
    }
}
