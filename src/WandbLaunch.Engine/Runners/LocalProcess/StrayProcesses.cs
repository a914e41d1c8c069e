using System.Diagnostics;

namespace WandbLaunch.Engine.Runners.LocalProcess;

/// <summary>
/// Finds processes an agent started for a job but may not have recorded (it died between starting a process and
/// saving its handle, or while cloning): every process the agent starts for a job carries the job's id in
/// WANDB_LAUNCH_TRACE_ID. Linux only (it reads /proc/&lt;pid&gt;/environ); elsewhere nothing is found.
/// </summary>
internal static class StrayProcesses
{
    public static IReadOnlyList<int> Find(string traceId)
    {
        if (!OperatingSystem.IsLinux() || !Directory.Exists("/proc")) return [];
        var marker = $"WANDB_LAUNCH_TRACE_ID={traceId}";
        var found = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid) || pid == Environment.ProcessId) continue;
            try
            {
                var environ = File.ReadAllText(Path.Combine(directory, "environ"));
                if (environ.Split('\0').Contains(marker, StringComparer.Ordinal)) found.Add(pid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone, or another user's.
            }
        }
        return found;
    }

    /// <summary>Kills every process (tree) of the job; returns how many there were.</summary>
    public static int Kill(string traceId)
    {
        var pids = Find(traceId);
        foreach (var pid in pids)
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                process.Kill(entireProcessTree: true);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // It exited meanwhile.
            }
        }
        return pids.Count;
    }
}
