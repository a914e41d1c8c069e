using System.Collections.Concurrent;

namespace WandbLaunch.Engine.Diagnostics;

/// <summary>
/// A sink for a caller that may only write on one thread (a cmdlet writes Verbose and Debug records on its pipeline
/// thread alone): engine code reports from any thread into the queue, and the owning thread hands the messages on,
/// in the order they came, while it waits for the engine (<see cref="Pump"/>) and after (<see cref="Drain"/>).
/// At most <see cref="Capacity"/> messages wait; more are counted and dropped, and once the owner is done
/// (<see cref="Close"/>) work that outlives it (an agent started with -AsJob) reports nothing here.
/// </summary>
public sealed class DiagnosticQueue : IDiagnosticSink
{
    /// <summary>Messages that may wait before new ones are dropped.</summary>
    public const int Capacity = 10_000;

    private readonly ConcurrentQueue<(DiagnosticLevel Level, string Source, string Message)> _messages = new();
    private readonly ManualResetEventSlim _arrived = new(false);
    private readonly bool _verbose;
    private readonly bool _debug;
    private int _count;
    private int _dropped;
    private volatile bool _closed;

    public DiagnosticQueue(bool verbose, bool debug)
    {
        _verbose = verbose;
        _debug = debug;
    }

    /// <inheritdoc />
    public bool IsEnabled(DiagnosticLevel level) => !_closed && (level == DiagnosticLevel.Debug ? _debug : _verbose);

    /// <inheritdoc />
    public void Write(DiagnosticLevel level, string source, string message)
    {
        if (!IsEnabled(level)) return;
        if (Interlocked.Increment(ref _count) > Capacity)
        {
            Interlocked.Decrement(ref _count);
            Interlocked.Increment(ref _dropped);
            return;
        }
        _messages.Enqueue((level, source, message));
        _arrived.Set();
    }

    /// <summary>
    /// Waits for <paramref name="task"/> on the calling thread, handing each message to <paramref name="write"/> as it
    /// arrives, then the rest once the task is done. Returns when the task completes (it does not observe its result).
    /// </summary>
    public void Pump(Task task, Action<DiagnosticLevel, string, string> write)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (!task.IsCompleted)
        {
            var handles = new[] { ((IAsyncResult)task).AsyncWaitHandle, _arrived.WaitHandle };
            while (!task.IsCompleted)
            {
                WaitHandle.WaitAny(handles);
                Drain(write);
            }
        }
        Drain(write);
    }

    /// <summary>Hands every waiting message to <paramref name="write"/> on the calling thread, oldest first.</summary>
    public void Drain(Action<DiagnosticLevel, string, string> write)
    {
        // Reset before reading: a message enqueued after this sets the event again, so none waits unseen.
        _arrived.Reset();
        var dropped = Interlocked.Exchange(ref _dropped, 0);
        if (dropped > 0)
        {
            write(DiagnosticLevel.Verbose, "diagnostics", $"{dropped} message(s) were dropped: more than {Capacity} were waiting to be written.");
        }
        while (_messages.TryDequeue(out var m))
        {
            Interlocked.Decrement(ref _count);
            write(m.Level, m.Source, m.Message);
        }
    }

    /// <summary>
    /// The owner is done: later reports are not wanted (and not kept). The event is left to the finalizer, as work
    /// on another thread may still be signalling it.
    /// </summary>
    public void Close()
    {
        _closed = true;
        while (_messages.TryDequeue(out _)) Interlocked.Decrement(ref _count);
    }
}
