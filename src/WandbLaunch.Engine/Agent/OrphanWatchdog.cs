using WandbLaunch.Engine.Agent.Runs;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Engine.Agent;

/// <summary>
/// Claims the launch jobs whose agent died or left them (their lease ran out) on the agent's queues: when it starts,
/// then once per lease period. Each is re-attached through the handle its runner recorded and followed by a new
/// <see cref="JobRun"/>; one that cannot be re-attached goes back on its queue if it never reached its target, and
/// is failed (stage agent) otherwise.
/// </summary>
internal sealed class OrphanWatchdog(AgentContext agent)
{
    private DateTime _next = DateTime.MinValue;

    public async Task ClaimIfDueAsync(IReadOnlyList<QueueKey> queues, CancellationToken cancellationToken)
    {
        if (DateTime.UtcNow < _next) return;
        await ClaimAsync(queues, abandoned: false, cancellationToken).ConfigureAwait(false);
        if (agent.Options.Direct is { } direct)
        {
            await ClaimAsync(await AbandonedDirectQueuesAsync(direct, cancellationToken).ConfigureAwait(false), abandoned: true, cancellationToken).ConfigureAwait(false);
        }
        _next = DateTime.UtcNow + agent.Options.Lease;
    }

    /// <summary>
    /// The other queue-less launches' queues of the entity that hold jobs: no agent serves them but their own, so the
    /// jobs of a launch whose pwsh was killed would keep their state for ever; a later launch's agent ends them.
    /// </summary>
    private async Task<IReadOnlyList<QueueKey>> AbandonedDirectQueuesAsync(DirectJob direct, CancellationToken cancellationToken)
    {
        var queues = await agent.Backend.GetQueuesAsync(direct.Queue.Entity, DirectQueues.Project, cancellationToken).ConfigureAwait(false);
        return [.. queues.Where(q => q.ActiveCount > 0 && q.Name != direct.Queue.Name).Select(q => new QueueKey(q.Entity, q.Project, q.Name))];
    }

    /// <param name="queues">The queues to claim orphans on.</param>
    /// <param name="abandoned">
    /// They are other queue-less launches' (<see cref="AbandonedDirectQueuesAsync"/>): nobody waits for their jobs any
    /// more, so a re-attached one is stopped, and one that cannot be re-attached is failed, never put back on its queue.
    /// </param>
    /// <param name="cancellationToken">Cancels the claim.</param>
    private async Task ClaimAsync(IReadOnlyList<QueueKey> queues, bool abandoned, CancellationToken cancellationToken)
    {
        if (queues.Count == 0) return;
        var orphans = await agent.Backend.ClaimOrphansAsync(agent.Id!, queues, agent.Options.Lease, cancellationToken).ConfigureAwait(false);
        AgentContext.Debug(() => $"looked for orphaned launch jobs on {string.Join(", ", queues.Select(q => q.Name))}: {orphans.Count}");
        foreach (var orphan in orphans)
        {
            AgentContext.Verbose($"claimed orphan {orphan.Id} from agent {orphan.PreviousAgentId} ({orphan.State}, handle {orphan.Handle ?? "none"})");
            var runner = agent.Runners.For(orphan.Resource);
            // The re-attached job keeps writing to this log (its output, its end), so it stays open until the job ends.
            var log = new JobLog(agent.LogPathOf(orphan), agent.SecretsOf(orphan), agent.Options.MaxLogBytes);
            IRunningJob? running;
            try
            {
                // The runner looks first: the log's last write tells it when the earlier agent stopped recording.
                running = await runner.AttachAsync(orphan, log, cancellationToken).ConfigureAwait(false);
                var previous = orphan.PreviousAgentId is { } p ? await agent.Backend.GetAgentAsync(p, cancellationToken).ConfigureAwait(false) : null;
                log.Agent($"agent {agent.Id} took over this job from agent {orphan.PreviousAgentId}, " +
                          (previous?.Status == AgentStatus.Killed ? "which stopped and left it running" : "which stopped responding"));
            }
            catch (LaunchException e)
            {
                log.Agent($"re-attaching failed: {e.Message}");
                running = null;
            }
            catch
            {
                log.Dispose();
                throw;
            }
            if (running is null)
            {
                log.Dispose();
                await agent.Ends.WriteAsync(orphan, abandoned ? Abandoned(orphan) : Unattachable(orphan), log: null, retry: false, cancellationToken).ConfigureAwait(false);
                continue;
            }
            agent.Report(AgentEventKind.Job, $"{orphan.Id} [{orphan.Queue}] re-attached ({running.Description})", orphan.Id, orphan.Queue);
            var run = new JobRun(agent, orphan, running, log);
            agent.Jobs.Start(run);
            if (abandoned) run.Stop($"The Invoke-WandbLaunchJob that ran this job ended without stopping it (its pwsh stopped responding); agent {agent.Id} stopped it.");
        }
    }

    private static JobEnd Abandoned(LaunchJob orphan) => new JobEnd.Finish(
        JobOutcome.Failed(FailureStage.Agent,
            $"The Invoke-WandbLaunchJob that ran this job (agent {orphan.PreviousAgentId}) stopped responding while the job was {orphan.State.ToString().ToLowerInvariant()}" +
            (orphan.StartedAt is null ? ", before it started." : $", and {orphan.Resource} jobs cannot be re-attached.")),
        "failed (agent): the Invoke-WandbLaunchJob that ran it died");

    private static JobEnd Unattachable(LaunchJob orphan) => orphan.StartedAt is null
        // It never reached its target (its agent died while fetching code or building), and the runner has made
        // sure nothing of it still runs: it goes back on its queue to run in full.
        ? new JobEnd.Requeue(
            $"The agent that took this job ({orphan.PreviousAgentId}) stopped responding before the job started; it was put back on its queue.",
            "put back on its queue: its agent died before starting it")
        : new JobEnd.Finish(
            JobOutcome.Failed(FailureStage.Agent,
                $"The agent running this job ({orphan.PreviousAgentId}) stopped responding while the job was {orphan.State.ToString().ToLowerInvariant()}, " +
                $"and {orphan.Resource} jobs cannot be re-attached; submit it again to re-run it."),
            "failed (agent): its agent died and it cannot be re-attached");
}
