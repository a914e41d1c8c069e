using System.Runtime.InteropServices;

namespace WandbLaunch.Engine.Runners.LocalProcess;

/// <summary>
/// A local-process job's own session and process group (Unix): the job is started through util-linux
/// <c>setsid</c>, which, since the agent's child is not a group leader, calls setsid() and execs the entry point in
/// place, so the job's pid is also its session and group id. Stopping the job signals the whole group, which reaches
/// the children and background jobs it started; a daemon that left the group with setsid() of its own is found by
/// the job's trace id (<see cref="StrayProcesses"/>).
/// </summary>
internal static class ProcessGroup
{
    public const int SigTerm = 15;
    public const int SigKill = 9;
    private const int Esrch = 3;

    private static readonly Lazy<string?> SetsidPath = new(() =>
    {
        if (OperatingSystem.IsWindows()) return null;
        return new[] { "/usr/bin/setsid", "/bin/setsid", "/usr/local/bin/setsid" }.FirstOrDefault(File.Exists);
    });

    /// <summary>The setsid program that starts a job in a session of its own; null where there is none (the job then shares the agent's group).</summary>
    public static string? Setsid => SetsidPath.Value;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    /// <summary>Sends <paramref name="signal"/> to every process in group <paramref name="groupId"/>; false when the group has none left.</summary>
    public static bool Signal(int groupId, int signal)
    {
        if (OperatingSystem.IsWindows() || groupId <= 1) return false;
        return Kill(-groupId, signal) == 0 || Marshal.GetLastPInvokeError() != Esrch;
    }

    /// <summary>Whether any process (a zombie included) is still in group <paramref name="groupId"/>.</summary>
    public static bool IsAlive(int groupId) => Signal(groupId, 0);

    /// <summary>
    /// Stops the group: SIGTERM, up to <paramref name="grace"/> for it to empty, then SIGKILL; finally anything left
    /// carrying the job's trace id. Returns whether it had to use SIGKILL.
    /// </summary>
    public static async Task<bool> StopAsync(int groupId, string traceId, TimeSpan grace)
    {
        var killed = false;
        if (Signal(groupId, SigTerm))
        {
            var deadline = DateTime.UtcNow + grace;
            while (DateTime.UtcNow < deadline && HasLiveMembers(groupId)) await Task.Delay(50).ConfigureAwait(false);
            if (HasLiveMembers(groupId))
            {
                Signal(groupId, SigKill);
                killed = true;
            }
        }
        if (StrayProcesses.Kill(traceId) > 0) killed = true;
        return killed;
    }

    /// <summary>Whether the group has a member that is not a zombie (zombies wait only for their parent to reap them).</summary>
    private static bool HasLiveMembers(int groupId)
    {
        if (!IsAlive(groupId)) return false;
        if (!OperatingSystem.IsLinux()) return true;
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out _)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(directory, "stat"));
                // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so read after the last ')'.
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields[0] != "Z" && int.TryParse(fields[2], out var group) && group == groupId) return true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile.
            }
        }
        return false;
    }
}
