using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Engine.Tests.Storage;
using WandbLaunch.TestSupport;
using Xunit;

namespace WandbLaunch.Engine.Tests.Diagnostics;

/// <summary>What -Verbose and -Debug show of the local store: which file, created or opened, slow locks, each read and write.</summary>
public sealed class StoreDiagnosticsTests
{
    [Fact]
    public async Task NewStore_SaysItWasCreated_AndDebugShowsEachWriteAndItsSql()
    {
        using var dir = new TempDirectory();
        var path = dir.File("launch.db");
        var recording = new RecordingDiagnostics();
        using var backend = new SqliteLaunchBackend(path, Store.Entity);
        using (EngineLog.Use(recording))
        {
            await backend.CreateQueueAsync(Store.Queue("q1"), CancellationToken.None);
            await backend.GetQueuesAsync(Store.Entity, null, CancellationToken.None);
        }
        var verbose = recording.At(DiagnosticLevel.Verbose);
        Assert.Contains(verbose, l => l.StartsWith($"store: created a new store at '{path}' (schema version ", StringComparison.Ordinal));
        var debug = recording.At(DiagnosticLevel.Debug);
        Assert.Contains(debug, l => l.StartsWith("store: SQL INSERT INTO queues", StringComparison.Ordinal));
        Assert.Contains(debug, l => l.StartsWith("store: write CreateQueue (", StringComparison.Ordinal));
        Assert.Contains(debug, l => l.StartsWith("store: read GetQueues (", StringComparison.Ordinal));

        using var again = new SqliteLaunchBackend(path, Store.Entity);
        var second = new RecordingDiagnostics(verbose: true, debug: false);
        using (EngineLog.Use(second)) again.EnsureOpen();
        Assert.Equal([$"store: opened '{path}' (schema version {SqliteSchema.Version})", $"store: local store '{path}' is open"], second.Lines);
    }

    [Fact]
    public async Task WriteThatWaitsForAnotherConnectionsLock_SaysHowLongItWaited()
    {
        using var dir = new TempDirectory();
        var path = dir.File("launch.db");
        using var backend = new SqliteLaunchBackend(path, Store.Entity);
        backend.EnsureOpen();
        using var holder = Store.Open(path);
        using (var begin = holder.CreateCommand())
        {
            begin.CommandText = "BEGIN IMMEDIATE;";
            begin.ExecuteNonQuery();
        }
        var release = Task.Run(async () =>
        {
            await Task.Delay(400);
            using var commit = holder.CreateCommand();
            commit.CommandText = "COMMIT;";
            commit.ExecuteNonQuery();
        });
        var recording = new RecordingDiagnostics(verbose: true, debug: false);
        using (EngineLog.Use(recording)) await backend.CreateQueueAsync(Store.Queue("q1"), CancellationToken.None);
        await release;
        Assert.Contains(recording.Lines, l => l.StartsWith("store: waited ", StringComparison.Ordinal) && l.EndsWith($" ms for the write lock on '{path}': another connection was writing", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WithoutASink_NothingIsReported()
    {
        using var dir = new TempDirectory();
        var outer = new RecordingDiagnostics();
        using var backend = new SqliteLaunchBackend(dir.File("launch.db"), Store.Entity);
        using (EngineLog.Use(outer))
        {
            using (EngineLog.Use(null)) await backend.CreateQueueAsync(Store.Queue("q1"), CancellationToken.None);
        }
        Assert.Empty(outer.Lines);
    }
}
