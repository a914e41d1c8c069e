using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.JobTests;

/// <summary>The job log: secrets redacted, and when its output was last written, for an agent that re-attaches.</summary>
public sealed class JobLogTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    [Fact]
    public void Secrets_never_reach_the_file_and_the_tail_holds_only_output()
    {
        var path = _dir.File("logs/job.log");
        using (var log = new JobLog(path, ["s3cr3t-api-key", null, "abc"]))
        {
            log.Output("key is s3cr3t-api-key");
            log.Agent("note with s3cr3t-api-key");
            log.Output("abc stays: too short to be a secret");
            Assert.Equal(["key is ***", "abc stays: too short to be a secret"], log.Tail());
        }
        Assert.Equal("key is ***\n[agent] note with ***\nabc stays: too short to be a secret\n", File.ReadAllText(path));
    }

    [Theory]
    [InlineData(new string[0], "The process exited with code 3 and wrote no output.")]
    [InlineData(new[] { "hello" }, "The process exited with code 3; its last output: hello")]
    [InlineData(new[] { "epoch 1", "loss diverged" }, "The process exited with code 3; its last output: loss diverged\nepoch 1\nloss diverged")]
    public void A_failed_exit_names_the_last_output_line_then_the_tail_when_there_is_more(string[] output, string expected)
    {
        using var log = new JobLog(_dir.File("exit.log"), []);
        log.Agent("a note is not output");
        foreach (var line in output) log.Output(line);
        Assert.Equal(expected, log.ExitFailure("process", 3));
    }

    [Fact]
    public async Task Batched_output_reaches_the_file_without_a_flush_after_each_quiet_spell()
    {
        // The flush timer is armed only while output waits (a quiet job costs no wake-ups): a second burst after a
        // flush must still reach the file on its own, without a note or Dispose pushing it out.
        var path = _dir.File("job.log");
        using var log = new JobLog(path, []);
        log.Output("first burst");
        await WaitForFileAsync(path, "first burst\n");
        await Task.Delay(500);
        log.Output("second burst");
        await WaitForFileAsync(path, "first burst\nsecond burst\n");
    }

    private static async Task WaitForFileAsync(string path, string expected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        string text;
        while ((text = ReadShared(path)) != expected && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal(expected, text);
    }

    private static string ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        return new StreamReader(stream).ReadToEnd();
    }

    [Fact]
    public void The_last_output_time_is_the_files_write_time_when_output_came_last()
    {
        var path = _dir.File("job.log");
        using (var log = new JobLog(path, []))
        {
            log.Agent("starting");
            log.Output("step 1");
        }
        File.SetLastWriteTimeUtc(path, new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc));
        Assert.Equal(new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc), JobLog.LastOutputUtc(path));
    }

    [Fact]
    public void Notes_written_after_the_output_do_not_move_the_last_output_time()
    {
        var path = _dir.File("job.log");
        var before = DateTime.UtcNow;
        using (var log = new JobLog(path, []))
        {
            log.Output("step 100");
            var after = DateTime.UtcNow;
            Thread.Sleep(50);
            log.Agent("watching pods failed; trying again in 1 s");
            log.Agent("watching pods failed; trying again in 2 s");
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(5));
            var last = JobLog.LastOutputUtc(path)!.Value;
            Assert.InRange(last, before, after);
        }
    }

    [Fact]
    public void A_log_without_output_falls_back_on_its_write_time_and_a_missing_log_has_none()
    {
        var path = _dir.File("job.log");
        using (var log = new JobLog(path, [])) log.Agent("took the job");
        Assert.Equal(File.GetLastWriteTimeUtc(path), JobLog.LastOutputUtc(path));
        Assert.Null(JobLog.LastOutputUtc(_dir.File("missing.log")));
    }

    [Fact]
    public void Delete_removes_the_log_and_its_cursor()
    {
        var path = _dir.File("job.log");
        using (var log = new JobLog(path, []))
        {
            log.Output("x");
            log.Agent("y");
        }
        Assert.True(File.Exists(path + ".cursor"));
        JobLog.Delete(path);
        Assert.False(File.Exists(path));
        Assert.False(File.Exists(path + ".cursor"));
    }

    public void Dispose() => _dir.Dispose();
}
