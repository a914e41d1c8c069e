using System.Diagnostics;
using System.Globalization;

namespace WandbLaunch.Engine.Runners.LocalProcess;

/// <summary>
/// A local process's handle: its pid and start time. The start time guards against pid reuse, so a later agent
/// never mistakes an unrelated process for the job's.
/// </summary>
internal readonly record struct ProcessHandle(int Pid, long StartTicks)
{
    public override string ToString() => $"pid:{Pid}:{StartTicks.ToString(CultureInfo.InvariantCulture)}";

    public static ProcessHandle Of(Process process) => new(process.Id, process.StartTime.ToUniversalTime().Ticks);

    public static bool TryParse(string? text, out ProcessHandle handle)
    {
        handle = default;
        var parts = text?.Split(':');
        if (parts is not { Length: 3 } || parts[0] != "pid") return false;
        if (!int.TryParse(parts[1], out var pid) || !long.TryParse(parts[2], out var ticks)) return false;
        handle = new ProcessHandle(pid, ticks);
        return true;
    }

    public Process? FindLiveProcess()
    {
        try
        {
            var process = Process.GetProcessById(Pid);
            // Start times read back through /proc are rounded to clock ticks: allow a little slack.
            if (Math.Abs(process.StartTime.ToUniversalTime().Ticks - StartTicks) < TimeSpan.TicksPerSecond && !process.HasExited) return process;
            process.Dispose();
        }
        catch (ArgumentException)
        {
            // No such process.
        }
        catch (InvalidOperationException)
        {
            // It exited.
        }
        return null;
    }
}
