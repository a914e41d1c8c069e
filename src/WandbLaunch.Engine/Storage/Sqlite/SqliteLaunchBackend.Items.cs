using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Identifiers;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Storage.Sqlite;

/// <summary>Queue items: push, pop with leases, the job lifecycle and recovery from dead agents.</summary>
public sealed partial class SqliteLaunchBackend
{
    private const string ActiveStates = "('Leased', 'Starting', 'Running')";

    private const string JobColumns =
        "i.id, q.name, q.entity, q.project, q.resource, i.state, i.priority, i.attempts, i.run_id, i.spec, i.agent_id, i.handle, " +
        "i.exit_code, i.failure_message, i.failure_stage, i.warnings, i.stop_requested, i.log_path, i.created_at, i.leased_at, " +
        "i.started_at, i.finished_at, i.lease_expires, i.resume";

    public Task<LaunchJob> PushAsync(QueueKey queue, PushRequest request, CancellationToken cancellationToken)
    {
        return Task.FromResult(Write(cancellationToken, (connection, tx) =>
        {
            var current = ReadQueueDefinition(connection, tx, queue) ?? throw QueueNotFoundException.For(queue);
            var queueId = current.QueueId;
            var item = LaunchSpecRules.Prepare(current, request);
            var id = Ids.New("item");
            var now = Clock.NowMs();
            var cmd = Command(connection, tx, """
                INSERT INTO items (id, queue_id, state, priority, spec, template_values, run_id, created_at, updated_at)
                VALUES ($id, $queue, 'Pending', $priority, $spec, $values, $run, $now, $now)
                """);
            cmd.Parameters.AddWithValue("$id", id);
            cmd.Parameters.AddWithValue("$queue", queueId);
            cmd.Parameters.AddWithValue("$priority", (int)item.Priority);
            cmd.Parameters.AddWithValue("$spec", item.Spec.ToJson());
            cmd.Parameters.AddWithValue("$values", item.TemplateValues is null ? DBNull.Value : JsonTree.ToJson(item.TemplateValues));
            cmd.Parameters.AddWithValue("$run", item.RunId);
            cmd.Parameters.AddWithValue("$now", now);
            cmd.ExecuteNonQuery();
            // The new row is known in full: build the job from it instead of reading it back (a join and a JSON parse).
            return LaunchJob.NewPending(current, id, item, Clock.FromMs(now));
        }));
    }


    public Task<IReadOnlyList<LaunchJob>> GetJobsAsync(JobQuery query, CancellationToken cancellationToken)
    {
        return Task.FromResult(Read<IReadOnlyList<LaunchJob>>(connection =>
        {
            var where = new List<string>();
            using var cmd = connection.CreateCommand();
            if (query.Queue is { } key)
            {
                var queueId = FindQueueId(connection, null, key) ?? throw QueueNotFoundException.For(key);
                where.Add("i.queue_id = $queue");
                cmd.Parameters.AddWithValue("$queue", queueId);
            }
            if (query.Ids is { Count: > 0 } ids)
            {
                where.Add($"i.id IN ({string.Join(", ", ids.Select((_, n) => $"$id{n}"))})");
                var n = 0;
                foreach (var id in ids) cmd.Parameters.AddWithValue($"$id{n++}", id);
            }
            if (query.States is { Count: > 0 } states)
            {
                where.Add($"i.state IN ({string.Join(", ", states.Select(s => $"'{s}'"))})");
            }
            if (query.AgentId is { } agent)
            {
                where.Add("i.agent_id = $agent");
                cmd.Parameters.AddWithValue("$agent", agent);
            }
            cmd.CommandText = $"SELECT {JobColumns} FROM items i JOIN queues q ON q.id = i.queue_id" +
                              (where.Count > 0 ? " WHERE " + string.Join(" AND ", where) : "") +
                              " ORDER BY i.seq" + (query.Limit is { } limit ? $" DESC LIMIT {limit}" : "");
            var jobs = ReadJobs(cmd);
            if (query.Limit is not null) jobs.Reverse();
            return jobs;
        }));
    }

    public Task<LaunchJob?> GetJobAsync(string id, CancellationToken cancellationToken) =>
        Task.FromResult(Read(connection => ReadJob(connection, null, id)));

    public Task<LaunchJob?> PopAsync(string agentId, QueueKey queue, TimeSpan lease, CancellationToken cancellationToken)
    {
        // A read first: an idle agent polling an empty queue never takes the write lock. Two EXISTS, each an
        // equality on items_queue (queue_id, state), so the check never walks the queue's finished history.
        var candidate = Read<(string Id, bool Prioritized, bool Expired)?>(connection =>
        {
            var cmd = Command(connection, null, """
                SELECT q.id, q.prioritization,
                       EXISTS (SELECT 1 FROM items i WHERE i.queue_id = q.id AND i.state = 'Pending'),
                       EXISTS (SELECT 1 FROM items i WHERE i.queue_id = q.id AND i.state = 'Leased' AND i.lease_expires < $now)
                FROM queues q WHERE q.entity = $e AND q.project = $p AND q.name = $n
                """);
            cmd.Parameters.AddWithValue("$e", queue.Entity);
            cmd.Parameters.AddWithValue("$p", queue.Project);
            cmd.Parameters.AddWithValue("$n", queue.Name);
            cmd.Parameters.AddWithValue("$now", Clock.NowMs());
            using var reader = cmd.ExecuteReader();
            if (!reader.Read()) throw QueueNotFoundException.For(queue);
            var pending = reader.GetInt64(2) != 0;
            var expired = reader.GetInt64(3) != 0;
            return pending || expired ? (reader.GetString(0), reader.GetInt64(1) != 0, expired) : null;
        });
        if (candidate is null) return Task.FromResult<LaunchJob?>(null);

        return Task.FromResult(Write(cancellationToken, (connection, tx) =>
        {
            var now = Clock.NowMs();
            // Leases that expire after the read are released by a later pop (an agent pops at least every poll).
            if (candidate.Value.Expired) ReleaseExpiredLeases(connection, tx, candidate.Value.Id, now);
            // One statement takes the next item: FIFO by seq (the rowid, so items_queue already yields that order)
            // or by priority then seq (items_pending).
            var take = Command(connection, tx, $"""
                UPDATE items SET state = 'Leased', agent_id = $agent, lease_expires = $expires, attempts = attempts + 1,
                                 leased_at = $now, updated_at = $now
                WHERE seq = (SELECT seq FROM items WHERE queue_id = $q AND state = 'Pending' ORDER BY {(candidate.Value.Prioritized ? "priority, seq" : "seq")} LIMIT 1)
                RETURNING id
                """);
            take.Parameters.AddWithValue("$agent", agentId);
            take.Parameters.AddWithValue("$expires", now + (long)lease.TotalMilliseconds);
            take.Parameters.AddWithValue("$now", now);
            take.Parameters.AddWithValue("$q", candidate.Value.Id);
            return take.ExecuteScalar() is string id ? ReadJob(connection, tx, id) : null;
        }));
    }

    /// <summary>Items leased by an agent that died before starting them go back to Pending (or Stopped, if a stop was asked for).</summary>
    private static void ReleaseExpiredLeases(SqliteConnection connection, SqliteTransaction tx, string queueId, long now)
    {
        var cmd = Command(connection, tx, """
            UPDATE items SET state = CASE WHEN stop_requested = 1 THEN 'Stopped' ELSE 'Pending' END,
                             finished_at = CASE WHEN stop_requested = 1 THEN $now ELSE NULL END,
                             agent_id = NULL, lease_expires = NULL, updated_at = $now
            WHERE queue_id = $q AND state = 'Leased' AND lease_expires < $now
            """);
        cmd.Parameters.AddWithValue("$q", queueId);
        cmd.Parameters.AddWithValue("$now", now);
        cmd.ExecuteNonQuery();
    }

    public Task<LaunchJob> AckAsync(string itemId, string agentId, string logPath, CancellationToken cancellationToken)
    {
        return Task.FromResult(Write(cancellationToken, (connection, tx) =>
        {
            var cmd = Command(connection, tx,
                "UPDATE items SET state = 'Starting', log_path = $log, updated_at = $now WHERE id = $id AND agent_id = $agent AND state = 'Leased'");
            cmd.Parameters.AddWithValue("$log", logPath);
            cmd.Parameters.AddWithValue("$now", Clock.NowMs());
            cmd.Parameters.AddWithValue("$id", itemId);
            cmd.Parameters.AddWithValue("$agent", agentId);
            if (cmd.ExecuteNonQuery() == 0) throw LeaseLost(itemId);
            return ReadJob(connection, tx, itemId)!;
        }));
    }

    public Task MarkLaunchingAsync(string itemId, string agentId, CancellationToken cancellationToken) =>
        UpdateHeld(itemId, agentId, "started_at = coalesce(started_at, $now), updated_at = $now", cancellationToken);

    public Task MarkRunningAsync(string itemId, string agentId, string handle, CancellationToken cancellationToken) =>
        UpdateHeld(itemId, agentId, "state = 'Running', handle = $handle, started_at = coalesce(started_at, $now), updated_at = $now", cancellationToken,
            values: ("$handle", handle));

    public Task FinishAsync(string itemId, string agentId, JobOutcome outcome, CancellationToken cancellationToken)
    {
        if (!outcome.State.IsTerminal()) throw new ArgumentException($"{outcome.State} is not a final state.", nameof(outcome));
        return UpdateHeld(itemId, agentId, """
            state = $state, exit_code = $code, failure_message = $message, failure_stage = $stage,
            finished_at = $now, lease_expires = NULL, updated_at = $now
            """, cancellationToken,
            values: [("$state", outcome.State.ToString()), ("$code", outcome.ExitCode), ("$message", outcome.Message), ("$stage", outcome.Stage)]);
    }

    public Task WarnAsync(string itemId, string stage, string message, CancellationToken cancellationToken)
    {
        Write(cancellationToken, (connection, tx) =>
        {
            AppendWarning(connection, tx, itemId, stage, message);
            return 0;
        });
        return Task.CompletedTask;
    }

    private static void AppendWarning(SqliteConnection connection, SqliteTransaction tx, string itemId, string stage, string message)
    {
        var read = Command(connection, tx, "SELECT warnings FROM items WHERE id = $id");
        read.Parameters.AddWithValue("$id", itemId);
        var list = read.ExecuteScalar() is string json ? JsonNode.Parse(json) as JsonArray ?? new JsonArray() : new JsonArray();
        list.Add(new JsonObject { ["time"] = Clock.NowMs(), ["stage"] = stage, ["message"] = message });
        var cmd = Command(connection, tx, "UPDATE items SET warnings = $w, updated_at = $now WHERE id = $id");
        cmd.Parameters.AddWithValue("$w", list.ToJsonString());
        cmd.Parameters.AddWithValue("$now", Clock.NowMs());
        cmd.Parameters.AddWithValue("$id", itemId);
        cmd.ExecuteNonQuery();
    }

    // The warning is written in the same transaction: no agent pops the item before it says why it came back.
    public Task RequeueAsync(string itemId, string agentId, string reason, CancellationToken cancellationToken) =>
        UpdateHeld(itemId, agentId, """
            state = CASE WHEN stop_requested = 1 THEN 'Stopped' ELSE 'Pending' END,
            finished_at = CASE WHEN stop_requested = 1 THEN $now ELSE NULL END,
            agent_id = NULL, lease_expires = NULL, handle = NULL,
            resume = CASE WHEN started_at IS NULL THEN resume ELSE 1 END,
            updated_at = $now
            """, cancellationToken, then: (connection, tx) => AppendWarning(connection, tx, itemId, FailureStage.Agent, reason));

    public Task ReleaseAsync(string itemId, string agentId, CancellationToken cancellationToken) =>
        UpdateHeld(itemId, agentId, "lease_expires = 0, updated_at = $now", cancellationToken, states: "('Starting', 'Running')");

    /// <summary>
    /// <c>UPDATE items SET <paramref name="set"/></c> on an item <paramref name="agentId"/> holds in one of
    /// <paramref name="states"/> (with <c>$now</c>, <c>$id</c> and <c>$agent</c> bound, and <paramref name="values"/>; null
    /// binds NULL), then <paramref name="then"/> in the same transaction; throws JobLeaseLost when the agent no longer holds it.
    /// </summary>
    private Task UpdateHeld(string itemId, string agentId, string set, CancellationToken cancellationToken, string states = ActiveStates,
        Action<SqliteConnection, SqliteTransaction>? then = null, params (string Name, object? Value)[] values)
    {
        Write(cancellationToken, (connection, tx) =>
        {
            var cmd = Command(connection, tx, $"UPDATE items SET {set} WHERE id = $id AND agent_id = $agent AND state IN {states}");
            foreach (var (name, value) in values) cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$now", Clock.NowMs());
            cmd.Parameters.AddWithValue("$id", itemId);
            cmd.Parameters.AddWithValue("$agent", agentId);
            if (cmd.ExecuteNonQuery() == 0) throw LeaseLost(itemId);
            then?.Invoke(connection, tx);
            return 0;
        });
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<LaunchJob>> ClaimOrphansAsync(string agentId, IReadOnlyList<QueueKey> queues, TimeSpan lease, CancellationToken cancellationToken)
    {
        return Task.FromResult(Write<IReadOnlyList<LaunchJob>>(cancellationToken, (connection, tx) =>
        {
            var claimed = new List<LaunchJob>();
            var now = Clock.NowMs();
            foreach (var queue in queues)
            {
                if (FindQueueId(connection, tx, queue) is not { } queueId) continue;
                ReleaseExpiredLeases(connection, tx, queueId, now);
                // The agents that held them, read first: the claim replaces them, and the new holder reports them.
                var previous = new Dictionary<string, string?>(StringComparer.Ordinal);
                using (var find = Command(connection, tx,
                           "SELECT id, agent_id FROM items WHERE queue_id = $q AND state IN ('Starting', 'Running') AND lease_expires < $now"))
                {
                    find.Parameters.AddWithValue("$q", queueId);
                    find.Parameters.AddWithValue("$now", now);
                    using var reader = find.ExecuteReader();
                    while (reader.Read()) previous[reader.GetString(0)] = reader.IsDBNull(1) ? null : reader.GetString(1);
                }
                foreach (var (id, previousAgent) in previous)
                {
                    var cmd = Command(connection, tx, "UPDATE items SET agent_id = $agent, lease_expires = $expires, updated_at = $now WHERE id = $id");
                    cmd.Parameters.AddWithValue("$agent", agentId);
                    cmd.Parameters.AddWithValue("$expires", now + (long)lease.TotalMilliseconds);
                    cmd.Parameters.AddWithValue("$now", now);
                    cmd.Parameters.AddWithValue("$id", id);
                    cmd.ExecuteNonQuery();
                    var job = ReadJob(connection, tx, id)!;
                    job.PreviousAgentId = previousAgent;
                    claimed.Add(job);
                }
            }
            return claimed;
        }));
    }

    public Task<LaunchJob> RequestStopAsync(string itemId, CancellationToken cancellationToken)
    {
        return Task.FromResult(Write(cancellationToken, (connection, tx) =>
        {
            var job = ReadJob(connection, tx, itemId) ?? throw JobNotFound(itemId);
            var now = Clock.NowMs();
            if (job.State == LaunchJobState.Pending)
            {
                var cmd = Command(connection, tx, """
                    UPDATE items SET state = 'Stopped', stop_requested = 1, failure_message = 'Stopped before an agent took it.',
                                     finished_at = $now, updated_at = $now
                    WHERE id = $id AND state = 'Pending'
                    """);
                cmd.Parameters.AddWithValue("$now", now);
                cmd.Parameters.AddWithValue("$id", itemId);
                cmd.ExecuteNonQuery();
            }
            else if (job.State.IsActive())
            {
                var cmd = Command(connection, tx, "UPDATE items SET stop_requested = 1, updated_at = $now WHERE id = $id");
                cmd.Parameters.AddWithValue("$now", now);
                cmd.Parameters.AddWithValue("$id", itemId);
                cmd.ExecuteNonQuery();
            }
            return ReadJob(connection, tx, itemId)!;
        }));
    }

    public Task RemoveJobAsync(string itemId, CancellationToken cancellationToken)
    {
        var log = Write(cancellationToken, (connection, tx) =>
        {
            var job = ReadJob(connection, tx, itemId) ?? throw JobNotFound(itemId);
            if (!job.State.IsTerminal())
            {
                throw new LaunchException("JobActive", LaunchErrorCategory.InvalidOperation,
                    $"Job {itemId} is {job.State}; only finished, failed or stopped jobs can be removed. Stop it first with Stop-WandbLaunchJob.", itemId);
            }
            var cmd = Command(connection, tx, "DELETE FROM items WHERE id = $id");
            cmd.Parameters.AddWithValue("$id", itemId);
            cmd.ExecuteNonQuery();
            return job.LogPath;
        });
        DeleteLogs([log]);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Deletes the logs of removed jobs, once the removal is committed; a log that cannot be deleted stays, and so does
    /// any file outside the log directory that a stored log path names (an older version's store is not trusted).
    /// </summary>
    private void DeleteLogs(IEnumerable<string?> paths)
    {
        foreach (var path in paths.OfType<string>())
        {
            if (!FileSystem.ContainedPath.Contains(LogDirectory, path)) continue;
            try
            {
                JobLog.Delete(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    internal static LaunchException JobNotFound(string id) =>
        LaunchException.NotFound("JobNotFound", $"There is no job with id '{id}'. Get-WandbLaunchJob lists the jobs.", id);

    private static JobLeaseLostException LeaseLost(string id) => new(id);

    private LaunchJob? ReadJob(SqliteConnection connection, SqliteTransaction? tx, string id)
    {
        var cmd = Command(connection, tx, $"SELECT {JobColumns} FROM items i JOIN queues q ON q.id = i.queue_id WHERE i.id = $id");
        cmd.Parameters.AddWithValue("$id", id);
        return ReadJobs(cmd).FirstOrDefault();
    }

    private static List<LaunchJob> ReadJobs(SqliteCommand cmd)
    {
        var list = new List<LaunchJob>();
        using var reader = cmd.ExecuteReader();
        while (reader.Read())
        {
            list.Add(new LaunchJob
            {
                Id = reader.GetString(0),
                Queue = reader.GetString(1),
                Entity = reader.GetString(2),
                Project = reader.GetString(3),
                Resource = reader.GetString(4),
                State = Enum.Parse<LaunchJobState>(reader.GetString(5)),
                Priority = (LaunchPriority)reader.GetInt32(6),
                Attempts = reader.GetInt32(7),
                RunId = reader.GetString(8),
                LaunchSpec = LaunchSpec.FromStored(reader.GetString(9)),
                AgentId = reader.IsDBNull(10) ? null : reader.GetString(10),
                Handle = reader.IsDBNull(11) ? null : reader.GetString(11),
                ExitCode = reader.IsDBNull(12) ? null : reader.GetInt32(12),
                FailureMessage = reader.IsDBNull(13) ? null : reader.GetString(13),
                FailureStage = reader.IsDBNull(14) ? null : reader.GetString(14),
                Warnings = reader.IsDBNull(15) ? [] : ReadWarnings(reader.GetString(15)),
                StopRequested = reader.GetInt64(16) != 0,
                LogPath = reader.IsDBNull(17) ? null : reader.GetString(17),
                CreatedAt = Clock.FromMs(reader.GetInt64(18)),
                LeasedAt = reader.IsDBNull(19) ? null : Clock.FromMs(reader.GetInt64(19)),
                StartedAt = reader.IsDBNull(20) ? null : Clock.FromMs(reader.GetInt64(20)),
                FinishedAt = reader.IsDBNull(21) ? null : Clock.FromMs(reader.GetInt64(21)),
                LeaseExpiresAt = reader.IsDBNull(22) ? null : Clock.FromMs(reader.GetInt64(22)),
                Resumed = reader.GetInt64(23) != 0,
            });
        }
        return list;
    }

    private static IReadOnlyList<JobWarning> ReadWarnings(string json) =>
        (JsonNode.Parse(json) as JsonArray ?? [])
            .OfType<JsonObject>()
            .Select(w => new JobWarning(Clock.FromMs(w["time"]!.GetValue<long>()), w["stage"]!.GetValue<string>(), w["message"]!.GetValue<string>()))
            .ToList();
}
