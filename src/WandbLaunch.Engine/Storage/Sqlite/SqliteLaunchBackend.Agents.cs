using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Identifiers;

namespace WandbLaunch.Engine.Storage.Sqlite;

/// <summary>Agents: registration, status, heartbeats that renew leases, and the stop flag.</summary>
public sealed partial class SqliteLaunchBackend
{
    private const string AgentColumns =
        "a.id, a.name, a.hostname, a.pid, a.entity, a.queues, a.max_jobs, a.status, a.stop_requested, a.version, a.created_at, a.heartbeat_at, " +
        "(SELECT count(*) FROM items i WHERE i.agent_id = a.id AND i.state IN ('Leased', 'Starting', 'Running'))";

    /// <summary>An agent that has not reported for this long is shown as unresponsive.</summary>
    public static TimeSpan UnresponsiveAfter { get; set; } = TimeSpan.FromSeconds(30);

    public Task<LaunchAgentInfo> RegisterAgentAsync(AgentRegistration registration, CancellationToken cancellationToken)
    {
        return Task.FromResult(Write(cancellationToken, (connection, tx) =>
        {
            var id = Ids.New("agent");
            var now = Clock.NowMs();
            var cmd = Command(connection, tx, """
                INSERT INTO agents (id, name, hostname, pid, entity, queues, config, max_jobs, status, version, created_at, heartbeat_at)
                VALUES ($id, $name, $host, $pid, $entity, $queues, $config, $max, 'POLLING', $version, $now, $now)
                """);
            cmd.Parameters.AddWithValue("$id", id);
            cmd.Parameters.AddWithValue("$name", registration.Name);
            cmd.Parameters.AddWithValue("$host", registration.Hostname);
            cmd.Parameters.AddWithValue("$pid", registration.ProcessId);
            cmd.Parameters.AddWithValue("$entity", registration.Entity);
            cmd.Parameters.AddWithValue("$queues", new JsonArray(registration.Queues.Select(q => (JsonNode?)JsonValue.Create(q.ToString())).ToArray()).ToJsonString());
            cmd.Parameters.AddWithValue("$config", registration.ConfigJson);
            cmd.Parameters.AddWithValue("$max", registration.MaxJobs);
            cmd.Parameters.AddWithValue("$version", registration.Version);
            cmd.Parameters.AddWithValue("$now", now);
            cmd.ExecuteNonQuery();
            return ReadAgent(connection, tx, id)!;
        }));
    }

    public Task<IReadOnlyList<LaunchAgentInfo>> GetAgentsAsync(CancellationToken cancellationToken) =>
        Task.FromResult(Read<IReadOnlyList<LaunchAgentInfo>>(connection =>
        {
            var cmd = Command(connection, null, $"SELECT {AgentColumns} FROM agents a ORDER BY a.created_at");
            return ReadAgents(cmd);
        }));

    public Task<LaunchAgentInfo?> GetAgentAsync(string id, CancellationToken cancellationToken) =>
        Task.FromResult(Read(connection => ReadAgent(connection, null, id)));

    public Task SetAgentStatusAsync(string agentId, string status, CancellationToken cancellationToken)
    {
        Write(cancellationToken, (connection, tx) =>
        {
            var cmd = Command(connection, tx, "UPDATE agents SET status = $status, heartbeat_at = $now WHERE id = $id");
            cmd.Parameters.AddWithValue("$status", status);
            cmd.Parameters.AddWithValue("$now", Clock.NowMs());
            cmd.Parameters.AddWithValue("$id", agentId);
            if (cmd.ExecuteNonQuery() == 0) throw AgentNotFound(agentId);
            return 0;
        });
        return Task.CompletedTask;
    }

    public Task<Heartbeat> HeartbeatAsync(string agentId, TimeSpan lease, CancellationToken cancellationToken)
    {
        return Task.FromResult(Write(cancellationToken, (connection, tx) =>
        {
            var now = Clock.NowMs();
            var agent = Command(connection, tx, "UPDATE agents SET heartbeat_at = $now WHERE id = $id RETURNING stop_requested");
            agent.Parameters.AddWithValue("$now", now);
            agent.Parameters.AddWithValue("$id", agentId);
            var stop = agent.ExecuteScalar() ?? throw AgentNotFound(agentId);
            var renew = Command(connection, tx,
                "UPDATE items SET lease_expires = $expires WHERE agent_id = $id AND state IN ('Leased', 'Starting', 'Running') RETURNING id, stop_requested");
            renew.Parameters.AddWithValue("$expires", now + (long)lease.TotalMilliseconds);
            renew.Parameters.AddWithValue("$id", agentId);
            var held = new List<string>();
            var toStop = new List<string>();
            using var reader = renew.ExecuteReader();
            while (reader.Read())
            {
                held.Add(reader.GetString(0));
                if (reader.GetInt64(1) != 0) toStop.Add(reader.GetString(0));
            }
            return new Heartbeat((long)stop != 0, toStop, held, (long)stop == StopLeavingJobs);
        }));
    }

    // agents.stop_requested: 0 none, 1 stop (and stop the jobs), 2 stop and leave the jobs that can run without the agent.
    private const long StopLeavingJobs = 2;

    public Task RequestAgentStopAsync(string agentId, CancellationToken cancellationToken, bool leaveJobsRunning = false)
    {
        Write(cancellationToken, (connection, tx) =>
        {
            var cmd = Command(connection, tx, "UPDATE agents SET stop_requested = $mode WHERE id = $id");
            cmd.Parameters.AddWithValue("$mode", leaveJobsRunning ? StopLeavingJobs : 1L);
            cmd.Parameters.AddWithValue("$id", agentId);
            if (cmd.ExecuteNonQuery() == 0) throw AgentNotFound(agentId);
            return 0;
        });
        return Task.CompletedTask;
    }

    internal static LaunchException AgentNotFound(string id) =>
        LaunchException.NotFound("AgentNotFound", $"There is no agent with id '{id}'. Get-WandbLaunchAgent lists the agents.", id);

    private static LaunchAgentInfo? ReadAgent(SqliteConnection connection, SqliteTransaction? tx, string id)
    {
        var cmd = Command(connection, tx, $"SELECT {AgentColumns} FROM agents a WHERE a.id = $id");
        cmd.Parameters.AddWithValue("$id", id);
        return ReadAgents(cmd).FirstOrDefault();
    }

    private static List<LaunchAgentInfo> ReadAgents(SqliteCommand cmd)
    {
        var list = new List<LaunchAgentInfo>();
        var now = DateTimeOffset.UtcNow;
        using var reader = cmd.ExecuteReader();
        while (reader.Read())
        {
            var status = reader.GetString(7);
            var heartbeat = Clock.FromMs(reader.GetInt64(11));
            list.Add(new LaunchAgentInfo
            {
                Id = reader.GetString(0),
                Name = reader.GetString(1),
                Hostname = reader.GetString(2),
                ProcessId = reader.GetInt32(3),
                Entity = reader.GetString(4),
                Queues = (JsonNode.Parse(reader.GetString(5)) as JsonArray ?? []).Select(q => q!.GetValue<string>()).ToList(),
                MaxJobs = reader.GetInt32(6),
                Status = status,
                StopRequested = reader.GetInt64(8) != 0,
                Version = reader.GetString(9),
                CreatedAt = Clock.FromMs(reader.GetInt64(10)),
                HeartbeatAt = heartbeat,
                ActiveJobs = reader.GetInt32(12),
                Unresponsive = status != AgentStatus.Killed && now - heartbeat > UnresponsiveAfter,
            });
        }
        return list;
    }
}
