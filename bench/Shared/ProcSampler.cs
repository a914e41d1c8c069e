using System.Diagnostics;
using System.Globalization;

namespace Bench;

/// <summary>CPU time and memory of another process, read from /proc (Linux).</summary>
internal static class ProcSampler
{
    /// <summary>A window of samples: CPU in % of one core over the window and its busiest second, resident memory, threads, and this process's own CPU.</summary>
    public sealed record Window(double CpuPercent, double MaxSecondCpu, double RssMeanMb, double RssMaxMb, int Threads, double DriverCpuPercent);

    public readonly record struct Sample(long Ticks, double RssMb, int Threads, long Time);

    private static readonly Lazy<double> ClockTicks = new(() =>
    {
        try
        {
            using var getconf = Process.Start(new ProcessStartInfo("getconf", "CLK_TCK") { RedirectStandardOutput = true })!;
            var text = getconf.StandardOutput.ReadToEnd();
            getconf.WaitForExit();
            return double.Parse(text.Trim(), CultureInfo.InvariantCulture);
        }
        catch (Exception)
        {
            return 100;
        }
    });

    public static Sample Read(int pid)
    {
        // Fields after the ')' of the command name: utime is field 14 and stime 15 (1-based, man 5 proc).
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        double rss = 0;
        var threads = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
            else if (line.StartsWith("Threads:", StringComparison.Ordinal)) threads = int.Parse(line[8..].Trim(), CultureInfo.InvariantCulture);
        }
        return new Sample(long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture), rss, threads, Stopwatch.GetTimestamp());
    }

    /// <summary>Samples <paramref name="pid"/> once a second for <paramref name="seconds"/> seconds.</summary>
    public static async Task<Window> SampleAsync(int pid, int seconds)
    {
        var hz = ClockTicks.Value;
        var self = Process.GetCurrentProcess();
        var selfCpu = self.TotalProcessorTime;
        var first = Read(pid);
        var previous = first;
        var perSecond = new List<double>();
        var rss = new List<double>();
        for (var i = 0; i < seconds; i++)
        {
            await Task.Delay(1000);
            var now = Read(pid);
            var wall = (now.Time - previous.Time) / (double)Stopwatch.Frequency;
            perSecond.Add(100 * (now.Ticks - previous.Ticks) / hz / wall);
            rss.Add(now.RssMb);
            previous = now;
        }
        var wallAll = (previous.Time - first.Time) / (double)Stopwatch.Frequency;
        self.Refresh();
        var driver = 100 * (self.TotalProcessorTime - selfCpu).TotalSeconds / wallAll;
        return new Window(100 * (previous.Ticks - first.Ticks) / hz / wallAll, perSecond.Max(), rss.Average(), rss.Max(), previous.Threads, driver);
    }
}
