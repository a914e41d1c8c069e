using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.FileSystem;

namespace WandbLaunch.Engine.Storage.Sqlite;

/// <summary>
/// Opens connections to one store file with the settings every connection needs, and brings the schema up to
/// date once per process. WAL lets readers run beside one writer; writers queue on the busy timeout.
/// <c>synchronous=NORMAL</c> in WAL mode makes a committed transaction survive the writing process being killed
/// (the WAL frames are in the OS before COMMIT returns); only an OS crash or power loss can lose the newest commits.
/// <para>
/// Connections are pooled here rather than by Microsoft.Data.Sqlite, so that the PRAGMAs run once per physical
/// connection and each connection keeps its prepared statements (<see cref="Command"/>): preparing the store's
/// wide SELECTs costs several times more than running them.
/// </para>
/// </summary>
internal sealed class SqliteDatabase : IDisposable
{
    /// <summary>How long a statement waits for another process's lock before SQLITE_BUSY: 30 s.</summary>
    public static readonly TimeSpan DefaultBusyTimeout = TimeSpan.FromSeconds(30);
    private readonly int _busyTimeoutMs;
    private const int MaxIdleConnections = 4;
    private static readonly ConditionalWeakTable<SqliteConnection, Dictionary<string, SqliteCommand>> Statements = new();
    private readonly string _connectionString;
    private readonly string _existingFileConnectionString;
    private readonly object _initLock = new();
    private readonly ConcurrentStack<SqliteConnection> _idle = new();
    private bool _initialized;
    private volatile bool _disposed;

    public SqliteDatabase(string path, TimeSpan? busyTimeout = null)
    {
        Path = path;
        _busyTimeoutMs = (int)Math.Max(1, (busyTimeout ?? DefaultBusyTimeout).TotalMilliseconds);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = Math.Max(1, _busyTimeoutMs / 1000),
        }.ToString();
        // Once the store exists, a missing file is a fault to report (SqliteStoreFile), not a new store to create
        // without its schema.
        _existingFileConnectionString = new SqliteConnectionStringBuilder(_connectionString) { Mode = SqliteOpenMode.ReadWrite }.ToString();
    }

    public string Path { get; }

    /// <summary>A connection of its own, for a caller that keeps it open (the change watcher); dispose it when done.</summary>
    public SqliteConnection Open()
    {
        EnsureInitialized();
        return OpenRaw();
    }

    /// <summary>A pooled connection for one operation; disposing the lease gives it back.</summary>
    public Lease Rent()
    {
        EnsureInitialized();
        return new Lease(this, _idle.TryPop(out var connection) ? connection : OpenRaw());
    }

    private void Return(SqliteConnection connection, bool broken)
    {
        if (broken || _disposed || connection.State != System.Data.ConnectionState.Open || _idle.Count >= MaxIdleConnections)
        {
            Close(connection);
            return;
        }
        _idle.Push(connection);
        if (_disposed) Dispose(); // Dispose ran meanwhile: drain again.
    }

    private static void Close(SqliteConnection connection)
    {
        if (Statements.TryGetValue(connection, out var cache))
        {
            Statements.Remove(connection);
            foreach (var cmd in cache.Values.ToArray()) cmd.Dispose();
        }
        connection.Dispose();
    }

    /// <summary>
    /// The connection's prepared command for <paramref name="sql"/>, with no parameters and the given transaction.
    /// The command belongs to the connection: use it before the connection goes back, and do not dispose it (a
    /// disposed one only leaves the cache, so the next use prepares the statement again).
    /// </summary>
    public static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? tx, string sql)
    {
        StoreDiagnostics.Statement(sql);
        var cache = Statements.GetOrCreateValue(connection);
        if (!cache.TryGetValue(sql, out var cmd))
        {
            cmd = connection.CreateCommand();
            cmd.CommandText = sql;
            cache[sql] = cmd;
            var cached = cmd;
            cmd.Disposed += (_, _) =>
            {
                if (cache.TryGetValue(sql, out var current) && ReferenceEquals(current, cached)) cache.Remove(sql);
            };
        }
        else
        {
            cmd.Parameters.Clear();
        }
        cmd.Transaction = tx;
        return cmd;
    }

    public void Dispose()
    {
        _disposed = true;
        while (_idle.TryPop(out var connection)) Close(connection);
    }

    /// <summary>A pooled connection lent for one operation.</summary>
    public sealed class Lease(SqliteDatabase owner, SqliteConnection connection) : IDisposable
    {
        private bool _broken;
        private bool _returned;

        public SqliteConnection Connection { get; } = connection;

        /// <summary>Closes the connection instead of pooling it (after an error that may have left it unusable).</summary>
        public void Break() => _broken = true;

        public void Dispose()
        {
            if (_returned) return;
            _returned = true;
            owner.Return(Connection, _broken);
        }
    }

    private SqliteConnection OpenRaw()
    {
        var connection = new SqliteConnection(_initialized ? _existingFileConnectionString : _connectionString);
        try
        {
            connection.Open();
            using var pragma = connection.CreateCommand();
            pragma.CommandText = $"PRAGMA busy_timeout = {_busyTimeoutMs}; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";
            pragma.ExecuteNonQuery();
            return connection;
        }
        catch (SqliteException e)
        {
            connection.Dispose();
            throw Translate(e);
        }
    }

    private void EnsureInitialized()
    {
        if (_initialized) return;
        lock (_initLock)
        {
            if (_initialized) return;
            var directory = System.IO.Path.GetDirectoryName(Path);
            try
            {
                // The default folder is the module's own; a folder the user chose for the store is only created private.
                if (!string.IsNullOrEmpty(directory)) PrivateFiles.EnsureDirectory(directory, tightenExisting: IsDefaultFolder(directory));
                PrivateFiles.EnsureFile(Path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new StoreException("StoreNotWritable", StoreFault.NotWritable, LaunchErrorCategory.WriteError,
                    $"Cannot create the folder for the launch store '{Path}': {e.Message}", Path, e);
            }
            using var connection = OpenRaw();
            try
            {
                var (from, to) = Migrate(connection);
                StoreDiagnostics.Opened(Path, from, to);
            }
            catch (SqliteException e)
            {
                throw Translate(e);
            }
            TightenFiles();
            _initialized = true;
        }
    }

    /// <summary>The store and the files SQLite makes beside it (it creates -wal and -shm itself, after the store is open).</summary>
    private void TightenFiles()
    {
        try
        {
            foreach (var suffix in new[] { "", "-wal", "-shm", "-journal" }) PrivateFiles.TightenFile(Path + suffix);
        }
        catch (IOException)
        {
            // A file that vanished meanwhile (a checkpoint removing -wal) needs nothing.
        }
    }

    private static bool IsDefaultFolder(string directory) =>
        string.Equals(System.IO.Path.GetFullPath(directory),
            System.IO.Path.GetFullPath(System.IO.Path.Combine(UserHome.Directory(), ".config", "wandb", "launch")), StringComparison.Ordinal);

    /// <summary>Brings the schema up to date; returns the version found and the version now.</summary>
    private (long From, long To) Migrate(SqliteConnection connection)
    {
        // Reading the header first: on a file that is not a database this fails before anything is written.
        // One read transaction, so that the three values come from one state of the file: read one by one, another
        // process's first migration could commit in between, showing application_id 0 beside its new tables.
        long appId, version, tables;
        using (var read = connection.BeginTransaction(deferred: true))
        {
            (appId, version, tables) = ReadHeader(connection);
            read.Commit();
        }
        if (version == SqliteSchema.Version && appId == SqliteSchema.ApplicationId) return (version, version);
        CheckOwnership(appId, version, tables);

        Exec(connection, "PRAGMA journal_mode = WAL;");
        using var tx = connection.BeginTransaction(deferred: false);
        (appId, version, tables) = ReadHeader(connection);
        CheckOwnership(appId, version, tables);
        for (var i = version; i < SqliteSchema.Version; i++)
        {
            Exec(connection, SqliteSchema.Migrations[i], tx);
        }
        Exec(connection, $"PRAGMA application_id = {SqliteSchema.ApplicationId}; PRAGMA user_version = {SqliteSchema.Version};", tx);
        tx.Commit();
        return (version, SqliteSchema.Version);
    }

    private void CheckOwnership(long appId, long version, long tables)
    {
        if (appId != 0 && appId != SqliteSchema.ApplicationId || appId == 0 && tables > 0)
        {
            throw new StoreException("StoreNotLaunchDatabase", StoreFault.Unusable, LaunchErrorCategory.InvalidData,
                $"'{Path}' is an SQLite database of another application, not a WandbLaunch store; it was left unchanged. " +
                "Choose a new or existing WandbLaunch store with Connect-WandbLaunch -Path or WANDB_LAUNCH_DB.", Path);
        }
        if (version > SqliteSchema.Version)
        {
            throw new StoreException("StoreSchemaTooNew", StoreFault.Unusable, LaunchErrorCategory.InvalidData,
                $"The launch store '{Path}' has schema version {version}, newer than this WandbLaunch understands ({SqliteSchema.Version}). Update the WandbLaunch module.",
                Path);
        }
    }

    private static (long AppId, long Version, long Tables) ReadHeader(SqliteConnection connection)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "PRAGMA application_id; ";
        var appId = (long)cmd.ExecuteScalar()!;
        cmd.CommandText = "PRAGMA user_version;";
        var version = (long)cmd.ExecuteScalar()!;
        cmd.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%';";
        var tables = (long)cmd.ExecuteScalar()!;
        return (appId, version, tables);
    }

    private static void Exec(SqliteConnection connection, string sql, SqliteTransaction? tx = null)
    {
        using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <summary>Throws StoreDeleted or StoreReplaced when the file at <see cref="Path"/> is no longer the store this process opened.</summary>
    public void CheckFile() => SqliteStoreFile.Check(Path);

    public StoreException Translate(SqliteException e) => e.SqliteErrorCode switch
    {
        26 => new StoreException("StoreNotDatabase", StoreFault.Unusable, LaunchErrorCategory.InvalidData,
            $"'{Path}' is not an SQLite database, so it cannot be used as the launch store; it was left unchanged. " +
            "Point Connect-WandbLaunch -Path (or WANDB_LAUNCH_DB) at a new file or an existing WandbLaunch store.", Path, e),
        11 => new StoreException("StoreCorrupt", StoreFault.Unusable, LaunchErrorCategory.InvalidData,
            $"The launch store '{Path}' is damaged (SQLite reports: {e.Message}).", Path, e),
        5 or 6 => new StoreException("StoreBusy", StoreFault.Busy, LaunchErrorCategory.ResourceUnavailable,
            $"The launch store '{Path}' stayed locked by another process for {_busyTimeoutMs / 1000.0:0.###} s.", Path, e),
        13 => new StoreException("StoreFull", StoreFault.Full, LaunchErrorCategory.WriteError,
            $"The launch store '{Path}' cannot grow: the disk (or the user's quota) is full. Free space on that file system; nothing was written.", Path, e),
        14 when _initialized && !File.Exists(Path) => SqliteStoreFile.Deleted(Path, e),
        8 or 14 or 23 => new StoreException("StoreNotWritable", StoreFault.NotWritable, LaunchErrorCategory.WriteError,
            $"Cannot open or write the launch store '{Path}': {e.Message}", Path, e),
        _ => new StoreException("StoreError", StoreFault.Other, LaunchErrorCategory.WriteError,
            $"The launch store '{Path}' failed: {e.Message}", Path, e),
    };
}
