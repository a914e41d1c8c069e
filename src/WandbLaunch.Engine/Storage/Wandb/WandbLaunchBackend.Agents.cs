using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Storage.Wandb;

// Agents: createLaunchAgent, launchAgent, updateLaunchAgent; stopPolling read on each heartbeat.
public sealed partial class WandbLaunchBackend
{
    /// <summary>Agents this process registered: W&amp;B has no query that lists an entity's agents.</summary>
    private readonly ConcurrentDictionary<string, LaunchAgentInfo> _agents = new();

    public async Task<LaunchAgentInfo> RegisterAgentAsync(AgentRegistration registration, CancellationToken cancellationToken)
    {
        var ids = new List<string>();
        var byProject = registration.Queues.GroupBy(q => (q.Entity, q.Project));
        foreach (var group in byProject)
        {
            var listed = await ListQueuesAsync(group.Key.Entity, group.Key.Project, WandbRetryPolicy.Agent, cancellationToken).ConfigureAwait(false);
            foreach (var key in group)
            {
                var found = listed.FirstOrDefault(q => q.Name == key.Name);
                if (found is null)
                {
                    throw QueueNotFoundException.For(key);
                }
                ids.Add(found.Id);
            }
        }
        var project = registration.Queues.FirstOrDefault()?.Project ?? LaunchDefaults.Project;
        var data = await ExecuteAsync("createLaunchAgent", WandbOperations.CreateLaunchAgent, new JsonObject
        {
            ["entity"] = registration.Entity,
            ["project"] = project,
            ["queues"] = new JsonArray(ids.Select(i => (JsonNode?)JsonValue.Create(i)).ToArray()),
            ["hostname"] = registration.Hostname,
            ["agentConfig"] = WithoutProject(registration.ConfigJson),
            ["version"] = registration.Version,
        }, WandbRetryPolicy.Agent, cancellationToken).ConfigureAwait(false);
        var id = Str(data["createLaunchAgent"] as JsonObject, "launchAgentId")
            ?? throw new WandbServerException("createLaunchAgent", 200, "The W&B server did not register the agent.");
        var now = DateTimeOffset.UtcNow;
        var info = new LaunchAgentInfo
        {
            Id = id,
            Name = registration.Name,
            Hostname = registration.Hostname,
            ProcessId = registration.ProcessId,
            Entity = registration.Entity,
            Queues = registration.Queues.Select(q => q.ToString()).ToList(),
            MaxJobs = registration.MaxJobs,
            Status = AgentStatus.Polling,
            Version = registration.Version,
            CreatedAt = now,
            HeartbeatAt = now,
        };
        _agents[id] = info;
        await InitAgentRunAsync(id, registration.Entity, cancellationToken).ConfigureAwait(false);
        return info;
    }

    /// <summary>W&amp;B's agent registers its config without <c>project</c>.</summary>
    private static string WithoutProject(string configJson)
    {
        if (JsonTree.ParseJson(configJson) is not JsonObject config) return configJson;
        config.Remove("project");
        return config.ToJsonString();
    }

    /// <summary>The agents this process registered, as the server now reports them.</summary>
    public async Task<IReadOnlyList<LaunchAgentInfo>> GetAgentsAsync(CancellationToken cancellationToken)
    {
        var agents = new List<LaunchAgentInfo>();
        foreach (var id in _agents.Keys)
        {
            if (await GetAgentAsync(id, cancellationToken).ConfigureAwait(false) is { } agent) agents.Add(agent);
        }
        return agents;
    }

    public async Task<LaunchAgentInfo?> GetAgentAsync(string id, CancellationToken cancellationToken)
    {
        var data = await ExecuteAsync("launchAgent", WandbOperations.LaunchAgent, new JsonObject { ["agentId"] = id }, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false);
        if (data["launchAgent"] is not JsonObject agent) return null;
        _agents.TryGetValue(id, out var local);
        return new LaunchAgentInfo
        {
            Id = id,
            Name = Str(agent, "name") ?? local?.Name ?? id,
            Hostname = Str(agent, "hostname") ?? local?.Hostname ?? "",
            ProcessId = local?.ProcessId ?? 0,
            Entity = local?.Entity ?? DefaultEntity,
            Queues = local?.Queues ?? [],
            MaxJobs = local?.MaxJobs ?? 0,
            Status = Str(agent, "agentStatus") ?? "",
            StopRequested = agent["stopPolling"]?.GetValueKind() == System.Text.Json.JsonValueKind.True,
            ActiveJobs = _held.Values.Count(j => j.AgentId == id),
            Version = local?.Version ?? "",
            CreatedAt = local?.CreatedAt ?? default,
            HeartbeatAt = DateTimeOffset.TryParse(Str(agent, "heartbeatAt"), out var at) ? at : local?.HeartbeatAt ?? default,
        };
    }

    /// <summary>Each agent's status as last sent, and whether a heartbeat has skipped it since: an unchanged one is sent every other beat.</summary>
    private readonly ConcurrentDictionary<string, (string Status, bool Skipped)> _statusSent = new();

    public async Task SetAgentStatusAsync(string agentId, string status, CancellationToken cancellationToken)
    {
        await ExecuteAsync("updateLaunchAgent", WandbOperations.UpdateLaunchAgent,
            new JsonObject { ["agentId"] = agentId, ["agentStatus"] = status }, WandbRetryPolicy.Agent, cancellationToken).ConfigureAwait(false);
        _statusSent[agentId] = (status, false);
    }

    /// <summary>An agent beats every <see cref="PollCadence.Heartbeat"/> (10 s) and reads stopPolling each time.</summary>
    public PollCadence Cadence => PollCadence.Wandb;

    /// <summary>
    /// One heartbeat as W&amp;B's agent makes its tick: launchAgent for stopPolling every beat, and updateLaunchAgent
    /// (RUNNING while it holds jobs, else POLLING) when the status changed or on every second beat (W&amp;B's agent sends
    /// it every second tick). W&amp;B has no leases to renew and no per-job stop flags here (a stopped run is seen through the run).
    /// </summary>
    public async Task<Heartbeat> HeartbeatAsync(string agentId, TimeSpan lease, CancellationToken cancellationToken)
    {
        var held = _held.Values.Where(j => j.AgentId == agentId).Select(j => j.Id).ToList();
        var status = held.Count > 0 ? AgentStatus.Running : AgentStatus.Polling;
        if (_statusSent.TryGetValue(agentId, out var sent) && sent.Status == status && !sent.Skipped)
        {
            _statusSent[agentId] = (status, true);
        }
        else
        {
            await SetAgentStatusAsync(agentId, status, cancellationToken).ConfigureAwait(false);
        }
        var data = await ExecuteAsync("launchAgent", WandbOperations.LaunchAgent, new JsonObject { ["agentId"] = agentId }, WandbRetryPolicy.Agent, cancellationToken).ConfigureAwait(false);
        var stop = (data["launchAgent"] as JsonObject)?["stopPolling"]?.GetValueKind() == System.Text.Json.JsonValueKind.True;
        return new Heartbeat(stop, [], held, LeaveJobsRunning: stop);
    }

    public Task RequestAgentStopAsync(string agentId, CancellationToken cancellationToken, bool leaveJobsRunning = false) =>
        throw NotOnWandb("Stopping an agent from PowerShell", "Stop it in the Launch App (it sets stopPolling), or stop its process.");
}
