using System.Collections.Concurrent;
using System.Reflection;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.TestSupport;

/// <summary>
/// A backend that passes every call to a real one and records each launch job's ends as they are written
/// (<c>FinishAsync</c>, <c>RequeueAsync</c>, <c>ReleaseAsync</c> that succeeded), so that tests can assert a job's end
/// was written once; its heartbeats can be held back, as when an agent's process stalls.
/// </summary>
public class BackendSpy : DispatchProxy
{
    private static readonly string[] EndWrites = [nameof(ILaunchBackend.FinishAsync), nameof(ILaunchBackend.RequeueAsync), nameof(ILaunchBackend.ReleaseAsync)];

    private ILaunchBackend _inner = null!;

    /// <summary>The ends written, in order: (method, launch job id).</summary>
    public ConcurrentQueue<(string Method, string JobId)> Ends { get; } = new();

    /// <summary>While set, a heartbeat waits for it first.</summary>
    public Task? HeartbeatGate { get; set; }

    public static (ILaunchBackend Backend, BackendSpy Spy) Wrap(ILaunchBackend inner)
    {
        var proxy = Create<ILaunchBackend, BackendSpy>();
        var spy = (BackendSpy)(object)proxy;
        spy._inner = inner;
        return (proxy, spy);
    }

    /// <summary>The ends written for one launch job.</summary>
    public IReadOnlyList<string> EndsOf(string jobId) => Ends.Where(e => e.JobId == jobId).Select(e => e.Method).ToList();

    protected override object? Invoke(MethodInfo? method, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(method);
        if (method.Name == nameof(ILaunchBackend.HeartbeatAsync) && HeartbeatGate is { } gate) return Gated(gate, method, args);
        var result = Call(method, args);
        return EndWrites.Contains(method.Name) ? Recorded((Task)result!, method.Name, (string)args![0]!) : result;
    }

    private object? Call(MethodInfo method, object?[]? args)
    {
        try
        {
            return method.Invoke(_inner, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }

    private async Task Recorded(Task write, string method, string jobId)
    {
        await write.ConfigureAwait(false);
        Ends.Enqueue((method, jobId));
    }

    private async Task<Heartbeat> Gated(Task gate, MethodInfo method, object?[]? args)
    {
        await gate.ConfigureAwait(false);
        return await ((Task<Heartbeat>)Call(method, args)!).ConfigureAwait(false);
    }
}
