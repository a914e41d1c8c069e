using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Diagnostics;
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

    /// <summary>Where the job's run is: the spec's entity (else the queue's) and project; null when W&amp;B's agent would not look.</summary>
    private static (string Entity, string Project)? RunOf(LaunchJob job)
    {
        var spec = job.GetSpec();
        var entity = spec.Entity is { Length: > 0 } e ? e : job.Entity;
        if (spec.Project is not { Length: > 0 } project || entity != job.Entity) return null;
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
}
