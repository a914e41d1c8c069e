using System.Text;

namespace WandbLaunch.Engine.Jobs;

/// <summary>
/// The file stream under a job log, kept under a size cap: when the log would pass half the cap it is renamed to
/// <c>&lt;log&gt;.1</c> (replacing an older one) and a new log is started, so the two together never hold more than the
/// cap and always hold the newest output. A write the disk refuses (full disk, quota) is dropped rather than
/// thrown at the job's output pump, which would otherwise stop reading and block the job; once writing works again a
/// note says how much was lost and why.
/// </summary>
internal sealed class CappedLogStream : Stream
{
    public const string MaxBytesVariable = "WANDB_LAUNCH_MAX_LOG_BYTES";

    /// <summary>The default cap on one job's log (its file plus the rotated <c>.1</c>): 100 MiB.</summary>
    public const long DefaultMaxBytes = 100L * 1024 * 1024;

    /// <summary>The smallest cap accepted, so that a rotated part still holds a useful tail.</summary>
    public const long MinMaxBytes = 64 * 1024;

    private readonly string _path;
    private readonly long _partBytes;
    private FileStream _file;
    private long _droppedBytes;
    private string? _dropReason;
    private bool _brokenLine;

    public CappedLogStream(string path, long maxBytes)
    {
        _path = path;
        _partBytes = Math.Max(MinMaxBytes, maxBytes) / 2;
        _file = Open(path);
    }

    /// <summary>The rotated older part of the log at <paramref name="path"/>.</summary>
    public static string RotatedPath(string path) => path + ".1";

    /// <summary>The cap from <see cref="MaxBytesVariable"/> (bytes; suffixes K, M, G for KiB, MiB, GiB), else the default.</summary>
    public static long ParseMaxBytes(Func<string, string?> environment)
    {
        var text = environment(MaxBytesVariable)?.Trim();
        if (string.IsNullOrEmpty(text)) return DefaultMaxBytes;
        if (!Text.ByteSize.TryParse(text, out var bytes) || bytes < MinMaxBytes)
        {
            throw Errors.LaunchException.Invalid("InvalidMaxLogBytes",
                $"{MaxBytesVariable} is '{text}'; it must be a whole number of bytes of at least {MinMaxBytes} (64K), optionally with a K, M or G suffix (e.g. 100M).",
                text);
        }
        return bytes;
    }

    // Unbuffered: every write reaches the file at once (readers follow it), and a refused one fails where it is made.
    private static FileStream Open(string path) =>
        FileSystem.PrivateFiles.OpenAppend(path, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (buffer.Length > _partBytes)
        {
            // One line longer than a part: keep its end, which is what a reader of the newest output wants.
            buffer = buffer[^(int)_partBytes..];
        }
        long before = -1;
        try
        {
            if (_file.Length + buffer.Length > _partBytes) Rotate();
            before = _file.Length;
            if (_droppedBytes > 0)
            {
                // A refused write may have left part of a line: the note starts on a line of its own.
                var note = $"{(_brokenLine ? "\n" : "")}[agent] {_droppedBytes} bytes of output were not written to this log: {_dropReason}\n";
                _file.Write(Encoding.UTF8.GetBytes(note));
                _droppedBytes = 0;
                _brokenLine = false;
                before = _file.Length;
            }
            _file.Write(buffer);
        }
        catch (IOException e)
        {
            _droppedBytes += buffer.Length;
            _dropReason = e.Message;
            try
            {
                _brokenLine |= before >= 0 && new FileInfo(_path).Length != before;
            }
            catch (IOException)
            {
            }
            try
            {
                // A failed write may leave bytes buffered in the FileStream; drop them with the write.
                _file.Dispose();
            }
            catch (IOException)
            {
            }
            _file = Open(_path);
        }
    }

    private void Rotate()
    {
        _file.Dispose();
        File.Move(_path, RotatedPath(_path), overwrite: true);
        _file = Open(_path);
    }

    public override void Flush()
    {
        try
        {
            _file.Flush();
        }
        catch (IOException e)
        {
            _dropReason = e.Message;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            try
            {
                _file.Dispose();
            }
            catch (IOException)
            {
                // Nothing more can be kept of a log the disk refuses.
            }
        }
        base.Dispose(disposing);
    }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
