using System.Diagnostics;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.HostileInputTests;

/// <summary>A job that prints without end must not fill the disk, and reading the end of a huge log must stay cheap.</summary>
public sealed class FaultsLogTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static long SizeOf(string path) => File.Exists(path) ? new FileInfo(path).Length : 0;

    [Fact]
    public void A_log_written_far_past_its_cap_keeps_under_the_cap_and_keeps_the_newest_lines()
    {
        var path = _dir.File("logs/job.log");
        const long cap = 1024 * 1024;
        using (var log = new JobLog(path, [], cap))
        {
            for (var i = 0; i < 200_000; i++) log.Output($"line {i:D7} " + new string('x', 40));
        }
        Assert.InRange(SizeOf(path) + SizeOf(path + ".1"), cap / 4, cap);
        Assert.Equal($"line {199_999:D7} " + new string('x', 40), JobLog.ReadTail(path, 1).Single());
        // The rotated part continues into the current one without a gap.
        var all = JobLog.Files(path).SelectMany(File.ReadLines).ToList();
        var numbers = all.Select(l => int.Parse(l.AsSpan(5, 7))).ToList();
        Assert.Equal(Enumerable.Range(numbers[0], numbers.Count), numbers);
    }

    [Fact]
    public void One_line_longer_than_the_cap_keeps_only_its_end()
    {
        var path = _dir.File("job.log");
        const long cap = 128 * 1024;
        using (var log = new JobLog(path, [], cap))
        {
            log.Output(new string('a', 1_000_000) + "THE-END");
        }
        Assert.True(SizeOf(path) + SizeOf(path + ".1") <= cap);
        Assert.EndsWith("THE-END", File.ReadAllText(path).TrimEnd('\n'));
    }

    [Fact]
    public async Task A_local_process_job_printing_300_MB_leaves_a_log_under_the_cap()
    {
        await using var harness = new FaultsAgentHarness();
        var queue = await harness.QueueAsync("q");
        const long cap = 4 * 1024 * 1024;
        harness.StartAgent([queue.Name], maxLogBytes: cap);
        var job = await harness.SubmitAsync(queue, "sh", "-c", "yes 0123456789abcdef | head -c 300000000; echo; echo done-printing");
        var ended = await WaitForJob.EndAsync(harness.Backend, job.Id, TimeSpan.FromSeconds(120));
        Assert.Equal(LaunchJobState.Finished, ended.State);
        var path = ended.LogPath!;
        Assert.InRange(SizeOf(path) + SizeOf(path + ".1"), 1, cap);
        Assert.Contains("done-printing", JobLog.ReadTail(path, 5));
    }

    [Fact]
    public void Tail_of_a_200_MB_log_reads_only_its_end()
    {
        var path = _dir.File("big.log");
        using (var file = new FileStream(path, FileMode.Create))
        {
            var block = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, 1000).Select(i => $"filler line {i:D4} ................................\n")));
            while (file.Length < 200L * 1024 * 1024) file.Write(block);
            file.Write("tail 1\ntail 2\ntail 3\n"u8);
        }
        var lines = JobLog.ReadTail(path, 3);
        Assert.Equal(["tail 1", "tail 2", "tail 3"], lines);
        Assert.InRange(LogTail.LastBytesRead, 1, 256 * 1024);
        Assert.Equal(10, JobLog.ReadTail(path, 10).Count);
    }

    /// <summary>Whatever the text (empty lines, CR LF, no final newline, non-ASCII, a rotated part), -Tail n is the last n lines.</summary>
    [Property(MaxTest = 200)]
    public void Tail_is_the_last_lines_whatever_the_text(NonNegativeInt count, string?[] older, string?[] current, bool finalNewline)
    {
        static string Clean(string? s) => (s ?? "").Replace("\n", "").Replace("\r", "");
        var olderLines = older.Select(Clean).ToList();
        var currentLines = current.Select(Clean).ToList();
        var dir = _dir.File(Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "job.log");
        if (olderLines.Count > 0) File.WriteAllText(path + ".1", string.Concat(olderLines.Select(l => l + "\n")));
        var text = string.Join("\n", currentLines) + (finalNewline && currentLines.Count > 0 ? "\n" : "");
        File.WriteAllText(path, text);
        var currentRead = text.Length == 0 ? [] : (text.EndsWith('\n') ? text[..^1] : text).Split('\n').ToList();
        var expected = olderLines.Concat(currentRead).ToList();
        var n = count.Get % 40;
        var tail = JobLog.ReadTail(path, n);
        Assert.Equal(expected.Skip(Math.Max(0, expected.Count - n)), tail);
    }

    [Fact]
    public void The_log_cap_comes_from_the_environment_and_a_bad_value_is_refused_by_name()
    {
        Assert.Equal(100L * 1024 * 1024, Agent.AgentOptions.ParseMaxLogBytes(_ => null));
        Assert.Equal(5L * 1024 * 1024, Agent.AgentOptions.ParseMaxLogBytes(_ => "5M"));
        Assert.Equal(2L * 1024 * 1024 * 1024, Agent.AgentOptions.ParseMaxLogBytes(_ => "2g"));
        Assert.Equal(70000, Agent.AgentOptions.ParseMaxLogBytes(_ => "70000"));
        foreach (var bad in new[] { "-1", "1.5M", "lots", "10", "99999999999999999999G" })
        {
            var e = Assert.ThrowsAny<LaunchException>(() => Agent.AgentOptions.ParseMaxLogBytes(_ => bad));
            Assert.Equal("InvalidMaxLogBytes", e.ErrorId);
            Assert.Contains(bad, e.Message);
            Assert.Contains("WANDB_LAUNCH_MAX_LOG_BYTES", e.Message);
        }
    }

    [TmpfsFact]
    public void A_full_disk_drops_log_lines_without_failing_the_writer_and_says_so_once_space_returns()
    {
        using var mount = TmpfsMount.TryCreate(_dir.File("small"), "256k", out var why) ?? throw new InvalidOperationException(why);
        var path = Path.Combine(mount!.Path, "job.log");
        var filler = Path.Combine(mount.Path, "filler");
        using (var log = new JobLog(path, [], 64 * 1024 * 1024))
        {
            log.Output("before the disk filled");
            log.Flush();
            FillDisk(filler);
            for (var i = 0; i < 100; i++)
            {
                log.Output("lost line " + new string('y', 100));
                log.Flush();
            }
            File.Delete(filler);
            log.Output("after space returned");
        }
        var lines = File.ReadAllLines(path);
        Assert.True(lines.Length < 100, string.Join("\n", lines.Where(l => !l.StartsWith("lost line"))));
        Assert.Equal("before the disk filled", lines[0]);
        Assert.Contains(lines, l => l.StartsWith("[agent] ") && l.Contains("bytes of output were not written to this log") && l.Contains("space", StringComparison.OrdinalIgnoreCase));
        Assert.Equal("after space returned", lines[^1]);
    }

    internal static void FillDisk(string filler)
    {
        using var file = new FileStream(filler, FileMode.Create, FileAccess.Write, FileShare.None, 1);
        var block = new byte[4096];
        try
        {
            while (true) file.Write(block);
        }
        catch (IOException)
        {
            // Full.
        }
    }
}

/// <summary>A test that fills a small tmpfs; skipped, with the reason, where one cannot be mounted (not root, no CAP_SYS_ADMIN).</summary>
public sealed class TmpfsFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> Unavailable = new(() =>
    {
        var probe = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "wbl-tmpfs-probe-" + Environment.ProcessId);
        using var mount = TmpfsMount.TryCreate(probe, "64k", out var why);
        if (mount is null) return why;
        return null;
    });

    public TmpfsFactAttribute()
    {
        if (Unavailable.Value is { } why) Skip = why;
    }
}

/// <summary>A small tmpfs, to run out of space for real (needs root; otherwise the caller skips with the reason).</summary>
internal sealed class TmpfsMount : IDisposable
{
    private TmpfsMount(string path) => Path = path;

    public string Path { get; }

    public static TmpfsMount? TryCreate(string path, string size, out string why)
    {
        why = "";
        if (!OperatingSystem.IsLinux())
        {
            why = "a tmpfs needs Linux";
            return null;
        }
        Directory.CreateDirectory(path);
        var (code, output) = Run("mount", "-t", "tmpfs", "-o", $"size={size}", "tmpfs", path);
        if (code != 0)
        {
            why = $"cannot mount a small tmpfs to fill (not root, or no mount permission): {output.Trim()}";
            return null;
        }
        return new TmpfsMount(path);
    }

    private static (int Code, string Output) Run(params string[] argv)
    {
        var info = new ProcessStartInfo(argv[0]) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in argv.Skip(1)) info.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(info)!;
            var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }

    public void Dispose()
    {
        Run("umount", "-l", Path);
        try
        {
            Directory.Delete(Path);
        }
        catch (IOException)
        {
        }
    }
}
