using Microsoft.Data.Sqlite;

namespace WandbLaunch.Engine.Storage.Sqlite;

/// <summary>
/// Notices commits to the store. Commits made through this process's backend signal at once; commits by other
/// processes are seen through <c>PRAGMA data_version</c>, which SQLite bumps whenever another connection commits.
/// Reading it is a header check that costs microseconds, so an idle agent can look every few milliseconds and start
/// a job submitted from another process almost immediately, where W&amp;B's agent waits up to its 10-second poll.
/// </summary>
internal sealed class SqliteChangeWatcher : IDisposable
{
    private static readonly TimeSpan CheckInterval = TimeSpan.FromMilliseconds(10);

    private readonly SqliteDatabase _db;
    private readonly object _lock = new();
    private TaskCompletionSource _localChange = NewSignal();
    private SqliteConnection? _connection;
    private SqliteCommand? _version;
    private long _lastVersion = -1;

    public SqliteChangeWatcher(SqliteDatabase db) => _db = db;

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void NotifyLocalChange()
    {
        TaskCompletionSource signal;
        lock (_lock)
        {
            signal = _localChange;
            _localChange = NewSignal();
        }
        signal.TrySetResult();
    }

    public async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        Task local;
        lock (_lock) local = _localChange.Task;
        var deadline = DateTime.UtcNow + timeout;
        while (!cancellationToken.IsCancellationRequested)
        {
            if (VersionChanged()) return;
            var remaining = deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero) return;
            var tick = Task.Delay(remaining < CheckInterval ? remaining : CheckInterval, cancellationToken);
            if (await Task.WhenAny(local, tick).ConfigureAwait(false) == local) return;
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
        lock (_lock) Close();
    }

    private void Close()
    {
        _version?.Dispose();
        _version = null;
        _connection?.Dispose();
        _connection = null;
    }
}
