using System.Runtime.CompilerServices;
using System.Text;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Services;

/// <summary>
/// Reads a job's log (the agent's notes and the job's own output): all of it, its last lines, and, when following,
/// the lines written after, until the job ends, across a rotation of the log at its size cap. Only a log inside the
/// backend's log directory is read (<see cref="JobLogPath.Trusted"/>). Lines come as the job wrote them; escaping
/// control characters for a terminal is the caller's concern. Used by Get-WandbLaunchJobLog.
/// </summary>
public sealed class JobLogReader(ILaunchBackend backend)
{
    /// <summary>How often a follow looks for new lines in the log file (file writes raise no store change).</summary>
    public TimeSpan FollowPoll { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How long a follow waiting for a log to appear goes without re-reading the job when the backend signals no change.</summary>
    public TimeSpan StartPoll { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Whether the job has a log to read now (a pending job has none until an agent takes it).</summary>
    public bool HasLog(LaunchJob job) => JobLogPath.Trusted(job, backend.LogDirectory) is { } path && File.Exists(path);

    /// <summary>
    /// The job's log lines, oldest first: all of them (with its rotated part), or with <paramref name="tail"/> only the
    /// last N. With <paramref name="follow"/>, waits for the log to appear, then keeps reading new lines until the job
    /// ends. Cancelling ends the read quietly.
    /// </summary>
    public async IAsyncEnumerable<string> ReadAsync(LaunchJob job, int? tail, bool follow, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var current = job;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var takenWithoutLog = 0;
        string? path;
        while ((path = JobLogPath.Trusted(current, backend.LogDirectory)) is null || !File.Exists(path))
        {
            // Taken by an agent (or ended) and still no log here: an agent on another host ran it. Following, the
            // second such read (a poll later) decides, as the agent here may be just creating the log.
            if (current.State is not (LaunchJobState.Pending or LaunchJobState.Leased) && backend.LogElsewhere(current) is { } elsewhere
                && (!follow || ++takenWithoutLog >= 2))
            {
                throw NotOnThisHost(current, backend.LogDirectory, elsewhere);
            }
            if (!follow || current.State.IsTerminal())
            {
                EngineLog.Verbose(Source, () => $"job {Printable.Escape(job.Id)} has no log in {Printable.Quote(backend.LogDirectory)}");
                yield break;
            }
            EngineLog.Debug(Source, () => $"job {Printable.Escape(job.Id)} is {current.State} and has no log yet: waiting for an agent to start it");
            await ChangeWait.ForChangeAsync(backend, backend.Cadence?.WatchInterval(clock.Elapsed) ?? StartPoll, cancellationToken).ConfigureAwait(false);
            if (cancellationToken.IsCancellationRequested) yield break;
            current = await backend.GetJobAsync(job.Id, cancellationToken).ConfigureAwait(false) ?? current;
        }
        EngineLog.Verbose(Source, () => $"reading {Printable.Quote(path)}" + (tail is { } n ? $", last {n} line(s)" : "") + (follow ? ", following until the job ends" : ""));
        if (tail is { } count)
        {
            // Read from the end: a tail costs what it returns, however large the log.
            foreach (var line in JobLog.ReadTail(path, count)) yield return line;
        }
        else
        {
            foreach (var file in JobLog.Files(path).Where(f => f != path))
            {
                foreach (var line in ReadLines(file)) yield return line;
            }
        }
        var stream = OpenShared(path);
        var reader = new StreamReader(stream, Encoding.UTF8);
        try
        {
            if (tail is not null) stream.Seek(0, SeekOrigin.End);
            else
            {
                while (reader.ReadLine() is { } line) yield return line;
            }
            if (!follow) yield break;
            var partial = new StringBuilder();
            // The file is read every FollowPoll; the job's state (a backend read, requests on a W&B server) at its cadence.
            var sinceRead = System.Diagnostics.Stopwatch.StartNew();
            while (!cancellationToken.IsCancellationRequested)
            {
                var text = reader.ReadToEnd();
                var lines = new List<string>();
                foreach (var ch in text)
                {
                    if (ch == '\n')
                    {
                        lines.Add(partial.ToString().TrimEnd('\r'));
                        partial.Clear();
                    }
                    else
                    {
                        partial.Append(ch);
                    }
                }
                foreach (var line in lines) yield return line;
                if (text.Length > 0) continue;
                if (WasRotated(path, stream))
                {
                    // The log reached its size cap and was moved to <log>.1: follow the new one from its start.
                    EngineLog.Verbose(Source, () => $"{Printable.Quote(path)} was rotated: following the new file");
                    reader.Dispose();
                    stream = OpenShared(path);
                    reader = new StreamReader(stream, Encoding.UTF8);
                    continue;
                }
                if (current.State.IsTerminal())
                {
                    EngineLog.Verbose(Source, () => $"job {Printable.Escape(current.Id)} ended ({current.State}): the log is complete");
                    break;
                }
                if (!await PauseAsync(FollowPoll, cancellationToken).ConfigureAwait(false)) break;
                if (backend.Cadence is { } cadence && sinceRead.Elapsed < cadence.WatchInterval(clock.Elapsed)) continue;
                current = await backend.GetJobAsync(job.Id, cancellationToken).ConfigureAwait(false) ?? current;
                sinceRead.Restart();
            }
            if (partial.Length > 0) yield return partial.ToString();
        }
        finally
        {
            reader.Dispose();
        }
    }

    private const string Source = "log";

    /// <summary>The error for a job whose log is not on this host, saying where its output is.</summary>
    public static LaunchException NotOnThisHost(LaunchJob job, string logDirectory, string elsewhere) => new("JobLogNotOnHost", LaunchErrorCategory.ObjectNotFound,
        $"Job {Printable.Quote(job.Id)} ({job.State}) has no log on this host (in {Printable.Quote(logDirectory)}): an agent on another host ran it. " +
        $"Its output is in {elsewhere}.", job.Id);

    /// <summary>False when cancelled.</summary>
    private static async Task<bool> PauseAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static IEnumerable<string> ReadLines(string file)
    {
        using var stream = OpenShared(file);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        while (reader.ReadLine() is { } line) yield return line;
    }

    private static FileStream OpenShared(string path) => new(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);

    /// <summary>Whether the file now at <paramref name="path"/> is a new one, shorter than what was read of the old.</summary>
    private static bool WasRotated(string path, FileStream reading)
    {
        try
        {
            return File.Exists(path) && new FileInfo(path).Length < reading.Position;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
