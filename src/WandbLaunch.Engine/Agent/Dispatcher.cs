using WandbLaunch.Engine.Agent.Runs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Agent;

/// <summary>
/// Takes launch jobs from the agent's queues while it has room under max_jobs: round-robin over the queues, each pop
/// by the queue's own order (priority, then first in first out), and hands each to a new <see cref="JobRun"/>. A queue
/// that is removed is dropped from the round, with one warning. On a backend with a change signal it pops whenever
/// the agent's loop wakes; on one without (W&amp;B), only when a poll is due by the backend's <see cref="Storage.PollCadence"/>:
/// soon after work, rarely when idle.
/// </summary>
internal sealed class Dispatcher(AgentContext agent, IReadOnlyList<QueueKey> queues)
{
    private readonly List<QueueKey> _queues = [.. queues];
    private readonly HashSet<string> _removed = [];
    private int _next;

    // The agent's start counts as work: a push that came with starting it is taken within the fast polls.
    private DateTime _lastWork = DateTime.UtcNow;
    private DateTime _nextPoll = DateTime.UtcNow;

    /// <summary>
    /// How long the agent may wait before it must poll: its polling interval on a backend with a change signal (a
    /// change wakes it sooner); otherwise until the cadence's next poll, or indefinitely while it is full.
    /// </summary>
    public TimeSpan UntilNextPoll =>
        agent.Cadence is null ? agent.Options.PollingInterval
        : !agent.HasCapacity ? TimeSpan.MaxValue
        : _nextPoll > DateTime.UtcNow ? _nextPoll - DateTime.UtcNow : TimeSpan.Zero;

    /// <summary>A launch job ended: room again, and another push is likely soon, so the next polls come fast.</summary>
    public void JobEnded()
    {
        _lastWork = DateTime.UtcNow;
        _nextPoll = _lastWork;
    }

    /// <summary>The queues still served.</summary>
    public IReadOnlyList<QueueKey> Queues => _queues;

    /// <summary>Pops until the agent is full or every queue is empty; false when no queue is left to serve.</summary>
    public async Task<bool> FillAsync(CancellationToken cancellationToken)
    {
        var cadence = agent.Cadence;
        if (cadence is not null && (DateTime.UtcNow < _nextPoll || !agent.HasCapacity)) return _queues.Count > 0;
        await PopWhileRoomAsync(cancellationToken).ConfigureAwait(false);
        if (cadence is not null)
        {
            var now = DateTime.UtcNow;
            _nextPoll = now + cadence.PollInterval(now - _lastWork);
        }
        return _queues.Count > 0;
    }

    private async Task PopWhileRoomAsync(CancellationToken cancellationToken)
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
            _lastWork = DateTime.UtcNow;
            agent.Jobs.Start(new JobRun(agent, job));
        }
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
