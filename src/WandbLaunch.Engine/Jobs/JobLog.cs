using System.Text;

namespace WandbLaunch.Engine.Jobs;

/// <summary>
/// A job's log file: the agent's notes and the job's own output, line by line, readable while it is written.
/// Known secrets are replaced by <c>***</c> before anything reaches the file. The last lines are kept in memory
/// for failure messages.
/// </summary>
public sealed class JobLog : IDisposable
{
    private const int TailLines = 20;
    private readonly object _lock = new();
    private readonly StreamWriter _writer;
    private readonly Queue<string> _tail = new();
    private readonly IReadOnlyList<string> _secrets;

    public JobLog(string path, IEnumerable<string?> secrets)
        : this(path, OpenAppend(path), secrets)
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

    private static FileStream OpenAppend(string path)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        return new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
    }

    public string Path { get; }

    /// <summary>A line of the job's own output.</summary>
    public void Output(string line) => Write(line, remember: true);

    /// <summary>A line from the agent about the job (prefixed so users can tell them apart).</summary>
    public void Agent(string line) => Write("[agent] " + line, remember: false);

    private void Write(string line, bool remember)
    {
        foreach (var secret in _secrets) line = line.Replace(secret, "***", StringComparison.Ordinal);
        lock (_lock)
        {
            _writer.WriteLine(line);
            if (!remember) return;
            _tail.Enqueue(line);
            if (_tail.Count > TailLines) _tail.Dequeue();
        }
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
