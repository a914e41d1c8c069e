using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.FileSystem;
using WandbLaunch.Engine.Identifiers;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Storage.Sqlite;

/// <summary>The local store: one SQLite file shared safely by every pwsh process and agent on the host.</summary>
public sealed partial class SqliteLaunchBackend : ILaunchBackend
{
    private readonly SqliteDatabase _db;
    private readonly SqliteChangeWatcher _changes;
    private readonly string? _defaultEntity;

    /// <param name="path">The store file.</param>
    /// <param name="defaultEntity">
    /// The entity used when a caller names none; null means WANDB_ENTITY, else the local user name, read at each use.
    /// </param>
    public SqliteLaunchBackend(string path, string? defaultEntity = null)
        : this(path, defaultEntity, SqliteDatabase.DefaultBusyTimeout)
    {
    }

    /// <summary>A backend whose statements wait at most <paramref name="busyTimeout"/> for another process's lock (tests use a short one).</summary>
    internal SqliteLaunchBackend(string path, string? defaultEntity, TimeSpan busyTimeout)
    {
        _db = new SqliteDatabase(Path.GetFullPath(UserHome.Expand(path)), busyTimeout);
        _changes = new SqliteChangeWatcher(_db);
        _defaultEntity = defaultEntity;
    }

    public string Location => _db.Path;

    public string DefaultEntity => _defaultEntity ?? LaunchDefaults.Entity();

    public string LogDirectory => Path.Combine(Path.GetDirectoryName(_db.Path)!, "logs");

    /// <summary>Opens the store now (creating or migrating it), so that a bad path fails at connect time.</summary>
    public void EnsureOpen()
    {
        using var _ = _db.Rent();
        EngineLog.Verbose("store", () => $"local store {Printable.Quote(_db.Path)} is open");
    }

    private const string QueueDefinitionColumns =
        "q.id, q.entity, q.project, q.name, q.resource, q.config, q.template_vars, q.prioritization, q.access, q.created_by, q.created_at, q.updated_at";

    private const string QueueColumns = QueueDefinitionColumns + ", " +
        "(SELECT count(*) FROM items i WHERE i.queue_id = q.id AND i.state = 'Pending'), " +
        "(SELECT count(*) FROM items i WHERE i.queue_id = q.id AND i.state IN ('Leased', 'Starting', 'Running'))";

    public Task<LaunchQueue> CreateQueueAsync(QueueDefinition definition, CancellationToken cancellationToken)
    {
        var checkedDef = QueueRules.Check(definition.Name, definition.Resource, definition.Configuration, definition.TemplateVariables);
        var now = Clock.NowMs();
        return Task.FromResult(Write(cancellationToken, (connection, tx) =>
        {
            var key = new QueueKey(definition.Entity, definition.Project, checkedDef.Name);
            if (FindQueueId(connection, tx, key) is not null)
            {
                throw new LaunchException("QueueExists", LaunchErrorCategory.ResourceExists,
                    $"A queue named '{checkedDef.Name}' already exists in {definition.Entity}/{definition.Project}. Use Set-WandbLaunchQueue to change it, or choose another name.",
                    checkedDef.Name);
            }
            var cmd = Command(connection, tx, """
                INSERT INTO queues (id, entity, project, name, resource, config, template_vars, prioritization, access, created_by, created_at, updated_at)
                VALUES ($id, $entity, $project, $name, $resource, $config, $vars, $prio, $access, $by, $now, $now)
                """);
            var id = Ids.New("q");
            cmd.Parameters.AddWithValue("$id", id);
            cmd.Parameters.AddWithValue("$entity", definition.Entity);
            cmd.Parameters.AddWithValue("$project", definition.Project);
            cmd.Parameters.AddWithValue("$name", checkedDef.Name);
            cmd.Parameters.AddWithValue("$resource", checkedDef.Resource);
            cmd.Parameters.AddWithValue("$config", JsonTree.ToJson(checkedDef.Config));
            cmd.Parameters.AddWithValue("$vars", JsonTree.ToJson(QueueRules.VariablesToJson(checkedDef.Variables)));
            cmd.Parameters.AddWithValue("$prio", definition.Prioritization ? 1 : 0);
            cmd.Parameters.AddWithValue("$access", definition.Access.ToString());
            cmd.Parameters.AddWithValue("$by", (object?)definition.CreatedBy ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$now", now);
            cmd.ExecuteNonQuery();
            return ReadQueue(connection, tx, id)!;
        }));
    }

    public Task<IReadOnlyList<LaunchQueue>> GetQueuesAsync(string? entity, string? project, CancellationToken cancellationToken)
    {
        return Task.FromResult(Read<IReadOnlyList<LaunchQueue>>(connection =>
        {
            var cmd = Command(connection, null,
                $"SELECT {QueueColumns} FROM queues q WHERE ($entity IS NULL OR q.entity = $entity) AND ($project IS NULL OR q.project = $project) ORDER BY q.entity, q.project, q.name");
            cmd.Parameters.AddWithValue("$entity", (object?)entity ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$project", (object?)project ?? DBNull.Value);
            return ReadQueues(cmd);
        }));
    }

    public Task<LaunchQueue?> GetQueueAsync(QueueKey key, CancellationToken cancellationToken)
    {
        return Task.FromResult(Read(connection => FindQueueId(connection, null, key) is { } id ? ReadQueue(connection, null, id) : null));
    }

    public Task<LaunchQueue> UpdateQueueAsync(QueueKey key, QueueUpdate update, CancellationToken cancellationToken)
    {
        return Task.FromResult(Write(cancellationToken, (connection, tx) =>
        {
            var id = FindQueueId(connection, tx, key) ?? throw QueueNotFoundException.For(key);
            var current = ReadQueue(connection, tx, id)!;
            var name = update.NewName ?? current.Name;
            var config = update.ConfigurationGiven ? update.Configuration : current.ResourceConfig;
            var vars = update.TemplateVariables ?? QueueRules.VariablesToJson(current.TemplateVariables);
            var checkedDef = QueueRules.Check(name, current.Resource, config, vars);
            if (update.NewName is not null && update.NewName != current.Name &&
                FindQueueId(connection, tx, key with { Name = update.NewName }) is not null)
            {
                throw new LaunchException("QueueExists", LaunchErrorCategory.ResourceExists,
                    $"Cannot rename '{current.Name}' to '{update.NewName}': a queue by that name already exists in {key.Entity}/{key.Project}.", update.NewName);
            }
            var cmd = Command(connection, tx, """
                UPDATE queues SET name = $name, config = $config, template_vars = $vars, prioritization = $prio, access = $access, updated_at = $now
                WHERE id = $id
                """);
            cmd.Parameters.AddWithValue("$id", id);
            cmd.Parameters.AddWithValue("$name", checkedDef.Name);
            cmd.Parameters.AddWithValue("$config", JsonTree.ToJson(checkedDef.Config));
            cmd.Parameters.AddWithValue("$vars", JsonTree.ToJson(QueueRules.VariablesToJson(checkedDef.Variables)));
            cmd.Parameters.AddWithValue("$prio", (update.Prioritization ?? current.Prioritization) ? 1 : 0);
            cmd.Parameters.AddWithValue("$access", (update.Access ?? current.Access).ToString());
            cmd.Parameters.AddWithValue("$now", Clock.NowMs());
            cmd.ExecuteNonQuery();
            return ReadQueue(connection, tx, id)!;
        }));
    }

    public Task DeleteQueueAsync(QueueKey key, bool force, CancellationToken cancellationToken)
    {
        var logs = Write(cancellationToken, (connection, tx) =>
        {
            var id = FindQueueId(connection, tx, key) ?? throw QueueNotFoundException.For(key);
            var active = Command(connection, tx, "SELECT count(*) FROM items WHERE queue_id = $id AND state IN ('Leased', 'Starting', 'Running')");
            active.Parameters.AddWithValue("$id", id);
            var count = (long)active.ExecuteScalar()!;
            if (count > 0 && !force)
            {
                throw new LaunchException("QueueHasActiveJobs", LaunchErrorCategory.InvalidOperation,
                    $"Queue '{key.Name}' has {count} job(s) that agents are running. Stop them first (Get-WandbLaunchJob -Queue '{key.Name}' -State Running | Stop-WandbLaunchJob), or use -Force to delete the queue anyway.",
                    key.Name);
            }
            var paths = new List<string?>();
            var read = Command(connection, tx, "SELECT log_path FROM items WHERE queue_id = $id AND log_path IS NOT NULL");
            read.Parameters.AddWithValue("$id", id);
            using (var reader = read.ExecuteReader())
            {
                while (reader.Read()) paths.Add(reader.GetString(0));
            }
            var cmd = Command(connection, tx, "DELETE FROM queues WHERE id = $id");
            cmd.Parameters.AddWithValue("$id", id);
            cmd.ExecuteNonQuery();
            return paths;
        });
        DeleteLogs(logs);
        return Task.CompletedTask;
    }

    private static string? FindQueueId(SqliteConnection connection, SqliteTransaction? tx, QueueKey key)
    {
        var cmd = Command(connection, tx, "SELECT id FROM queues WHERE entity = $e AND project = $p AND name = $n");
        cmd.Parameters.AddWithValue("$e", key.Entity);
        cmd.Parameters.AddWithValue("$p", key.Project);
        cmd.Parameters.AddWithValue("$n", key.Name);
        return cmd.ExecuteScalar() as string;
    }

    /// <summary>
    /// A queue's definition without its job counts (PendingCount and ActiveCount stay 0): counting costs time in
    /// proportion to the queue's items, which a push, for one, does not need.
    /// </summary>
    private LaunchQueue? ReadQueueDefinition(SqliteConnection connection, SqliteTransaction? tx, QueueKey key)
    {
        var cmd = Command(connection, tx, $"SELECT {QueueDefinitionColumns} FROM queues q WHERE q.entity = $e AND q.project = $p AND q.name = $n");
        cmd.Parameters.AddWithValue("$e", key.Entity);
        cmd.Parameters.AddWithValue("$p", key.Project);
        cmd.Parameters.AddWithValue("$n", key.Name);
        return ReadQueues(cmd).FirstOrDefault();
    }

    private LaunchQueue? ReadQueue(SqliteConnection connection, SqliteTransaction? tx, string id)
    {
        var cmd = Command(connection, tx, $"SELECT {QueueColumns} FROM queues q WHERE q.id = $id");
        cmd.Parameters.AddWithValue("$id", id);
        return ReadQueues(cmd).FirstOrDefault();
    }

    private List<LaunchQueue> ReadQueues(SqliteCommand cmd)
    {
        var list = new List<LaunchQueue>();
        using var reader = cmd.ExecuteReader();
        while (reader.Read())
        {
            list.Add(new LaunchQueue
            {
                QueueId = reader.GetString(0),
                Entity = reader.GetString(1),
                Project = reader.GetString(2),
                Name = reader.GetString(3),
                Resource = reader.GetString(4),
                ResourceConfig = JsonNode.Parse(reader.GetString(5)) as JsonObject ?? new JsonObject(),
                TemplateVariables = QueueRules.ReadVariables(JsonNode.Parse(reader.GetString(6)) as JsonObject),
                Prioritization = reader.GetInt64(7) != 0,
                Access = Enum.Parse<QueueAccess>(reader.GetString(8)),
                CreatedBy = reader.IsDBNull(9) ? null : reader.GetString(9),
                CreatedAt = Clock.FromMs(reader.GetInt64(10)),
                UpdatedAt = Clock.FromMs(reader.GetInt64(11)),
                PendingCount = reader.FieldCount > 12 ? reader.GetInt32(12) : 0,
                ActiveCount = reader.FieldCount > 13 ? reader.GetInt32(13) : 0,
                Store = Location,
            });
        }
        return list;
    }

    /// <summary>The connection's cached prepared command for <paramref name="sql"/>; never dispose it (see <see cref="SqliteDatabase.Command"/>).</summary>
    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? tx, string sql) =>
        SqliteDatabase.Command(connection, tx, sql);

    /// <summary>Runs <paramref name="work"/> in one IMMEDIATE transaction (the write lock is taken up front, so no upgrade deadlocks).</summary>
    internal T Write<T>(CancellationToken cancellationToken, Func<SqliteConnection, SqliteTransaction, T> work, [CallerMemberName] string operation = "")
    {
        cancellationToken.ThrowIfCancellationRequested();
        var start = StoreDiagnostics.Start();
        using var lease = _db.Rent();
        SqliteTransaction? tx = null;
        try
        {
            var connection = lease.Connection;
            tx = connection.BeginTransaction(deferred: false);
            if (start != 0) StoreDiagnostics.LockTaken(_db.Path, start);
            var result = work(connection, tx);
            var otherCommitPending = _changes.BeforeLocalCommit();
            tx.Commit();
            _changes.AfterLocalCommit(otherCommitPending);
            if (start != 0) StoreDiagnostics.Done("write", operation, start);
            return result;
        }
        catch (SqliteException e)
        {
            lease.Break();
            throw _db.Translate(e);
        }
        finally
        {
            DisposeAfterFailure(tx);
        }
    }

    /// <summary>
    /// Ends the transaction; after SQLITE_FULL or an I/O error SQLite has already rolled it back, and the rollback
    /// the dispose attempts ("no transaction is active") must not hide the error that says what happened.
    /// </summary>
    private static void DisposeAfterFailure(SqliteTransaction? tx)
    {
        try
        {
            tx?.Dispose();
        }
        catch (SqliteException)
        {
        }
    }

    internal T Read<T>(Func<SqliteConnection, T> work, [CallerMemberName] string operation = "")
    {
        var start = StoreDiagnostics.Start();
        using var lease = _db.Rent();
        try
        {
            var result = work(lease.Connection);
            if (start != 0) StoreDiagnostics.Done("read", operation, start);
            return result;
        }
        catch (SqliteException e)
        {
            lease.Break();
            throw _db.Translate(e);
        }
    }

    public Task CheckStoreFileAsync(CancellationToken cancellationToken)
    {
        _db.CheckFile();
        return Task.CompletedTask;
    }

    public Task WaitForChangeAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        _changes.WaitAsync(timeout, cancellationToken);

    public void Dispose()
    {
        _changes.Dispose();
        _db.Dispose();
    }
}
