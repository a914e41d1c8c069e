using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Services;

namespace WandbLaunch.Engine.JobTests;

public sealed class JobLogReaderTests : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly Store _store = new();

    public void Dispose() => _store.Dispose();

    private string LogDirectory => _store.Backend.LogDirectory;

    /// <summary>A running job whose log (in the backend's log directory) holds <paramref name="lines"/>.</summary>
    private async Task<LaunchJob> RunningWithLogAsync(params string[] lines)
    {
        var queue = await _store.QueueAsync("q");
        var pushed = await _store.PushAsync(queue, """{"uri": "/tmp/code"}""");
        await _store.Backend.PopAsync("agent-a", queue, Long, None);
        Directory.CreateDirectory(LogDirectory);
        var path = Path.Combine(LogDirectory, pushed.Id + ".log");
        File.WriteAllLines(path, lines);
        await _store.Backend.AckAsync(pushed.Id, "agent-a", path, None);
        await _store.Backend.MarkRunningAsync(pushed.Id, "agent-a", "pid:1:1", None);
        return await _store.JobAsync(pushed.Id);
    }

    private static async Task<List<string>> AllAsync(IAsyncEnumerable<string> lines)
    {
        var list = new List<string>();
        await foreach (var line in lines) list.Add(line);
        return list;
    }

    [Fact]
    public async Task Reads_the_whole_log_with_its_rotated_part_first_or_only_its_tail()
    {
        var job = await RunningWithLogAsync("three", "four");
        File.WriteAllLines(CappedLogStream.RotatedPath(job.LogPath!), ["one", "two"]);
        var reader = new JobLogReader(_store.Backend);
        Assert.True(reader.HasLog(job));
        Assert.Equal(["one", "two", "three", "four"], await AllAsync(reader.ReadAsync(job, null, follow: false, None)));
        Assert.Equal(["two", "three", "four"], await AllAsync(reader.ReadAsync(job, 3, follow: false, None)));
        Assert.Empty(await AllAsync(reader.ReadAsync(job, 0, follow: false, None)));
    }

    [Fact]
    public async Task A_pending_job_and_a_log_outside_the_log_directory_have_nothing_to_read()
    {
        var queue = await _store.QueueAsync("q");
        var pending = await _store.PushAsync(queue, """{"uri": "/tmp/code"}""");
        var reader = new JobLogReader(_store.Backend);
        Assert.False(reader.HasLog(pending));
        Assert.Empty(await AllAsync(reader.ReadAsync(pending, null, follow: false, None)));

        await _store.Backend.PopAsync("agent-a", queue, Long, None);
        var outside = _store.Dir.Write("elsewhere.log", "secret\n");
        await _store.Backend.AckAsync(pending.Id, "agent-a", outside, None);
        var acked = await _store.JobAsync(pending.Id);
        Assert.False(reader.HasLog(acked));
        Assert.Empty(await AllAsync(reader.ReadAsync(acked, null, follow: false, None)));
    }

    [Fact]
    public async Task Following_reads_new_lines_across_a_rotation_until_the_job_ends()
    {
        var job = await RunningWithLogAsync("first");
        var reader = new JobLogReader(_store.Backend) { FollowPoll = TimeSpan.FromMilliseconds(20) };
        var seen = new List<string>();
        var following = Task.Run(async () =>
        {
            await foreach (var line in reader.ReadAsync(job, null, follow: true, None)) lock (seen) seen.Add(line);
        });
        await Eventually.Until(() => { lock (seen) return seen.Count == 1; }, "the first line");
        File.AppendAllText(job.LogPath!, "second\n");
        await Eventually.Until(() => { lock (seen) return seen.Count == 2; }, "the second line");
        // Rotation: the log moves to <log>.1 and a new, shorter log starts.
        File.Move(job.LogPath!, CappedLogStream.RotatedPath(job.LogPath!), overwrite: true);
        File.WriteAllText(job.LogPath!, "x\ntail");
        await Eventually.Until(() => { lock (seen) return seen.Contains("x"); }, "the line of the new log");
        await _store.Backend.FinishAsync(job.Id, "agent-a", JobOutcome.Finished(), None);
        await following.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(["first", "second", "x", "tail"], seen);
    }

    [Fact]
    public async Task Following_a_pending_job_waits_for_its_log_and_cancelling_ends_quietly()
    {
        var queue = await _store.QueueAsync("q");
        var pending = await _store.PushAsync(queue, """{"uri": "/tmp/code"}""");
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        Assert.Empty(await AllAsync(new JobLogReader(_store.Backend).ReadAsync(pending, null, follow: true, cancel.Token)));
    }
}
