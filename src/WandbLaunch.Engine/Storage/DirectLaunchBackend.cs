using System.Collections.Concurrent;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage.Sqlite;

namespace WandbLaunch.Engine.Storage;

/// <summary>
/// Where a queue-less launch (Invoke-WandbLaunchJob) on a W&amp;B server connection lives. W&amp;B's <c>wandb launch</c>
/// without <c>-q</c> queues nothing on the server and runs the job at once, while its run reports to the server
/// (<c>cli/cli.py</c> <c>launch</c>, <c>sdk/launch/_launch.py</c> <c>_launch</c>). So the launch job, its queue of its
/// own, its agent and its log are recorded in the local store (<paramref name="records"/>), and nothing is created in
/// the server's Launch App; everything about the run comes from the server (<paramref name="server"/>): the default
/// entity and author (its viewer), W&amp;B jobs and code artifacts, a uri made a W&amp;B job first (as <c>wandb launch
/// -u</c>), the job's WANDB_BASE_URL and WANDB_API_KEY, and the run checks (did it start, was it stopped in the app).
/// </summary>
/// <remarks>
/// The API key reaches the job through <see cref="ConnectionVariable"/> at run time only (the agent's environment),
/// never through a spec or anything <paramref name="records"/> stores.
/// </remarks>
public sealed class DirectLaunchBackend(ILaunchBackend records, ILaunchBackend server) : ILaunchBackend
{
    private static readonly ConcurrentDictionary<(BackendConnection Records, BackendConnection Server), DirectLaunchBackend> Made = new();

    /// <summary>
    /// Where the direct launches of a session on <paramref name="connection"/> are recorded and run from: on the local
    /// store, that store itself; on a server, the local store the session would use without a connection
    /// (<see cref="LocalStoreConnection.Default"/>: WANDB_LAUNCH_DB, else ~/.config/wandb/launch/launch.db) together with
    /// the server. One per pair, so that jobs found through it compare by their backend.
    /// </summary>
    public static ILaunchBackend For(BackendConnection connection)
    {
        if (connection is LocalStoreConnection) return LaunchBackends.For(connection);
        var local = LocalStoreConnection.Default();
        return Made.GetOrAdd((local, connection), pair => new DirectLaunchBackend(LaunchBackends.For(pair.Records), LaunchBackends.For(pair.Server)));
    }

    /// <summary>The local store that holds the launch jobs.</summary>
    public ILaunchBackend Records => records;

    /// <summary>Whether the local store file is there: one never made holds no direct launch (and looking must not make it).</summary>
    public bool RecordsExist => File.Exists(records.Location);

    /// <summary>The W&amp;B server the runs report to.</summary>
    public ILaunchBackend Server => server;

    /// <summary>The store the jobs are recorded in: what Get-WandbLaunchJob and the agent's messages name.</summary>
    public string Location => records.Location;

    public string DefaultEntity => server.DefaultEntity;

    /// <summary>Beside the local store, where Get-WandbLaunchJobLog looks for the logs of its jobs.</summary>
    public string LogDirectory => records.LogDirectory;

    public Task<string> DefaultAuthorAsync(CancellationToken cancellationToken) => server.DefaultAuthorAsync(cancellationToken);

    public Artifacts.IArtifactStore Artifacts => server.Artifacts;

    public bool SubmitUriAsJob => server.SubmitUriAsJob;

    public string? ConnectionVariable(string name) => server.ConnectionVariable(name);

    /// <summary>The local store's: its change signal wakes the agent and the watchers (null: no server-paced polling).</summary>
    public PollCadence? Cadence => records.Cadence;

    public Task<LaunchQueue> CreateQueueAsync(QueueDefinition definition, CancellationToken cancellationToken) => records.CreateQueueAsync(definition, cancellationToken);

    public Task<IReadOnlyList<LaunchQueue>> GetQueuesAsync(string? entity, string? project, CancellationToken cancellationToken) => records.GetQueuesAsync(entity, project, cancellationToken);

    public Task<LaunchQueue?> GetQueueAsync(QueueKey key, CancellationToken cancellationToken) => records.GetQueueAsync(key, cancellationToken);

    public Task<LaunchQueue> UpdateQueueAsync(QueueKey key, QueueUpdate update, CancellationToken cancellationToken) => records.UpdateQueueAsync(key, update, cancellationToken);

    public Task DeleteQueueAsync(QueueKey key, bool force, CancellationToken cancellationToken) => records.DeleteQueueAsync(key, force, cancellationToken);

    public Task<LaunchJob> PushAsync(QueueKey queue, PushRequest request, CancellationToken cancellationToken) => records.PushAsync(queue, request, cancellationToken);

    public Task<IReadOnlyList<LaunchJob>> GetJobsAsync(JobQuery query, CancellationToken cancellationToken) => records.GetJobsAsync(query, cancellationToken);

    public Task<LaunchJob?> GetJobAsync(string id, CancellationToken cancellationToken) => records.GetJobAsync(id, cancellationToken);

    public Task<LaunchJob?> PopAsync(string agentId, QueueKey queue, TimeSpan lease, CancellationToken cancellationToken) => records.PopAsync(agentId, queue, lease, cancellationToken);

    public Task<LaunchJob> AckAsync(string itemId, string agentId, string logPath, CancellationToken cancellationToken) => records.AckAsync(itemId, agentId, logPath, cancellationToken);

    public Task MarkLaunchingAsync(string itemId, string agentId, CancellationToken cancellationToken) => records.MarkLaunchingAsync(itemId, agentId, cancellationToken);

    public Task MarkRunningAsync(string itemId, string agentId, string handle, CancellationToken cancellationToken) => records.MarkRunningAsync(itemId, agentId, handle, cancellationToken);

    public Task FinishAsync(string itemId, string agentId, JobOutcome outcome, CancellationToken cancellationToken) => records.FinishAsync(itemId, agentId, outcome, cancellationToken);

    public Task WarnAsync(string itemId, string stage, string message, CancellationToken cancellationToken) => records.WarnAsync(itemId, stage, message, cancellationToken);

    public Task RequeueAsync(string itemId, string agentId, string reason, CancellationToken cancellationToken) => records.RequeueAsync(itemId, agentId, reason, cancellationToken);

    public Task ReleaseAsync(string itemId, string agentId, CancellationToken cancellationToken) => records.ReleaseAsync(itemId, agentId, cancellationToken);

    public Task<IReadOnlyList<LaunchJob>> ClaimOrphansAsync(string agentId, IReadOnlyList<QueueKey> queues, TimeSpan lease, CancellationToken cancellationToken) =>
        records.ClaimOrphansAsync(agentId, queues, lease, cancellationToken);

    /// <summary>
    /// The local record's stop flag, which the job's agent sees on its next tick; the run on the server is not stopped
    /// here (the agent ends the job, and the job's wandb ends its run), as W&amp;B's own direct launch has no queue item to stop.
    /// </summary>
    public Task<LaunchJob> RequestStopAsync(string itemId, CancellationToken cancellationToken) => records.RequestStopAsync(itemId, cancellationToken);

    public Task RemoveJobAsync(string itemId, CancellationToken cancellationToken) => records.RemoveJobAsync(itemId, cancellationToken);

    public Task<bool?> RunStartedAsync(LaunchJob job, CancellationToken cancellationToken) => server.RunStartedAsync(job, cancellationToken);

    public Task<bool?> RunStoppedAsync(LaunchJob job, CancellationToken cancellationToken) => server.RunStoppedAsync(job, cancellationToken);

    /// <summary>The job's agent ran on this host and wrote its log beside the store.</summary>
    public string? LogElsewhere(LaunchJob job) => records.LogElsewhere(job);

    public Task<LaunchAgentInfo> RegisterAgentAsync(AgentRegistration registration, CancellationToken cancellationToken) => records.RegisterAgentAsync(registration, cancellationToken);

    public Task<IReadOnlyList<LaunchAgentInfo>> GetAgentsAsync(CancellationToken cancellationToken) => records.GetAgentsAsync(cancellationToken);

    public Task<LaunchAgentInfo?> GetAgentAsync(string id, CancellationToken cancellationToken) => records.GetAgentAsync(id, cancellationToken);

    public Task SetAgentStatusAsync(string agentId, string status, CancellationToken cancellationToken) => records.SetAgentStatusAsync(agentId, status, cancellationToken);

    public Task<Heartbeat> HeartbeatAsync(string agentId, TimeSpan lease, CancellationToken cancellationToken) => records.HeartbeatAsync(agentId, lease, cancellationToken);

    public Task RequestAgentStopAsync(string agentId, CancellationToken cancellationToken, bool leaveJobsRunning = false) =>
        records.RequestAgentStopAsync(agentId, cancellationToken, leaveJobsRunning);

    public Task CheckStoreFileAsync(CancellationToken cancellationToken) => records.CheckStoreFileAsync(cancellationToken);

    public Task WaitForChangeAsync(TimeSpan timeout, CancellationToken cancellationToken) => records.WaitForChangeAsync(timeout, cancellationToken);

    /// <summary>Nothing of its own: both backends are shared (<see cref="LaunchBackends"/>, or the caller's), and their owners dispose them.</summary>
    public void Dispose()
    {
    }
}
