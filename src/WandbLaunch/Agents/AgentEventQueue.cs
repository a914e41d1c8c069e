using System.Collections.Concurrent;
using WandbLaunch.Engine.Agent;

namespace WandbLaunch.Agents;

/// <summary>Collects agent events from worker threads so the pipeline thread can write them.</summary>
internal sealed class AgentEventQueue : IAgentEvents, IDisposable
{
    private readonly BlockingCollection<AgentEvent> _events = new();

    public void Report(AgentEvent agentEvent)
    {
        try
        {
            _events.Add(agentEvent);
        }
        catch (InvalidOperationException)
        {
            // Completed: the cmdlet stopped reading.
        }
    }

    public void Complete() => _events.CompleteAdding();

    public IEnumerable<AgentEvent> Read(CancellationToken cancellationToken) => _events.GetConsumingEnumerable(cancellationToken);

    public void Dispose() => _events.Dispose();
}
