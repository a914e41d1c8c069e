using WandbLaunch.Engine.Agent.Runs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Agent;

/// <summary>
/// Takes launch jobs from the agent's queues while it has room under max_jobs: round-robin over the queues, each pop
/// by the queue's own order (priority, then first in first out), and hands each to a new <see cref="JobRun"/>. A queue
/// that is removed is dropped from the round, with one warning.
/// </summary>
internal sealed class Dispatcher(AgentContext agent, IReadOnlyList<QueueKey> queues)
{
    private readonly List<QueueKey> _queues = [.. queues];
    private readonly HashSet<string> _removed = [];
    private int _next;

    /// <summary>The queues still served.</summary>
    public IReadOnlyList<QueueKey> Queues => _queues;

    /// <summary>Pops until the agent is full or every queue is empty; false when no queue is left to serve.</summary>
    public async Task<bool> FillAsync(CancellationToken cancellationToken)
    {
        while (agent.HasCapacity && !cancellationToken.IsCancellationRequested && _queues.Count > 0)
        {
            LaunchJob? job = null;
            for (var i = 0; i < _queues.Count && job is null; i++)
            {
                var index = (_next + i) % _queues.Count;
                try
                {
                    job = await agent.Backend.PopAsync(agent.Id!, _queues[index], agent.Options.Lease, cancellationToken).ConfigureAwait(false);
                }
                catch (QueueNotFoundException)
                {
                    Removed(index);
                    i--;
                    continue;
                }
                if (job is not null) _next = (index + 1) % _queues.Count;
            }
            if (job is null)
            {
                AgentContext.Debug(() => $"polled {string.Join(", ", _queues.Select(q => q.Name))}: nothing to take");
                break;
            }
            AgentContext.Verbose($"popped {job.Id} from queue {job.Queue} (priority {job.Priority}, run id {job.RunId})");
            agent.Jobs.Start(new JobRun(agent, job));
        }
        return _queues.Count > 0;
    }

    /// <summary>One of the agent's queues is gone: it keeps serving the others, and says so once.</summary>
    private void Removed(int index)
    {
        var key = _queues[index];
        _queues.RemoveAt(index);
        if (!_removed.Add(key.Name)) return;
        agent.Report(AgentEventKind.Warning, _queues.Count == 0
            ? $"Queue {key.Name} was removed from {key.Entity}/{key.Project}; it was the agent's last queue, so the agent stops"
            : $"Queue {key.Name} was removed from {key.Entity}/{key.Project}; the agent keeps serving {string.Join(", ", _queues.Select(k => k.Name))}", queue: key.Name);
    }
}
