using Microsoft.Data.Sqlite;

namespace WandbLaunch.Engine.Storage.Sqlite;

/// <summary>
/// Notices commits to the store. Commits made through this process's backend signal at once; commits by other
/// processes are seen through <c>PRAGMA data_version</c>, which SQLite bumps whenever another connection commits.
/// Reading it is a header check that costs microseconds. It is read when the store's files change (a file system
/// watch on the database and its WAL: inotify on Linux), and every 5 s in case a change goes unreported; where
/// files cannot be watched (the watch limit reached, a file system without notifications) every 10 ms instead. Either
/// way an idle agent starts a job submitted from another process almost at once, where W&amp;B's agent waits up to its
/// 10-second poll, and the watch spares an idle agent a hundred wake-ups a second.
/// <para>
/// Commits made through this backend are absorbed into the version last seen (<see cref="BeforeLocalCommit"/>,
/// <see cref="AfterLocalCommit"/>), so that an agent's own heartbeat does not wake it through the file watch.
/// </para>
/// </summary>
internal sealed class SqliteChangeWatcher : IDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan WatchedInterval = TimeSpan.FromSeconds(5);

    // A writer's WAL frames (which the watch reports) reach the file before its commit is published in the shared
    // memory index (which it does not report): after a file event the version is read again every 2 ms for a while.
    private static readonly TimeSpan SettleInterval = TimeSpan.FromMilliseconds(2);
    private static readonly TimeSpan SettleWindow = TimeSpan.FromMilliseconds(60);

    private readonly SqliteDatabase _db;
    private readonly object _lock = new();
    private TaskCompletionSource _localChange = NewSignal();
    private TaskCompletionSource _fileChange = NewSignal();
    private FileSystemWatcher? _files;
    private bool _watchTried;
    private volatile bool _watching;
    private SqliteConnection? _connection;
    private SqliteCommand? _version;
    private long _lastVersion = -1;

    public SqliteChangeWatcher(SqliteDatabase db) => _db = db;

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void NotifyLocalChange() => Signal(ref _localChange);

    /// <summary>
    /// Called inside a write transaction of this backend, just before it commits (the write lock is held, so no other
    /// connection can commit until it does): whether another connection committed since the version was last read.
    /// </summary>
    public bool BeforeLocalCommit()
    {
        lock (_lock)
        {
            if (_version is null || _lastVersion == -1) return false;
            return ReadVersion() is not { } version || version != _lastVersion;
        }
    }

    /// <summary>
    /// Called after this backend committed: local waiters wake (<see cref="NotifyLocalChange"/>), and unless another
    /// connection had committed before (<paramref name="otherCommitPending"/>), the new version is taken as seen, so
    /// the commit's file event does not wake a waiter of this process a second time.
    /// </summary>
    public void AfterLocalCommit(bool otherCommitPending)
    {
        lock (_lock)
        {
            if (!otherCommitPending && _version is not null && _lastVersion != -1 && ReadVersion() is { } version) _lastVersion = version;
        }
        NotifyLocalChange();
    }

    private long? ReadVersion()
    {
        try
        {
            return (long)_version!.ExecuteScalar()!;
        }
        catch (SqliteException)
        {
            Close();
            return null;
        }
    }

    private void Signal(ref TaskCompletionSource field)
    {
        TaskCompletionSource signal;
        lock (_lock)
        {
            signal = field;
            field = NewSignal();
        }
        signal.TrySetResult();
    }

    public async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        Task local;
        lock (_lock) local = _localChange.Task;
        var deadline = DateTime.UtcNow + timeout;
        var settleUntil = DateTime.MinValue;
        while (!cancellationToken.IsCancellationRequested)
        {
            Task files;
            lock (_lock)
            {
                // Taken before the version is read: a write after the read signals this task.
                StartWatching();
                files = _fileChange.Task;
            }
            if (VersionChanged()) return;
            var now = DateTime.UtcNow;
            var remaining = deadline - now;
            if (remaining <= TimeSpan.Zero) return;
            var interval = !_watching ? PollInterval : now < settleUntil ? SettleInterval : WatchedInterval;
            var tick = Task.Delay(remaining < interval ? remaining : interval, cancellationToken);
            var woken = await Task.WhenAny(local, files, tick).ConfigureAwait(false);
            if (woken == local) return;
            if (woken == files) settleUntil = DateTime.UtcNow + SettleWindow;
        }
    }

    /// <summary>Watches the database's files, once; without a watch the version is polled every 10 ms.</summary>
    private void StartWatching()
    {
        if (_watchTried) return;
        _watchTried = true;
        try
        {
            var directory = Path.GetDirectoryName(Path.GetFullPath(_db.Path))!;
            var watcher = new FileSystemWatcher(directory, Path.GetFileName(_db.Path) + "*")
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.FileName,
            };
            watcher.Changed += (_, _) => Signal(ref _fileChange);
            watcher.Created += (_, _) => Signal(ref _fileChange);
            // Events were lost (the kernel's queue overflowed) or the watch broke: poll as without one.
            watcher.Error += (_, _) =>
            {
                _watching = false;
                Signal(ref _fileChange);
            };
            watcher.EnableRaisingEvents = true;
            _files = watcher;
            _watching = true;
        }
        catch (Exception e) when (e is IOException or ArgumentException or PlatformNotSupportedException or UnauthorizedAccessException)
        {
            _files = null;
        }
    }

    private bool VersionChanged()
    {
        lock (_lock)
        {
            try
            {
                if (_version is null)
                {
                    _connection ??= _db.Open();
                    _version = _connection.CreateCommand();
                    _version.CommandText = "PRAGMA data_version;";
                }
                var version = (long)_version.ExecuteScalar()!;
                var changed = _lastVersion != -1 && version != _lastVersion;
                _lastVersion = version;
                return changed;
            }
            catch (SqliteException)
            {
                Close();
                return true;
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            Close();
            _files?.Dispose();
            _files = null;
        }
    }

    private void Close()
    {
        _version?.Dispose();
        _version = null;
        _connection?.Dispose();
        _connection = null;
    }
}
