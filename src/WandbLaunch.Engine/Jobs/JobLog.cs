using System.Text;
using WandbLaunch.Engine.FileSystem;
using WandbLaunch.Engine.Secrets;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Jobs;

/// <summary>
/// A job's log file: the agent's notes and the job's own output, line by line, readable while it is written.
/// Known secrets are replaced by <c>***</c> before anything reaches the file. The last lines are kept in memory
/// for failure messages. When a note follows output, the time of that output is saved beside the log
/// (<c>&lt;log&gt;.cursor</c>), so that an agent that re-attaches to the job knows from when to read its output again
/// (<see cref="LastOutputUtc"/>) even if notes were written after it.
/// Output lines are written to the file in batches of whole lines (at most <see cref="BatchBytes"/>, at least every
/// <see cref="FlushInterval"/>): a job printing millions of lines would otherwise cost a system call per line and fall
/// behind its own output. Notes are written at once. The flush timer is armed only while output waits in memory, so
/// that a quiet job (most of the 200 an agent may run) costs no wake-ups.
/// </summary>
public sealed class JobLog : IDisposable
{
    private const int TailLines = 20;
    private readonly object _lock = new();
    private const int BatchBytes = 16 * 1024;
    private static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(200);
    private static readonly UTF8Encoding Utf8 = new(false);
    private readonly Stream _stream;
    private readonly MemoryStream _batch = new();
    private readonly Timer? _flushTimer;
    private bool _flushArmed;
    private bool _disposed;
    private readonly Queue<string> _tail = new();
    private readonly SecretRedactor _secrets;
    private DateTime? _unsavedOutputAt;

    public JobLog(string path, IEnumerable<string?> secrets, long? maxBytes = null)
        : this(path, SecretRedactor.Of(secrets), maxBytes)
    {
    }

    /// <param name="path">The log file, created 0600 (its folder 0700) on Unix.</param>
    /// <param name="secrets">Every secret value in play: replaced by <c>***</c> wherever it occurs in a line.</param>
    /// <param name="maxBytes">The most the log (with its rotated part) keeps; null for <see cref="CappedLogStream.DefaultMaxBytes"/>.</param>
    public JobLog(string path, SecretRedactor secrets, long? maxBytes = null)
        : this(path, OpenAppend(path, maxBytes ?? CappedLogStream.DefaultMaxBytes), secrets)
    {
    }

    private JobLog(string path, Stream stream, SecretRedactor secrets)
    {
        Path = path;
        _stream = stream;
        _secrets = secrets;
        if (stream != Stream.Null) _flushTimer = new Timer(_ => FlushBatch(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>A log that keeps nothing, for rendering a job without running it.</summary>
    public static JobLog Discard() => new("(none)", Stream.Null, SecretRedactor.None);

    private static Stream OpenAppend(string path, long maxBytes)
    {
        // A new folder is made private; an existing one is the agent's to tighten (LaunchAgent does, for its logs folder).
        PrivateFiles.EnsureDirectory(System.IO.Path.GetDirectoryName(path)!, tightenExisting: false);
        return new CappedLogStream(path, maxBytes);
    }

    public string Path { get; }

    /// <summary>A line of the job's own output.</summary>
    public void Output(string line) => Write(line, output: true);

    /// <summary>
    /// A line from the agent about the job (prefixed so users can tell them apart). Control characters in it (from
    /// the values it names) are escaped (<see cref="Printable.EscapeControls"/>): a note is always one plain line.
    /// The job's own output is kept as the job wrote it.
    /// </summary>
    public void Agent(string line) => Write(AgentPrefix + Printable.EscapeControls(line), output: false);

    private const string AgentPrefix = "[agent] ";

    private string CursorPath => Path + ".cursor";

    private void Write(string line, bool output)
    {
        line = _secrets.Redact(line);
        lock (_lock)
        {
            if (!output && _unsavedOutputAt is { } outputAt)
            {
                // The note moves the file's write time past the output: keep when the output was written.
                SaveCursor(outputAt);
                _unsavedOutputAt = null;
            }
            if (_disposed) throw new ObjectDisposedException(nameof(JobLog));
            var bytes = Utf8.GetByteCount(line) + 1;
            if (_batch.Length + bytes > BatchBytes) WriteBatch();
            var start = (int)_batch.Length;
            _batch.SetLength(start + bytes);
            var written = Utf8.GetBytes(line, _batch.GetBuffer().AsSpan(start));
            _batch.GetBuffer()[start + written] = (byte)'\n';
            if (!output)
            {
                WriteBatch();
                return;
            }
            _unsavedOutputAt = DateTime.UtcNow;
            if (!_flushArmed && _flushTimer is not null)
            {
                _flushArmed = true;
                _flushTimer.Change(FlushInterval, Timeout.InfiniteTimeSpan);
            }
            _tail.Enqueue(line);
            if (_tail.Count > TailLines) _tail.Dequeue();
        }
    }

    private void SaveCursor(DateTime outputAt)
    {
        if (_stream == Stream.Null) return;
        try
        {
            PrivateFiles.WriteAllText(CursorPath, outputAt.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Only a re-attaching agent reads it, and it falls back on the log's write time.
        }
    }

    /// <summary>
    /// When the job's output was last written to the log at <paramref name="path"/>: the log's write time, unless
    /// the agent wrote notes after the output, in which case the saved cursor. Null when there is no log.
    /// </summary>
    public static DateTime? LastOutputUtc(string path)
    {
        if (!File.Exists(path)) return null;
        var written = File.GetLastWriteTimeUtc(path);
        if (LastLine(path)?.StartsWith(AgentPrefix, StringComparison.Ordinal) != true) return written;
        try
        {
            return long.TryParse(File.ReadAllText(path + ".cursor"), out var ticks) ? new DateTime(ticks, DateTimeKind.Utc) : written;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return written;
        }
    }

    /// <summary>Deletes a job's log and its cursor (missing ones are fine).</summary>
    public static void Delete(string path)
    {
        File.Delete(path);
        File.Delete(path + ".cursor");
        File.Delete(CappedLogStream.RotatedPath(path));
    }

    /// <summary>The last <paramref name="lines"/> lines of the log at <paramref name="path"/>, read from its end.</summary>
    public static IReadOnlyList<string> ReadTail(string path, int lines) => LogTail.Read(path, lines);

    /// <summary>Every file of the log at <paramref name="path"/>, oldest first: its rotated part, if any, then the log.</summary>
    public static IEnumerable<string> Files(string path) =>
        new[] { CappedLogStream.RotatedPath(path), path }.Where(File.Exists);

    private static string? LastLine(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var length = stream.Length;
        if (length == 0) return null;
        var size = (int)Math.Min(length, 64 * 1024);
        stream.Seek(-size, SeekOrigin.End);
        var buffer = new byte[size];
        stream.ReadExactly(buffer);
        var text = Encoding.UTF8.GetString(buffer).TrimEnd('\n', '\r');
        var newline = text.LastIndexOf('\n');
        return newline < 0 ? text : text[(newline + 1)..];
    }

    /// <summary>The last lines of the job's output (not the agent's notes).</summary>
    public IReadOnlyList<string> Tail()
    {
        lock (_lock) return _tail.ToList();
    }

    /// <summary>
    /// Why a job whose <paramref name="what"/> (process, container) exited with <paramref name="code"/> failed: its last
    /// output line on the first line (where only one line is shown), then its last ten lines when it wrote more than one.
    /// </summary>
    public string ExitFailure(string what, int code)
    {
        var tail = Tail();
        if (tail.Count == 0) return $"The {what} exited with code {code} and wrote no output.";
        var summary = $"The {what} exited with code {code}; its last output: {tail[^1]}";
        return tail.Count == 1 ? summary : summary + "\n" + string.Join('\n', tail.TakeLast(10));
    }

    /// <summary>
    /// <paramref name="message"/> (why a job on a cluster or cloud service failed) followed by the job's last ten output
    /// lines, when it wrote any.
    /// </summary>
    public string WithLastOutput(string message)
    {
        var tail = Tail();
        return tail.Count == 0 ? message : message + "\nIts last output:\n" + string.Join('\n', tail.TakeLast(10));
    }

    /// <summary>Writes the output lines still batched in memory to the file now.</summary>
    public void Flush() => FlushBatch();

    private void FlushBatch()
    {
        lock (_lock)
        {
            _flushArmed = false;
            if (!_disposed) WriteBatch();
        }
    }

    // Under _lock. Whole lines only, so that a rotation of the capped file never splits a line.
    private void WriteBatch()
    {
        if (_batch.Length == 0) return;
        _stream.Write(_batch.GetBuffer(), 0, (int)_batch.Length);
        _batch.SetLength(0);
    }

    public void Dispose()
    {
        _flushTimer?.Dispose();
        lock (_lock)
        {
            if (_disposed) return;
            try
            {
                WriteBatch();
            }
            finally
            {
                _disposed = true;
                _stream.Dispose();
            }
        }
    }
}
