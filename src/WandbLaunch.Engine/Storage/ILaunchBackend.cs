using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Storage;

/// <summary>
/// Where queues, queue items (jobs) and agents live. The local SQLite store and the W&amp;B server both implement
/// it; every rule that does not depend on where data lives (names, templates, priorities, specs) is checked by
/// the shared types in <c>Queues/</c> and <c>Specs/</c>, so both refuse the same input with the same error.
/// Operations map one to one onto W&amp;B's GraphQL operations where the server has one (noted per member).
/// </summary>
public interface ILaunchBackend : IDisposable
{
    /// <summary>Where this backend stores data: a file path or a server URL.</summary>
    string Location { get; }

    /// <summary>The entity used when a caller names none.</summary>
    string DefaultEntity { get; }

    /// <summary>Where agents on this host keep job logs.</summary>
    string LogDirectory { get; }

    /// <summary>
    /// The author Submit gives a spec that names none: the local user's name here; a W&amp;B server gives the API key's
    /// user (its <c>viewer</c>), as W&amp;B's CLI does.
    /// </summary>
    Task<string> DefaultAuthorAsync(CancellationToken cancellationToken) => Task.FromResult(Environment.UserName);

    /// <summary>
    /// Where this backend keeps artifacts (W&amp;B jobs and their code): files beside the local store, or the W&amp;B
    /// server's artifacts. A backend without one refuses with <c>ArtifactsNotSupported</c>.
    /// </summary>
    Artifacts.IArtifactStore Artifacts => throw new Errors.LaunchException("ArtifactsNotSupported", Errors.LaunchErrorCategory.NotImplemented,
        $"The backend at {Location} keeps no artifacts, so it cannot store or run W&B jobs (spec 'job').", Location);

    /// <summary>
    /// Whether Submit turns a <c>uri</c> (a git URL or a local directory) into a W&amp;B job first and pushes a <c>job</c>
    /// spec, as <c>wandb launch -u</c> does: true for a W&amp;B server, whose own agents run only jobs and images; the
    /// local store keeps uri specs, which its agents run from the code in place.
    /// </summary>
    bool SubmitUriAsJob => false;

    /// <summary>
    /// A variable the connection defines for the agent and its jobs, over the process environment: a W&amp;B server
    /// gives WANDB_BASE_URL and WANDB_API_KEY (so a key given to Connect-WandbLaunch reaches the jobs and is redacted
    /// like one from the environment); the local store gives none.
    /// </summary>
    string? ConnectionVariable(string name) => null;

    /// <summary>
    /// How an agent paces its polls on this backend: null when <see cref="WaitForChangeAsync"/> wakes it on every
    /// write (the local store), so that it pops on each change; a W&amp;B server gives <see cref="PollCadence.Wandb"/>.
    /// </summary>
    PollCadence? Cadence => null;

    // ---- queues: upsertRunQueue / project.runQueues / deleteRunQueues

    Task<LaunchQueue> CreateQueueAsync(QueueDefinition definition, CancellationToken cancellationToken);

    /// <summary>Queues in an entity and project; null means any.</summary>
    Task<IReadOnlyList<LaunchQueue>> GetQueuesAsync(string? entity, string? project, CancellationToken cancellationToken);

    /// <summary>One queue, or null when there is none by that key.</summary>
    Task<LaunchQueue?> GetQueueAsync(QueueKey key, CancellationToken cancellationToken);

    Task<LaunchQueue> UpdateQueueAsync(QueueKey key, QueueUpdate update, CancellationToken cancellationToken);

    /// <summary>Deletes a queue and its items, with their logs. Refused (QueueHasActiveJobs) while agents hold items, unless forced.</summary>
    Task DeleteQueueAsync(QueueKey key, bool force, CancellationToken cancellationToken);

    // ---- items: pushToRunQueueByName / runQueueItem / popFromRunQueue / ackRunQueueItem / failRunQueueItem / updateRunQueueItemWarning

    /// <summary>Validates, renders and stores a launch request (pushToRunQueueByName).</summary>
    Task<LaunchJob> PushAsync(QueueKey queue, PushRequest request, CancellationToken cancellationToken);

    Task<IReadOnlyList<LaunchJob>> GetJobsAsync(JobQuery query, CancellationToken cancellationToken);

    Task<LaunchJob?> GetJobAsync(string id, CancellationToken cancellationToken);

    /// <summary>
    /// Leases the next item of a queue to an agent, atomically: by priority then FIFO when the queue has
    /// prioritization on, FIFO otherwise. Items whose lease expired before they started are available again.
    /// </summary>
    Task<LaunchJob?> PopAsync(string agentId, QueueKey queue, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>The agent starts working on the item (ackRunQueueItem): Leased → Starting.</summary>
    Task<LaunchJob> AckAsync(string itemId, string agentId, string logPath, CancellationToken cancellationToken);

    /// <summary>
    /// The agent is about to start the job on its target (records the start time; the state stays Starting). An
    /// item whose dead agent got this far may already have run, so a later agent fails it rather than running it
    /// again; one that never got here is put back on its queue.
    /// </summary>
    Task MarkLaunchingAsync(string itemId, string agentId, CancellationToken cancellationToken);

    /// <summary>The job runs on its target: Starting → Running, with the handle that finds it there.</summary>
    Task MarkRunningAsync(string itemId, string agentId, string handle, CancellationToken cancellationToken);

    /// <summary>Records how the job ended (failRunQueueItem for failures).</summary>
    Task FinishAsync(string itemId, string agentId, JobOutcome outcome, CancellationToken cancellationToken);

    /// <summary>Records a warning on the item (updateRunQueueItemWarning).</summary>
    Task WarnAsync(string itemId, string stage, string message, CancellationToken cancellationToken);

    /// <summary>Puts an item back on its queue with the same run id (preemption, or an agent releasing work it had not started).</summary>
    Task RequeueAsync(string itemId, string agentId, string reason, CancellationToken cancellationToken);

    /// <summary>
    /// The agent stops following a job that keeps running on its target (it stops with jobs left running): the
    /// job's lease ends now, so the next agent serving its queue re-attaches to it through its handle.
    /// </summary>
    Task ReleaseAsync(string itemId, string agentId, CancellationToken cancellationToken);

    /// <summary>
    /// Items of these queues that were started by an agent whose lease has expired (it died); they are leased to
    /// <paramref name="agentId"/>, which re-attaches to them through their handle or fails them.
    /// </summary>
    Task<IReadOnlyList<LaunchJob>> ClaimOrphansAsync(string agentId, IReadOnlyList<QueueKey> queues, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>Pending: removed from the queue (Stopped). Held by an agent: flagged, and that agent cancels it.</summary>
    Task<LaunchJob> RequestStopAsync(string itemId, CancellationToken cancellationToken);

    /// <summary>Deletes a finished item and its log. Refused (JobActive) while it is pending or held by an agent.</summary>
    Task RemoveJobAsync(string itemId, CancellationToken cancellationToken);

    // ---- runs: what W&B's agent reads of a job's run (RunState, RunStoppedStatus); a backend that keeps no runs answers null

    /// <summary>
    /// Whether the job's run has started: it exists and its state is not <c>pending</c> (it called wandb.init).
    /// Null when this backend keeps no runs (the local store), so the agent makes no such check.
    /// </summary>
    Task<bool?> RunStartedAsync(LaunchJob job, CancellationToken cancellationToken) => Task.FromResult<bool?>(null);

    /// <summary>
    /// Whether the job's run was stopped on the server (its <c>stopped</c> flag: the W&amp;B app's stop, stopRun).
    /// Null when this backend keeps no runs; a job there is stopped through <see cref="RequestStopAsync"/>.
    /// </summary>
    Task<bool?> RunStoppedAsync(LaunchJob job, CancellationToken cancellationToken) => Task.FromResult<bool?>(null);

    /// <summary>
    /// Where the job's output can be read when this host has no log of it (an agent on another host ran it): on W&amp;B,
    /// its run's page in the app. Null when every log is in <see cref="LogDirectory"/> (the local store).
    /// </summary>
    string? LogElsewhere(LaunchJob job) => null;

    // ---- agents: createLaunchAgent / launchAgent / updateLaunchAgent / stopPolling

    Task<LaunchAgentInfo> RegisterAgentAsync(AgentRegistration registration, CancellationToken cancellationToken);

    Task<IReadOnlyList<LaunchAgentInfo>> GetAgentsAsync(CancellationToken cancellationToken);

    Task<LaunchAgentInfo?> GetAgentAsync(string id, CancellationToken cancellationToken);

    Task SetAgentStatusAsync(string agentId, string status, CancellationToken cancellationToken);

    /// <summary>Renews the agent's heartbeat and the leases of every item it holds; reports stop requests.</summary>
    Task<Heartbeat> HeartbeatAsync(string agentId, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>
    /// Sets the agent's stop flag (W&amp;B's stopPolling); the agent sees it on its next tick. With
    /// <paramref name="leaveJobsRunning"/> it leaves the jobs that can run without it to the next agent.
    /// </summary>
    Task RequestAgentStopAsync(string agentId, CancellationToken cancellationToken, bool leaveJobsRunning = false);

    /// <summary>
    /// Throws StoreDeleted or StoreReplaced when the store this backend has open is no longer the one at its location
    /// (a store that cannot tell does nothing).
    /// </summary>
    Task CheckStoreFileAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Completes when something in the store may have changed (another process committed), or after
    /// <paramref name="timeout"/>. Lets an idle agent start a new job at once instead of on its next poll.
    /// </summary>
    Task WaitForChangeAsync(TimeSpan timeout, CancellationToken cancellationToken);
}
