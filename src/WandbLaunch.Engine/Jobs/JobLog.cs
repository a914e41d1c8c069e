using System.Text;

namespace WandbLaunch.Engine.Jobs;

/// <summary>
/// A job's log file: the agent's notes and the job's own output, line by line, readable while it is written.
/// Known secrets are replaced by <c>***</c> before anything reaches the file. The last lines are kept in memory
/// for failure messages. When a note follows output, the time of that output is saved beside the log
/// (<c>&lt;log&gt;.cursor</c>), so that an agent that re-attaches to the job knows from when to read its output again
/// (<see cref="LastOutputUtc"/>) even if notes were written after it.
/// </summary>
public sealed class JobLog : IDisposable
{
    private const int TailLines = 20;
    private readonly object _lock = new();
    private readonly StreamWriter _writer;
    private readonly Queue<string> _tail = new();
    private readonly IReadOnlyList<string> _secrets;
    private DateTime? _unsavedOutputAt;

    /// <param name="path">The log file.</param>
    /// <param name="secrets">Values replaced by <c>***</c>.</param>
    /// <param name="maxBytes">The most the log (with its rotated part) keeps; null for <see cref="CappedLogStream.DefaultMaxBytes"/>.</param>
    public JobLog(string path, IEnumerable<string?> secrets, long? maxBytes = null)
        : this(path, OpenAppend(path, maxBytes ?? CappedLogStream.DefaultMaxBytes), secrets)
    {
    }

    private JobLog(string path, Stream stream, IEnumerable<string?> secrets)
    {
        Path = path;
        _writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true };
        _secrets = secrets.Where(s => !string.IsNullOrEmpty(s) && s.Length >= 4).Select(s => s!).ToList();
    }

    /// <summary>A log that keeps nothing, for rendering a job without running it.</summary>
    public static JobLog Discard() => new("(none)", Stream.Null, []);

    private static Stream OpenAppend(string path, long maxBytes)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        return new CappedLogStream(path, maxBytes);
    }

    public string Path { get; }

    /// <summary>A line of the job's own output.</summary>
    public void Output(string line) => Write(line, output: true);

    /// <summary>A line from the agent about the job (prefixed so users can tell them apart).</summary>
    public void Agent(string line) => Write(AgentPrefix + line, output: false);

    private const string AgentPrefix = "[agent] ";

    private string CursorPath => Path + ".cursor";

    private void Write(string line, bool output)
    {
        foreach (var secret in _secrets) line = line.Replace(secret, "***", StringComparison.Ordinal);
        lock (_lock)
        {
            if (!output && _unsavedOutputAt is { } outputAt)
            {
                // The note moves the file's write time past the output: keep when the output was written.
                SaveCursor(outputAt);
                _unsavedOutputAt = null;
            }
            _writer.WriteLine(line);
            if (!output) return;
            _unsavedOutputAt = DateTime.UtcNow;
            _tail.Enqueue(line);
            if (_tail.Count > TailLines) _tail.Dequeue();
        }
    }

    private void SaveCursor(DateTime outputAt)
    {
        if (_writer.BaseStream == Stream.Null) return;
        try
        {
            File.WriteAllText(CursorPath, outputAt.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture));
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

    public void Dispose()
    {
        lock (_lock) _writer.Dispose();
    }
}
