using System.Text;

namespace WandbLaunch.Engine.Jobs;

/// <summary>
/// Reads the last lines of a job log from its end, in blocks, so that the cost follows the lines asked for, not the
/// log's size; when the current log holds fewer, the rotated older part (<c>&lt;log&gt;.1</c>) supplies the rest.
/// </summary>
internal static class LogTail
{
    private const int BlockSize = 64 * 1024;

    /// <summary>The last <paramref name="count"/> lines of the log at <paramref name="path"/> and its rotated part, oldest first.</summary>
    public static IReadOnlyList<string> Read(string path, int count)
    {
        if (count <= 0) return [];
        var lines = ReadFile(path, count, out var bytesRead);
        if (lines.Count < count)
        {
            var older = ReadFile(CappedLogStream.RotatedPath(path), count - lines.Count, out var olderBytes);
            bytesRead += olderBytes;
            lines.InsertRange(0, older);
        }
        LastBytesRead = bytesRead;
        return lines;
    }

    /// <summary>How many bytes the last <see cref="Read"/> on this thread read (for tests that it reads only the end).</summary>
    [ThreadStatic]
    internal static long LastBytesRead;

    private static List<string> ReadFile(string path, int count, out long bytesRead)
    {
        bytesRead = 0;
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return [];
        }
        using (stream)
        {
            var end = stream.Length;
            var start = end;
            var newlines = 0;
            var buffer = new byte[BlockSize];
            // Walk back until count + 1 newlines are seen (the last one may end the final line) or the file starts.
            while (start > 0 && newlines <= count)
            {
                var size = (int)Math.Min(BlockSize, start);
                start -= size;
                stream.Seek(start, SeekOrigin.Begin);
                stream.ReadExactly(buffer, 0, size);
                bytesRead += size;
                for (var i = size - 1; i >= 0; i--)
                {
                    if (buffer[i] != (byte)'\n') continue;
                    if (start + i == end - 1) continue; // the newline that ends the last line
                    if (++newlines > count - 1)
                    {
                        start += i + 1;
                        goto found;
                    }
                }
            }
        found:
            stream.Seek(start, SeekOrigin.Begin);
            var bytes = new byte[end - start];
            stream.ReadExactly(bytes);
            if (bytes.Length == 0) return [];
            var text = Encoding.UTF8.GetString(bytes);
            if (text.EndsWith('\n')) text = text[..^1];
            return text.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        }
    }
}
