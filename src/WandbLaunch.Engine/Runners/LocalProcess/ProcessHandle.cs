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

    public static ProcessHandle Of(Process process)
    {
        long ticks;
        try
        {
            ticks = process.StartTime.ToUniversalTime().Ticks;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // It already exited (a quick job such as `true`): there is nothing to re-attach to, and a start time of 0
            // never matches a live process, so a later agent can never mistake another process for this one.
            ticks = 0;
        }
        return new(process.Id, ticks);
    }

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
