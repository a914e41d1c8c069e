using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Storage.Wandb;

// Runs, as W&B's agent reads them: RunState (did the job call wandb.init), RunStoppedStatus (stopped in the app);
// the agent's hidden run, which keeps each failed item's error.log (createRunFiles); the job records on this host.
public sealed partial class WandbLaunchBackend
{
    /// <summary>W&amp;B's agent keeps its items' files in a hidden run of this type, named after the agent.</summary>
    internal const string AgentRunJobType = "sweep-controller";

    /// <summary>The server's name of each agent this process registered: its hidden run's id.</summary>
    private readonly ConcurrentDictionary<string, string> _agentRunNames = new();

    private readonly ConcurrentDictionary<string, WandbJobRecords> _records = new();

    /// <summary>The job records of agents on this host for one entity of this server.</summary>
    internal WandbJobRecords RecordsFor(string entity) => _records.GetOrAdd(entity, e =>
        new WandbJobRecords(Path.Combine(HostDirectory, "wandb", WandbJobRecords.DirectoryName(Location, e))));

    /// <summary>
    /// RunState, as W&amp;B's agent checks after a job ends: the run exists and is not <c>pending</c>. Like W&amp;B's agent,
    /// it checks nothing for a spec without a project, or a run in another entity than the job's queue.
    /// </summary>
    public async Task<bool?> RunStartedAsync(LaunchJob job, CancellationToken cancellationToken)
    {
        if (RunOf(job) is null) return null;
        var state = await RunStateAsync(job, WandbRetryPolicy.Agent, cancellationToken).ConfigureAwait(false);
        return state is not null && !state.Equals("pending", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The state of the job's run (RunState), or null when it has none yet or W&amp;B's agent would not look (<see cref="RunOf"/>).</summary>
    private async Task<string?> RunStateAsync(LaunchJob job, WandbRetryPolicy retry, CancellationToken cancellationToken)
    {
        if (RunOf(job) is not { } run || job.RunId is not { Length: > 0 }) return null;
        var data = await ExecuteAsync("RunState", WandbOperations.RunState,
            new JsonObject { ["project"] = run.Project, ["entity"] = run.Entity, ["name"] = job.RunId }, retry, cancellationToken).ConfigureAwait(false);
        return Str((data["project"] as JsonObject)?["run"] as JsonObject, "state");
    }

    /// <summary>RunStoppedStatus: the run's <c>stopped</c> flag (false while the run does not exist).</summary>
    public async Task<bool?> RunStoppedAsync(LaunchJob job, CancellationToken cancellationToken)
    {
        if (RunOf(job) is not { } run) return null;
        var data = await ExecuteAsync("RunStoppedStatus", WandbOperations.RunStoppedStatus,
            new JsonObject { ["projectName"] = run.Project, ["entityName"] = run.Entity, ["runId"] = job.RunId }, WandbRetryPolicy.Agent, cancellationToken).ConfigureAwait(false);
        return ((data["project"] as JsonObject)?["run"] as JsonObject)?["stopped"]?.GetValueKind() == System.Text.Json.JsonValueKind.True;
    }

    /// <summary>
    /// The Logs tab of the job's run in the W&amp;B app (its output.log), at the app URL the SDK derives from the API URL
    /// (<c>api_to_app_url</c>); for a run whose project is not known, the app's Launch page.
    /// </summary>
    public string? LogElsewhere(LaunchJob job)
    {
        var app = AppUrl(Location);
        var spec = job.GetSpec();
        var entity = spec.Entity is { Length: > 0 } e ? e : job.Entity;
        return spec.TargetProject is { Length: > 0 } project && job.RunId.Length > 0
            ? $"the Logs tab (output.log) of its run: {app}/{Uri.EscapeDataString(entity)}/{Uri.EscapeDataString(project)}/runs/{Uri.EscapeDataString(job.RunId)}/logs"
            : $"the Logs tab (output.log) of its run in the W&B app, found from its queue in the Launch page: {app}/launch";
    }

    /// <summary>The SDK's <c>api_to_app_url</c>: api.wandb.ai → wandb.ai, api.&lt;host&gt; → app.&lt;host&gt;, else the same URL.</summary>
    internal static string AppUrl(string apiUrl)
    {
        var url = apiUrl.TrimEnd('/');
        if (url.Contains("://api.wandb.test", StringComparison.Ordinal)) return url.Replace("://api.", "://app.", StringComparison.Ordinal);
        if (url.Contains("://api.wandb.", StringComparison.Ordinal)) return url.Replace("://api.", "://", StringComparison.Ordinal);
        if (url.Contains("://api.", StringComparison.Ordinal)) return url.Replace("://api.", "://app.", StringComparison.Ordinal);
        return url;
    }

    /// <summary>Where the job's run is: the spec's entity (else the queue's) and project; null when W&amp;B's agent would not look.</summary>
    private static (string Entity, string Project)? RunOf(LaunchJob job)
    {
        var spec = job.GetSpec();
        var entity = spec.Entity is { Length: > 0 } e ? e : job.Entity;
        if (spec.TargetProject is not { Length: > 0 } project || entity != job.Entity) return null;
        return (entity, project);
    }

    /// <summary>The agent's hidden run, as W&amp;B's agent makes it at start: project model-registry, id = the agent's server name.</summary>
    private async Task InitAgentRunAsync(string agentId, string entity, CancellationToken cancellationToken)
    {
        var data = await ExecuteAsync("launchAgent", WandbOperations.LaunchAgent, new JsonObject { ["agentId"] = agentId }, WandbRetryPolicy.Agent, cancellationToken).ConfigureAwait(false);
        if (Str(data["launchAgent"] as JsonObject, "name") is not { Length: > 0 } name) return;
        await ExecuteAsync("upsertBucket", WandbOperations.UpsertAgentRun, new JsonObject
        {
            ["name"] = name,
            ["project"] = LaunchDefaults.Project,
            ["entity"] = entity,
            ["jobType"] = AgentRunJobType,
        }, WandbRetryPolicy.Agent, cancellationToken).ConfigureAwait(false);
        _agentRunNames[agentId] = name;
    }

    /// <summary>
    /// Saves an item's error log as W&amp;B's agent does (<c>&lt;itemId&gt;/error/error.log</c> in the agent's hidden run) and
    /// returns the path to send as <c>filePaths</c>; null when it could not (the item then fails without it, as there).
    /// </summary>
    private async Task<JsonArray?> SaveErrorLogAsync(string agentId, string entity, string itemId, string text, CancellationToken cancellationToken)
    {
        if (!_agentRunNames.TryGetValue(agentId, out var run))
        {
            EngineLog.Verbose(Source, () => $"not saving the error log of {itemId}: the agent has no run");
            return null;
        }
        var path = $"{itemId}/error/error.log";
        try
        {
            var data = await ExecuteAsync("createRunFiles", WandbOperations.CreateRunFiles, new JsonObject
            {
                ["entity"] = entity,
                ["project"] = LaunchDefaults.Project,
                ["run"] = run,
                ["files"] = new JsonArray(path),
            }, WandbRetryPolicy.Agent, cancellationToken).ConfigureAwait(false);
            var created = data["createRunFiles"] as JsonObject;
            var url = (created?["files"] as JsonArray)?.OfType<JsonObject>().FirstOrDefault(f => Str(f, "name") == path) is { } file ? Str(file, "uploadUrl") : null;
            if (url is null || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http"))
            {
                EngineLog.Verbose(Source, () => $"not saving the error log of {itemId}: the server gave no upload URL");
                return null;
            }
            var headers = (created?["uploadHeaders"] as JsonArray)?.Select(h => h is JsonValue v && v.TryGetValue<string>(out var s) ? s : null).OfType<string>() ?? [];
            await _client.UploadAsync(uri, Encoding.UTF8.GetBytes(text), headers, cancellationToken).ConfigureAwait(false);
            return new JsonArray(path);
        }
        catch (Errors.LaunchException e)
        {
            EngineLog.Verbose(Source, () => $"failed to save the error log of {itemId}: {e.Message}");
            return null;
        }
    }

    /// <summary>A job's record on this host, for a restarted agent to re-attach; failing to write it does not fail the job.</summary>
    private void Record(string itemId, string agentId, string? handle)
    {
        if (!_held.TryGetValue(itemId, out var job)) return;
        try
        {
            RecordsFor(job.Entity).Write(job, agentId, handle);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            EngineLog.Verbose(Source, () => $"could not record {itemId} on this host (a restarted agent will not re-attach to it): {Printable.Escape(e.Message)}");
        }
    }

    private void ForgetRecord(LaunchJob? job, string itemId)
    {
        if (job is null) return;
        RecordsFor(job.Entity).Delete(itemId);
    }
    // ---- the runs of listed items (Get-WandbLaunchJob, Wait-WandbLaunchJob) and stopping a running item

    /// <summary>How many runs one RunStates request asks for at most (the SDK's page of runs is 50).</summary>
    private const int RunStatesPerRequest = 50;

    /// <summary>
    /// A W&amp;B item says only PENDING, LEASED, CLAIMED or FAILED; a CLAIMED item's end is its run's: <c>finished</c> →
    /// Finished, <c>failed</c>/<c>crashed</c> → Failed, <c>killed</c> (or any end of a run stopped in the app) → Stopped;
    /// a run stopped but still running is Running with its stop requested. The runs are read in one request per
    /// listing (<see cref="WandbOperations.RunStates"/>). Each job also gets its log path when an agent on this host
    /// wrote its log there.
    /// </summary>
    private async Task<List<LaunchJob>> WithRunStatesAsync(List<LaunchJob> jobs, CancellationToken cancellationToken)
    {
        var claimed = jobs
            .Where(j => j.State == LaunchJobState.Running && j.RunId.Length > 0)
            .Select(j => (Job: j, Run: RunOf(_held.TryGetValue(j.Id, out var held) ? held : j)))
            .Where(x => x.Run is not null)
            .ToList();
        var runs = new Dictionary<(string Entity, string Project, string Name), (string? State, bool Stopped)>();
        foreach (var chunk in claimed.Select(x => (x.Run!.Value.Entity, x.Run!.Value.Project, x.Job.RunId)).Distinct().Chunk(RunStatesPerRequest))
        {
            try
            {
                await ReadRunStatesAsync(chunk, runs, cancellationToken).ConfigureAwait(false);
            }
            catch (WandbServerException e)
            {
                // The item states stand: a listing is still useful without its runs' ends.
                EngineLog.Verbose(Source, () => $"could not read the state of {chunk.Length} run(s); showing their items' states only: {e.Message}");
            }
        }
        var result = new List<LaunchJob>(jobs.Count);
        foreach (var job in jobs)
        {
            var state = job.State;
            var stopRequested = job.StopRequested;
            string? failure = null;
            if (state == LaunchJobState.Running && RunOf(_held.TryGetValue(job.Id, out var held) ? held : job) is { } where
                && runs.TryGetValue((where.Entity, where.Project, job.RunId), out var run))
            {
                (state, stopRequested, failure) = Combined(job.RunId, run.State, run.Stopped);
            }
            var log = job.LogPath ?? (JobLogPath.Of(job, LogDirectory) is { } path && File.Exists(path) ? path : null);
            result.Add(state == job.State && stopRequested == job.StopRequested && log == job.LogPath ? job : job with
            {
                State = state,
                StopRequested = stopRequested,
                LogPath = log,
                FailureMessage = failure ?? job.FailureMessage,
                FailureStage = failure is null ? job.FailureStage : Jobs.FailureStage.Run,
            });
        }
        return result;
    }

    /// <summary>A CLAIMED item's state from its run's (W&amp;B's run states: running, pending, preempting, preempted, finished, failed, crashed, killed).</summary>
    internal static (LaunchJobState State, bool StopRequested, string? Failure) Combined(string runId, string? runState, bool stopped) =>
        (runState?.ToLowerInvariant(), stopped) switch
        {
            ("finished", false) => (LaunchJobState.Finished, false, null),
            ("failed", false) => (LaunchJobState.Failed, false, $"Its run {runId} failed."),
            ("crashed", false) => (LaunchJobState.Failed, false, $"Its run {runId} crashed (it stopped reporting to the server)."),
            ("killed", _) => (LaunchJobState.Stopped, true, null),
            ("finished" or "failed" or "crashed", true) => (LaunchJobState.Stopped, true, null),
            (_, var stop) => (LaunchJobState.Running, stop, null),
        };

    private async Task ReadRunStatesAsync(IReadOnlyList<(string Entity, string Project, string Name)> wanted,
        Dictionary<(string Entity, string Project, string Name), (string? State, bool Stopped)> into, CancellationToken cancellationToken)
    {
        var projects = wanted.GroupBy(r => (r.Entity, r.Project)).ToList();
        var variables = new JsonObject();
        for (var p = 0; p < projects.Count; p++)
        {
            variables[$"e{p}"] = projects[p].Key.Entity;
            variables[$"p{p}"] = projects[p].Key.Project;
            var names = projects[p].Select(r => r.Name).ToList();
            for (var r = 0; r < names.Count; r++) variables[$"n{p}_{r}"] = names[r];
        }
        var data = await ExecuteAsync("RunStates", WandbOperations.RunStates(projects.Select(g => g.Count()).ToList()), variables,
            WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false);
        for (var p = 0; p < projects.Count; p++)
        {
            var names = projects[p].Select(r => r.Name).ToList();
            for (var r = 0; r < names.Count; r++)
            {
                // A run the job has not created yet (it has not called wandb.init) is null: the item's state stands.
                if ((data[$"p{p}"] as JsonObject)?[$"r{r}"] is not JsonObject run) continue;
                into[(projects[p].Key.Entity, projects[p].Key.Project, names[r])] =
                    (Str(run, "state"), run["stopped"]?.GetValueKind() == System.Text.Json.JsonValueKind.True);
            }
        }
    }

    /// <summary>
    /// Stops a CLAIMED item as W&amp;B's app does: stopRun on its run, whose stopped flag the agent that runs the job reads
    /// (RunStoppedStatus), and then stops the job. A job without a run to stop is refused with what to do instead.
    /// </summary>
    private async Task<LaunchJob> StopRunAsync(LaunchJob job, CancellationToken cancellationToken)
    {
        if (job.RunId.Length == 0 || RunOf(_held.TryGetValue(job.Id, out var held) ? held : job) is not { } where)
        {
            throw new LaunchException("WandbRunNotWatched", LaunchErrorCategory.InvalidOperation,
                $"Job {Printable.Quote(job.Id)} is Running, but its launch spec names no project (or its run is in another entity than its queue), " +
                "so W&B's agent does not watch its run for a stop. Stop the agent that runs it (Stop-WandbLaunchAgent, or stop it in the Launch App).", job.Id);
        }
        var data = await ExecuteAsync("RunIdState", WandbOperations.RunIdState,
            new JsonObject { ["project"] = where.Project, ["entity"] = where.Entity, ["name"] = job.RunId }, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false);
        if ((data["project"] as JsonObject)?["run"] is not JsonObject run || Str(run, "id") is not { } runGid)
        {
            throw new LaunchException("WandbRunNotStarted", LaunchErrorCategory.InvalidOperation,
                $"Job {Printable.Quote(job.Id)} is Running, but its run {where.Entity}/{where.Project}/{job.RunId} does not exist on {Location} yet " +
                "(the job has not called wandb.init), and W&B stops a running job only through its run. Try again once the run exists, or stop the agent that runs it.", job.Id);
        }
        var (state, stopRequested, failure) = Combined(job.RunId, Str(run, "state"), run["stopped"]?.GetValueKind() == System.Text.Json.JsonValueKind.True);
        if (!state.IsTerminal())
        {
            var stopped = await ExecuteAsync("stopRun", WandbOperations.StopRun, new JsonObject { ["id"] = runGid }, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false);
            if ((stopped["stopRun"] as JsonObject)?["success"]?.GetValueKind() != System.Text.Json.JsonValueKind.True)
            {
                throw new WandbServerException("stopRun", 200, $"The W&B server did not stop run {where.Entity}/{where.Project}/{job.RunId} of job {Printable.Quote(job.Id)}.");
            }
            EngineLog.Verbose(Source, () => $"stopped run {where.Entity}/{where.Project}/{job.RunId}: the agent running job {job.Id} stops it when it next reads the run");
            stopRequested = true;
        }
        return job with
        {
            State = state,
            StopRequested = stopRequested,
            FailureMessage = failure,
            FailureStage = failure is null ? null : Jobs.FailureStage.Run,
        };
    }

    /// <summary>An item an agent has popped but not acknowledged has no run yet; W&amp;B stops a taken item only through its run.</summary>
    private static LaunchException NotYetStoppable(LaunchJob job) => new("WandbJobLeased", LaunchErrorCategory.InvalidOperation,
        $"Job {Printable.Quote(job.Id)} is Leased: an agent has taken it from the queue but has not started its run yet, and W&B stops a taken job " +
        "only through its run. Try again in a few seconds, once it is Running (if its agent died, the server puts it back on the queue after about " +
        "a minute, and it can then be stopped as a pending job).", job.Id);
}
