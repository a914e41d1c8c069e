namespace WandbLaunch.Engine.Storage.Wandb;

/// <summary>
/// A download's body that fails at the first byte past <c>maxBytes</c>: a host that sends more than the manifest
/// promised is refused, not written to disk. An asynchronous read that gets nothing for <c>idle</c> fails with
/// <c>stalled</c>. Disposing it disposes the HTTP response it reads from.
/// </summary>
internal sealed class BoundedReadStream(Stream inner, long maxBytes, IDisposable owner, Func<Exception> tooLarge, TimeSpan idle, Func<Exception> stalled) : Stream
{
    private long _read;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _read;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        // One byte more than allowed is asked for, so that an over-long body is seen even when it ends right there.
        var n = inner.Read(buffer[..Allowed(buffer.Length)]);
        return Count(n);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(idle);
        try
        {
            var n = await inner.ReadAsync(buffer[..Allowed(buffer.Length)], timeout.Token).ConfigureAwait(false);
            return Count(n);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw stalled();
        }
    }

    private int Allowed(int length) => (int)Math.Min(length, Math.Max(1, maxBytes - _read + 1));

    private int Count(int n)
    {
        _read += n;
        if (_read > maxBytes) throw tooLarge();
        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            owner.Dispose();
        }
        base.Dispose(disposing);
    }
}
