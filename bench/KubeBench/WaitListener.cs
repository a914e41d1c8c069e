using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace KubeBench;

/// <summary>
/// Diagnosis aid (KUBEBENCH_WAITS=1 in the agent's environment): records the managed stack of every synchronous wait
/// on a Task (Task.Wait, .Result, GetAwaiter().GetResult() on an unfinished task) that TplEventSource reports, and
/// writes the most frequent stacks at exit. A thread-pool thread blocked that way is a thread the agent's async
/// work cannot use.
/// </summary>
internal sealed class WaitListener : EventListener
{
    private readonly ConcurrentDictionary<string, int> _stacks = new();
    private volatile bool _ready;

    public WaitListener() => _ready = true;

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "System.Threading.Tasks.TplEventSource") EnableEvents(source, EventLevel.Informational, (EventKeywords)0x3);
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        // TaskWaitBegin (id 10); its Behavior payload is 1 for a synchronous wait.
        if (!_ready || e.EventId != 10 || e.Payload is not { Count: >= 4 } payload || Convert.ToInt32(payload[3], System.Globalization.CultureInfo.InvariantCulture) != 1) return;
        var stack = string.Join('\n', Environment.StackTrace.Split('\n').Skip(4).Take(25));
        _stacks.AddOrUpdate(stack, 1, (_, n) => n + 1);
    }

    public IEnumerable<string> Report() =>
        _stacks.OrderByDescending(p => p.Value).Take(8).Select(p => $"--- {p.Value} synchronous waits at:\n{p.Key}");
}
