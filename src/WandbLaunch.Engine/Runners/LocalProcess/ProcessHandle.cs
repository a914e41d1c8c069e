using System.ComponentModel;
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
        try
        {
            return new(process.Id, process.StartTime.ToUniversalTime().Ticks);
        }
        catch (Exception e) when (e is InvalidOperationException or Win32Exception)
        {
            // It has already exited (a job that ends at once), so its start time cannot be read; nothing can be found
            // through this handle any more, and a start time of 0 makes sure no later process with its pid ever is.
            return new(process.Id, 0);
        }
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
        Process? process = null;
        try
        {
            process = Process.GetProcessById(Pid);
            // Start times read back through /proc are rounded to clock ticks: allow a little slack.
            if (Math.Abs(process.StartTime.ToUniversalTime().Ticks - StartTicks) < TimeSpan.TicksPerSecond && !process.HasExited) return process;
        }
        catch (ArgumentException)
        {
            // No such process.
        }
        catch (Exception e) when (e is InvalidOperationException or Win32Exception)
        {
            // It exited (and may be gone from /proc) while we looked.
        }
        process?.Dispose();
        return null;
    }
}
