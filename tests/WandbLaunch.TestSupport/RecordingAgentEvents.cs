using System.Collections;
using System.Collections.Concurrent;
using WandbLaunch.Engine.Agent;

namespace WandbLaunch.TestSupport;

/// <summary>An agent's event sink that keeps every event reported to it, in order, for tests to look at.</summary>
public sealed class RecordingAgentEvents : IAgentEvents, IEnumerable<AgentEvent>
{
    private readonly ConcurrentQueue<AgentEvent> _events = new();

    public void Report(AgentEvent agentEvent) => _events.Enqueue(agentEvent);

    /// <summary>A snapshot of the events reported so far.</summary>
    public IReadOnlyList<AgentEvent> All => _events.ToArray();

    public bool Any(Func<AgentEvent, bool> predicate) => _events.Any(predicate);

    public IEnumerator<AgentEvent> GetEnumerator() => _events.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => string.Join("\n", _events.Select(e => $"{e.Kind}: {e.Message}"));
}
