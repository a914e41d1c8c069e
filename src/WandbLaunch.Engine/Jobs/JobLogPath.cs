using System.Security.Cryptography;
using System.Text;
using WandbLaunch.Engine.FileSystem;

namespace WandbLaunch.Engine.Jobs;

/// <summary>
/// Where a job's log is. The path is read back from the store, which an older version (or anyone who can write the
/// file) may have filled with any path: only a path inside the backend's log directory is trusted, so the agent
/// never appends to, the cmdlets never show, and removal never deletes a file elsewhere.
/// </summary>
public static class JobLogPath
{
    /// <summary>The stored log path when it is inside <paramref name="logDirectory"/> (links resolved), otherwise null.</summary>
    public static string? Trusted(LaunchJob job, string logDirectory) =>
        job.LogPath is { } stored && ContainedPath.Contains(logDirectory, stored) ? stored : null;

    /// <summary>
    /// The log the agent writes: the trusted stored path, else <c>&lt;log directory&gt;/&lt;job id&gt;.log</c>
    /// (a job id that would lead elsewhere is replaced by a hash of it).
    /// </summary>
    public static string Of(LaunchJob job, string logDirectory)
    {
        if (Trusted(job, logDirectory) is { } trusted) return trusted;
        var name = job.Id + ".log";
        if (ContainedPath.Contains(logDirectory, Path.Join(Path.GetFullPath(logDirectory), name)) && name.IndexOfAny(['/', '\\']) < 0) return Path.Join(logDirectory, name);
        return Path.Join(logDirectory, "job-" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(job.Id)))[..16].ToLowerInvariant() + ".log");
    }
}
