using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Services;

namespace WandbLaunch.Engine.JobTests;

/// <summary>
/// Wait-WandbLaunchJob over jobs held by different backends (a W&amp;B connection's queue items and its direct launches
/// in the local store): each backend is watched, and the jobs come as they end. Two real store files stand for the two.
/// </summary>
public sealed class JobLookupTests : IDisposable
{
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly Store _first = new();
    private readonly Store _second = new();

    public void Dispose()
    {
        _first.Dispose();
        _second.Dispose();
    }

    private static async Task<FoundJob> PendingAsync(Store store)
    {
        var queue = await store.QueueAsync("q");
        var job = await store.PushAsync(queue, TestSpecs.LocalProcess(store.Dir.Path, ["true"], Store.Entity, "proj"));
        return new FoundJob(job, store.Backend);
    }

    private static async Task<List<JobWaitResult>> WaitAsync(IReadOnlyList<FoundJob> jobs, TimeSpan timeout, bool any)
    {
        var results = new List<JobWaitResult>();
        await foreach (var result in JobLookup.WaitAsync(jobs, timeout, any, None)) results.Add(result);
        return results;
    }

    [Fact]
    public async Task Jobs_of_two_backends_are_each_waited_for_until_they_end()
    {
        var a = await PendingAsync(_first);
        var b = await PendingAsync(_second);
        var waiting = WaitAsync([a, b], TimeSpan.FromSeconds(20), any: false);

        await _second.Backend.RequestStopAsync(b.Job.Id, None);
        await Task.Delay(300);
        Assert.False(waiting.IsCompleted, "the wait ended while a job was still pending");
        await _first.Backend.RequestStopAsync(a.Job.Id, None);
        var results = await waiting.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal([b.Job.Id, a.Job.Id], results.Select(r => r.JobId));
        Assert.All(results, r => Assert.Equal(LaunchJobState.Stopped, r.Job?.State));
    }

    [Fact]
    public async Task Any_returns_the_first_to_end_and_a_timeout_reports_each_job_still_running()
    {
        var a = await PendingAsync(_first);
        var b = await PendingAsync(_second);
        await _first.Backend.RequestStopAsync(a.Job.Id, None);

        var first = await WaitAsync([a, b], TimeSpan.FromSeconds(20), any: true).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal([a.Job.Id], first.Select(r => r.JobId));

        var timedOut = await WaitAsync([a, b], TimeSpan.FromMilliseconds(500), any: false).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(a.Job.Id, timedOut[0].JobId);
        Assert.Equal("JobWaitTimeout", Assert.Single(timedOut, r => r.Error is not null).Error!.ErrorId);
        Assert.Equal(b.Job.Id, timedOut[1].JobId);
    }
}
