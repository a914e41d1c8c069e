using System.Diagnostics;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Services;

namespace WandbLaunch.Engine.JobTests;

public sealed class JobWatchTests : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly Store _store = new();

    public void Dispose() => _store.Dispose();

    private async Task<LaunchJob> RunningAsync(string name)
    {
        var queue = await _store.QueueAsync(name);
        var pushed = await _store.PushAsync(queue, $$"""{"uri": "/tmp/code", "name": "{{name}}"}""");
        await _store.Backend.PopAsync("agent-a", queue, Long, None);
        await _store.Backend.AckAsync(pushed.Id, "agent-a", _store.Dir.File(pushed.Id + ".log"), None);
        await _store.Backend.MarkRunningAsync(pushed.Id, "agent-a", "pid:1:1", None);
        return await _store.JobAsync(pushed.Id);
    }

    private static async Task<List<JobWaitResult>> AllAsync(IAsyncEnumerable<JobWaitResult> results)
    {
        var list = new List<JobWaitResult>();
        await foreach (var result in results) list.Add(result);
        return list;
    }

    [Fact]
    public async Task Each_job_comes_as_it_ends_woken_by_another_process_writing_the_store()
    {
        var first = await RunningAsync("a");
        var second = await RunningAsync("b");
        var other = _store.Open();
        var watch = new JobWatch(_store.Backend) { FallbackPoll = TimeSpan.FromMinutes(1) };
        var waiting = AllAsync(watch.WaitAsync([first.Id, second.Id], null, any: false, None));
        await other.FinishAsync(second.Id, "agent-a", JobOutcome.Finished(), None);
        await other.FinishAsync(first.Id, "agent-a", JobOutcome.Failed(FailureStage.Run, "boom", 1), None);
        var results = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(results, r => Assert.Null(r.Error));
        Assert.Equal(new[] { first.Id, second.Id }.Order(), results.Select(r => r.JobId).Order());
        Assert.Equal(LaunchJobState.Failed, results.Single(r => r.JobId == first.Id).Job!.State);
    }

    [Fact]
    public async Task Any_returns_after_the_first_job_that_ends()
    {
        var first = await RunningAsync("a");
        var second = await RunningAsync("b");
        await _store.Backend.FinishAsync(second.Id, "agent-a", JobOutcome.Finished(), None);
        var results = await AllAsync(new JobWatch(_store.Backend).WaitAsync([first.Id, second.Id], null, any: true, None));
        Assert.Equal(second.Id, Assert.Single(results).JobId);
    }

    [Fact]
    public async Task Jobs_still_running_at_the_timeout_come_with_a_JobWaitTimeout_error()
    {
        var running = await RunningAsync("a");
        var clock = Stopwatch.StartNew();
        var results = await AllAsync(new JobWatch(_store.Backend).WaitAsync([running.Id], TimeSpan.FromMilliseconds(300), any: false, None));
        var result = Assert.Single(results);
        Assert.Null(result.Job);
        Assert.Equal("JobWaitTimeout", result.Error!.ErrorId);
        Assert.Equal(running.Id, result.Error.Target);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_cancelled_wait_ends_quietly()
    {
        var running = await RunningAsync("a");
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        Assert.Empty(await AllAsync(new JobWatch(_store.Backend).WaitAsync([running.Id], null, any: false, cancel.Token)));
        using var cancel2 = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        Assert.Equal(LaunchJobState.Running, (await new JobWatch(_store.Backend).UntilEndedAsync(running, cancel2.Token)).State);
    }

    [Fact]
    public async Task A_stopped_job_is_seen_once_its_agent_has_stopped_it()
    {
        var running = await RunningAsync("a");
        var requested = await _store.Backend.RequestStopAsync(running.Id, None);
        var waiting = new JobWatch(_store.Backend).UntilEndedAsync(requested, None);
        await _store.Open().FinishAsync(running.Id, "agent-a", JobOutcome.Stopped("stopped by request"), None);
        Assert.Equal(LaunchJobState.Stopped, (await waiting.WaitAsync(TimeSpan.FromSeconds(30))).State);
    }
}
