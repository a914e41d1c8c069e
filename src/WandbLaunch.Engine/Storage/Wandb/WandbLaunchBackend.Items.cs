using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Identifiers;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Storage.Wandb;

// Items: pushToRunQueueByName, runQueueItems / runQueueItem, popFromRunQueue, ackRunQueueItem, failRunQueueItem,
// updateRunQueueItemWarning, deleteFromRunQueue.
public sealed partial class WandbLaunchBackend
{
    /// <summary>Items this process popped and has not finished: W&amp;B lists no item's spec or run id, and has no notion of held items.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, LaunchJob> _held = new();

    public async Task<LaunchJob> PushAsync(QueueKey queue, PushRequest request, CancellationToken cancellationToken)
    {
        var current = await GetQueueAsync(queue, cancellationToken).ConfigureAwait(false) ?? throw QueueNotFoundException.For(queue);
        // The same checks as the local store (same errors for the same input). The spec goes rendered, with its run id
        // and resource; the values go separately, as the SDK sends them (it takes template_variables out of the spec),
        // and the server checks and fills them again: what it stores is what the local store stores, without them.
        var prepared = LaunchSpecRules.Prepare(current, request);
        var spec = prepared.Spec.Clone();
        spec.TemplateVariables = null;
        var priority = request.Priority ?? LaunchSpec.Parse(request.Spec).Priority;
        var variables = new JsonObject
        {
            ["entityName"] = queue.Entity,
            ["projectName"] = queue.Project,
            ["queueName"] = queue.Name,
            ["runSpec"] = spec.ToJson(),
        };
        if (priority is not null) variables["priority"] = (int)priority.Value;
        if (prepared.TemplateValues is not null) variables["templateVariableValues"] = JsonTree.ToJson(prepared.TemplateValues);
        var data = await ExecuteAsync("pushToRunQueueByName", WandbOperations.PushToRunQueueByName(priority is not null, prepared.TemplateValues is not null),
            variables, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false);
        if (data["pushToRunQueueByName"] is not JsonObject pushed || Str(pushed, "runQueueItemId") is null)
        {
            throw new WandbServerException("pushToRunQueueByName", 200, $"The W&B server did not add the job to queue {Printable.Quote(queue.ToString())}.");
        }
        pushed["priority"] ??= (int)prepared.Priority;
        pushed["runSpec"] ??= spec.ToJson();
        return ItemOf(queue, current.Resource, pushed, DateTimeOffset.UtcNow);
    }

    public async Task<IReadOnlyList<LaunchJob>> GetJobsAsync(JobQuery query, CancellationToken cancellationToken)
    {
        var keys = query.Queue is { } one
            ? [one]
            : (await ListQueuesAsync(DefaultEntity, LaunchDefaults.Project, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false))
                .Select(q => new QueueKey(DefaultEntity, LaunchDefaults.Project, q.Name)).ToList();
        var listed = new List<LaunchJob>();
        foreach (var key in keys)
        {
            foreach (var job in await ReadItemsAsync(key, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false))
            {
                if (query.Ids is { } ids && !ids.Contains(job.Id)) continue;
                if (query.AgentId is { } agent && job.AgentId != agent) continue;
                listed.Add(job);
            }
        }
        // A CLAIMED item's state is its run's (WandbLaunchBackend.Runs.cs), known before filtering by state.
        // Oldest first, as the local store lists them; a limit keeps the newest.
        var jobs = (await WithRunStatesAsync(listed, cancellationToken).ConfigureAwait(false))
            .Where(j => query.States is not { } states || states.Contains(j.State))
            .OrderBy(j => j.CreatedAt).ToList();
        return query.Limit is { } limit && jobs.Count > limit ? jobs.Skip(jobs.Count - limit).ToList() : jobs;
    }

    /// <summary>W&amp;B finds an item only through its queue: the default entity's queues are searched.</summary>
    public async Task<LaunchJob?> GetJobAsync(string id, CancellationToken cancellationToken) =>
        (await GetJobsAsync(new JobQuery { Ids = [id] }, cancellationToken).ConfigureAwait(false)).FirstOrDefault();

    public async Task<LaunchJob?> PopAsync(string agentId, QueueKey queue, TimeSpan lease, CancellationToken cancellationToken)
    {
        JsonObject data;
        try
        {
            data = await ExecuteAsync("popFromRunQueue", WandbOperations.PopFromRunQueue, new JsonObject
            {
                ["entity"] = queue.Entity,
                ["project"] = queue.Project,
                ["queueName"] = queue.Name,
                // W&B refuses an agent id it did not issue: a caller that registered no agent here pops as no agent.
                ["launchAgentId"] = _agents.ContainsKey(agentId) ? agentId : null,
            }, WandbRetryPolicy.Agent, cancellationToken).ConfigureAwait(false);
        }
        catch (WandbServerException e) when (e.Status == 404)
        {
            if (await ReadMetadataAsync(queue, WandbRetryPolicy.Agent, cancellationToken).ConfigureAwait(false) is null) throw QueueNotFoundException.For(queue);
            throw;
        }
        if (data["popFromRunQueue"] is not JsonObject popped || Str(popped, "runQueueItemId") is not { } id) return null;
        var spec = JsonString(popped["runSpec"]) is JsonObject document ? LaunchSpec.FromStored(document.ToJsonString()) : LaunchSpec.Empty();
        // W&B's agent makes the run id when the spec has none.
        if (spec.RunId is not { Length: > 0 }) spec.RunId = Ids.NewRunId();
        // A spec pushed by the UI or the SDK may not name its resource: the queue's is the one that runs it.
        if (!spec.HasResource && await ReadQueueAsync(queue, null, WandbRetryPolicy.Agent, cancellationToken).ConfigureAwait(false) is { } owner)
        {
            spec.Resource = owner.Resource;
        }
        var job = new LaunchJob
        {
            Id = id,
            Queue = queue.Name,
            Entity = queue.Entity,
            Project = queue.Project,
            Resource = spec.HasResource ? spec.ResourceText ?? "" : "",
            State = LaunchJobState.Leased,
            Priority = spec.Priority ?? LaunchPriorities.Default,
            RunId = spec.RunId!,
            AgentId = agentId,
            LaunchSpec = spec,
            CreatedAt = DateTimeOffset.UtcNow,
            LeasedAt = DateTimeOffset.UtcNow,
        };
        _held[id] = job;
        return job;
    }

    /// <summary>
    /// ackRunQueueItem with the run's name (its id), as W&amp;B's agent does before it starts the job. W&amp;B's items carry
    /// no run id until acknowledged, so the item must have been popped by this process.
    /// </summary>
    public async Task<LaunchJob> AckAsync(string itemId, string agentId, string logPath, CancellationToken cancellationToken)
    {
        if (!_held.TryGetValue(itemId, out var job) || job.State != LaunchJobState.Leased || job.AgentId != agentId)
        {
            throw new JobLeaseLostException(itemId);
        }
        var data = await ExecuteAsync("ackRunQueueItem", WandbOperations.AckRunQueueItem,
            new JsonObject { ["itemId"] = itemId, ["runId"] = job.RunId }, WandbRetryPolicy.Agent, cancellationToken).ConfigureAwait(false);
        if ((data["ackRunQueueItem"] as JsonObject)?["success"]?.GetValueKind() != System.Text.Json.JsonValueKind.True)
        {
            throw new WandbServerException("ackRunQueueItem", 200, $"The W&B server refused to acknowledge item {Printable.Quote(itemId)}; another agent may have taken it.");
        }
        var started = Copy(job, LaunchJobState.Starting, logPath, startedAt: null);
        _held[itemId] = started;
        return started;
    }

    // W&B keeps no launch time or handle: the agent records them on this host (WandbJobRecords), for a restarted agent.
    public Task MarkLaunchingAsync(string itemId, string agentId, CancellationToken cancellationToken)
    {
        var job = Holding(itemId, agentId);
        if (job.State != LaunchJobState.Starting) throw new JobLeaseLostException(itemId);
        _held[itemId] = Copy(job, LaunchJobState.Starting, null, startedAt: DateTimeOffset.UtcNow);
        Record(itemId, agentId, handle: null);
        return Task.CompletedTask;
    }

    public Task MarkRunningAsync(string itemId, string agentId, string handle, CancellationToken cancellationToken)
    {
        var job = Holding(itemId, agentId);
        if (job.State == LaunchJobState.Leased) throw new JobLeaseLostException(itemId);
        _held[itemId] = WithHandle(job, handle);
        Record(itemId, agentId, handle);
        return Task.CompletedTask;
    }

    /// <summary>The item as <paramref name="agentId"/> holds it in this process; JobLeaseLost when it does not (another agent's, or ended).</summary>
    private LaunchJob Holding(string itemId, string agentId) =>
        _held.TryGetValue(itemId, out var job) && job.AgentId == agentId ? job : throw new JobLeaseLostException(itemId);

    /// <summary>
    /// Failures go to failRunQueueItem with W&amp;B's stage and the error log saved in the agent's run (filePaths), as
    /// W&amp;B's agent sends them; a finished or stopped job, or one whose run reports its failure, needs no call.
    /// </summary>
    public Task FinishAsync(string itemId, string agentId, JobOutcome outcome, CancellationToken cancellationToken)
    {
        if (!outcome.State.IsTerminal()) throw new ArgumentException($"{outcome.State} is not a final state.", nameof(outcome));
        var job = Holding(itemId, agentId);
        if (!_held.TryRemove(new KeyValuePair<string, LaunchJob>(itemId, job))) throw new JobLeaseLostException(itemId);
        ForgetRecord(job, itemId);
        return FailAsync(job, agentId, outcome, cancellationToken);
    }

    private async Task FailAsync(LaunchJob job, string agentId, JobOutcome outcome, CancellationToken cancellationToken)
    {
        var itemId = job.Id;
        if (outcome.State != LaunchJobState.Failed || outcome.ReportedByRun) return;
        var entity = job.Entity;
        var files = outcome.ErrorLog is { Length: > 0 } log ? await SaveErrorLogAsync(agentId, entity, itemId, log, cancellationToken).ConfigureAwait(false) : null;
        await ExecuteAsync("failRunQueueItem", WandbOperations.FailRunQueueItem, new JsonObject
        {
            ["runQueueItemId"] = itemId,
            ["message"] = outcome.Message ?? "The job failed.",
            ["stage"] = outcome.Stage ?? FailureStage.Agent,
            ["filePaths"] = files,
        }, WandbRetryPolicy.Agent, cancellationToken).ConfigureAwait(false);
    }

    public async Task WarnAsync(string itemId, string stage, string message, CancellationToken cancellationToken)
    {
        await ExecuteAsync("updateRunQueueItemWarning", WandbOperations.UpdateRunQueueItemWarning, new JsonObject
        {
            ["runQueueItemId"] = itemId,
            ["message"] = message,
            ["stage"] = stage,
            ["filePaths"] = null,
        }, WandbRetryPolicy.Agent, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// W&amp;B cannot put a claimed item back: as W&amp;B's agent does with a preempted run, the same spec (same run id) is
    /// pushed again to the same queue, and the original item stays CLAIMED.
    /// </summary>
    public async Task RequeueAsync(string itemId, string agentId, string reason, CancellationToken cancellationToken)
    {
        if (!_held.ContainsKey(itemId))
        {
            throw NotOnWandb("Putting an item back on its queue", "W&B's server re-queues an item that was popped but not acknowledged after about a minute.");
        }
        var job = Holding(itemId, agentId);
        if (!_held.TryRemove(new KeyValuePair<string, LaunchJob>(itemId, job))) throw new JobLeaseLostException(itemId);
        ForgetRecord(job, itemId);
        var spec = job.GetSpec();
        spec.RunId = job.RunId;
        await ExecuteAsync("pushToRunQueueByName", WandbOperations.PushToRunQueueByName(false, false), new JsonObject
        {
            ["entityName"] = job.Entity,
            ["projectName"] = job.Project,
            ["queueName"] = job.Queue,
            ["runSpec"] = spec.ToJson(),
        }, WandbRetryPolicy.Agent, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>W&amp;B has no lease to end: the item stays CLAIMED, its job runs on, and its record here says it was left.</summary>
    public Task ReleaseAsync(string itemId, string agentId, CancellationToken cancellationToken)
    {
        var job = Holding(itemId, agentId);
        if (_held.TryRemove(new KeyValuePair<string, LaunchJob>(itemId, job))) RecordsFor(job.Entity).MarkReleased(itemId);
        return Task.CompletedTask;
    }

    /// <summary>
    /// W&amp;B reports no dead agents' items: the orphans are the jobs recorded on this host (<see cref="WandbJobRecords"/>)
    /// that their agent left running or whose agent's process is gone. Items started on another host are not seen.
    /// </summary>
    public Task<IReadOnlyList<LaunchJob>> ClaimOrphansAsync(string agentId, IReadOnlyList<QueueKey> queues, TimeSpan lease, CancellationToken cancellationToken)
    {
        var claimed = new List<LaunchJob>();
        foreach (var entity in queues.Select(q => q.Entity).Distinct())
        {
            var records = RecordsFor(entity);
            foreach (var orphan in records.Orphans(queues, _held.ContainsKey))
            {
                var job = orphan.Job;
                var taken = new LaunchJob
                {
                    Id = job.Id, Queue = job.Queue, Entity = job.Entity, Project = job.Project, Resource = job.Resource, State = job.State,
                    Priority = job.Priority, Attempts = job.Attempts, RunId = job.RunId, AgentId = agentId, Handle = job.Handle,
                    LaunchSpec = job.LaunchSpec, LogPath = job.LogPath, StartedAt = job.StartedAt, LeasedAt = DateTimeOffset.UtcNow,
                    CreatedAt = job.StartedAt ?? DateTimeOffset.UtcNow,
                    PreviousAgentId = orphan.AgentId,
                };
                if (!_held.TryAdd(job.Id, taken)) continue;
                try
                {
                    records.Write(taken, agentId, taken.Handle);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    _held.TryRemove(job.Id, out _);
                    continue;
                }
                claimed.Add(taken);
            }
        }
        return Task.FromResult<IReadOnlyList<LaunchJob>>(claimed);
    }

    /// <summary>
    /// As W&amp;B's UI does: a pending item is deleted from its queue (deleteFromRunQueue); a running one is stopped
    /// through its run (stopRun, <see cref="StopRunAsync"/>); a leased one, which has no run yet, is refused.
    /// </summary>
    public async Task<LaunchJob> RequestStopAsync(string itemId, CancellationToken cancellationToken)
    {
        var job = await GetJobAsync(itemId, cancellationToken).ConfigureAwait(false)
            ?? throw LaunchException.NotFound("JobNotFound", $"No job with id {Printable.Quote(itemId)} in the queues of {DefaultEntity}.", itemId);
        if (job.State == LaunchJobState.Running) return await StopRunAsync(job, cancellationToken).ConfigureAwait(false);
        if (job.State.IsTerminal()) return job;
        if (job.State != LaunchJobState.Pending) throw NotYetStoppable(job);
        var metadata = await ReadMetadataAsync(new QueueKey(job.Entity, job.Project, job.Queue), WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false)
            ?? throw QueueNotFoundException.For(new QueueKey(job.Entity, job.Project, job.Queue));
        await ExecuteAsync("deleteFromRunQueue", WandbOperations.DeleteFromRunQueue,
            new JsonObject { ["queueID"] = metadata.Id, ["runQueueItemId"] = itemId }, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false);
        return new LaunchJob
        {
            Id = job.Id, Queue = job.Queue, Entity = job.Entity, Project = job.Project, Resource = job.Resource,
            State = LaunchJobState.Stopped, StopRequested = true, RunId = job.RunId, CreatedAt = job.CreatedAt, FinishedAt = DateTimeOffset.UtcNow,
        };
    }

    public Task RemoveJobAsync(string itemId, CancellationToken cancellationToken) =>
        throw NotOnWandb("Removing a finished job", "W&B keeps a queue's finished items.");

    /// <summary>W&amp;B sends no change signal: this only waits; an agent polls at the backend's <see cref="Cadence"/>.</summary>
    public Task WaitForChangeAsync(TimeSpan timeout, CancellationToken cancellationToken) => Task.Delay(timeout, cancellationToken);

    /// <summary>
    /// A queue's items as W&amp;B lists them (PENDING, LEASED, CLAIMED → Running, FAILED) with their spec, priority, agent,
    /// error and warnings; what the agents on this host know of an item they hold (state, handle, start time, log) is laid over.
    /// </summary>
    private async Task<IReadOnlyList<LaunchJob>> ReadItemsAsync(QueueKey key, WandbRetryPolicy retry, CancellationToken cancellationToken)
    {
        var data = await ExecuteAsync("runQueue.runQueueItems", WandbOperations.RunQueueItems,
            new JsonObject { ["projectName"] = key.Project, ["entityName"] = key.Entity, ["runQueue"] = key.Name }, retry, cancellationToken).ConfigureAwait(false);
        if (((data["project"] as JsonObject)?["runQueue"] as JsonObject)?["runQueueItems"] is not JsonObject items || items["edges"] is not JsonArray edges) return [];
        var records = RecordsFor(key.Entity);
        return edges.OfType<JsonObject>()
            .Select(e => e["node"] as JsonObject)
            .Where(n => Str(n, "id") is not null)
            .Select(n => ItemOf(key, null, n!, default))
            .Select(job => job.State is LaunchJobState.Leased or LaunchJobState.Running ? HeldView(job, records) : job)
            .ToList();
    }

    /// <summary>An item from W&amp;B's fields (runQueueItem, or the push reply); its run id is the spec's until an agent acknowledges it.</summary>
    private static LaunchJob ItemOf(QueueKey key, string? queueResource, JsonObject node, DateTimeOffset fallbackCreated)
    {
        var spec = JsonString(node["runSpec"]) is JsonObject document ? LaunchSpec.FromStored(document.ToJsonString()) : LaunchSpec.Empty();
        var state = StateOf(Str(node, "state"));
        var error = node["error"] as JsonObject;
        var priority = node["priority"] is JsonValue p && p.TryGetValue<int>(out var level) && Enum.IsDefined(typeof(LaunchPriority), level)
            ? (LaunchPriority)level : spec.Priority ?? LaunchPriorities.Default;
        return new LaunchJob
        {
            Id = Str(node, "id") ?? Str(node, "runQueueItemId")!,
            Queue = key.Name,
            Entity = key.Entity,
            Project = key.Project,
            Resource = spec.HasResource ? spec.ResourceText ?? "" : queueResource ?? "",
            State = state,
            Priority = priority,
            RunId = Str(node, "associatedRunId") ?? spec.RunId ?? "",
            AgentId = Str(node, "launchAgentId"),
            LaunchSpec = spec,
            CreatedAt = DateTimeOffset.TryParse(Str(node, "createdAt"), out var created) ? created : fallbackCreated,
            FailureMessage = Str(error, "message"),
            FailureStage = Str(error, "stage"),
            FinishedAt = state == LaunchJobState.Failed && DateTimeOffset.TryParse(Str(error, "createdAt"), out var failed) ? failed : null,
            Warnings = (node["warnings"] as JsonArray ?? []).OfType<JsonObject>()
                .Select(w => new JobWarning(DateTimeOffset.TryParse(Str(w, "createdAt"), out var at) ? at : default, Str(w, "stage") ?? "", Str(w, "message") ?? ""))
                .ToList(),
        };
    }

    /// <summary>A held item as its agent on this host knows it: in this process, else from the host's job records.</summary>
    private LaunchJob HeldView(LaunchJob listed, WandbJobRecords records)
    {
        LaunchJob? local = _held.TryGetValue(listed.Id, out var held) ? held : records.Read(listed.Id)?.Job;
        if (local is null) return listed;
        return new LaunchJob
        {
            Id = listed.Id, Queue = listed.Queue, Entity = listed.Entity, Project = listed.Project, Resource = listed.Resource,
            State = local.State, Priority = listed.Priority, Attempts = local.Attempts, RunId = local.RunId, AgentId = local.AgentId,
            Handle = local.Handle, LaunchSpec = listed.LaunchSpec, LogPath = local.LogPath, CreatedAt = listed.CreatedAt,
            LeasedAt = local.LeasedAt, StartedAt = local.StartedAt, Warnings = listed.Warnings,
        };
    }

    // What W&B does not keep of an item is kept by the agent holding it: its fields from the pop, with these changes.
    private static LaunchJob Copy(LaunchJob job, LaunchJobState state, string? logPath, DateTimeOffset? startedAt) =>
        job with { State = state, LogPath = logPath ?? job.LogPath, StartedAt = startedAt ?? job.StartedAt };

    private static LaunchJob WithHandle(LaunchJob job, string handle) =>
        job with { State = LaunchJobState.Running, StartedAt = job.StartedAt ?? DateTimeOffset.UtcNow, Handle = handle };

    private static LaunchJobState StateOf(string? state) => state switch
    {
        "LEASED" => LaunchJobState.Leased,
        "CLAIMED" => LaunchJobState.Running,
        "FAILED" => LaunchJobState.Failed,
        _ => LaunchJobState.Pending,
    };
}
