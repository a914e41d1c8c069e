using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Storage.Sqlite;
using static WandbLaunch.Engine.Tests.Storage.Store;

namespace WandbLaunch.Engine.Tests.Storage;

/// <summary>What the store does with the file it is pointed at: create, recognize, refuse, migrate.</summary>
public sealed class SqliteStoreFileTests : IDisposable
{
    private const long WandbLaunchApplicationId = 0x57424C51;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static LaunchException OpenFails(string path)
    {
        using var store = new SqliteLaunchBackend(path, Entity);
        return Assert.ThrowsAny<LaunchException>(store.EnsureOpen);
    }

    private void AssertOnlyFile(string path, byte[] bytes)
    {
        Assert.Equal(bytes, File.ReadAllBytes(path));
        // No journal, WAL or shared-memory file was left beside it either.
        Assert.Equal([Path.GetFileName(path)], Directory.GetFiles(_dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_new_store_is_created_with_its_folder_in_wal_mode_and_marked_as_ours()
    {
        var path = Path.Combine(_dir.Path, "nested", "folder", "launch.db");
        using (var store = new SqliteLaunchBackend(path, Entity))
        {
            await store.CreateQueueAsync(Queue("q"), CancellationToken.None);
        }

        Assert.True(File.Exists(path));
        Assert.Equal("wal", Scalar(path, "PRAGMA journal_mode;"));
        Assert.Equal(WandbLaunchApplicationId, Scalar(path, "PRAGMA application_id;"));
        Assert.Equal((long)SqliteSchema.Version, Scalar(path, "PRAGMA user_version;"));
        Assert.Equal(1L, Scalar(path, "SELECT count(*) FROM queues;"));
    }

    [Fact]
    public void An_empty_file_becomes_a_store()
    {
        var path = _dir.Write("empty.db", "");
        using var store = new SqliteLaunchBackend(path, Entity);
        store.EnsureOpen();
        Assert.Equal(WandbLaunchApplicationId, Scalar(path, "PRAGMA application_id;"));
    }

    [Fact]
    public void The_location_is_the_full_path()
    {
        using var store = new SqliteLaunchBackend(Path.Combine(_dir.Path, "x", "..", "launch.db"), Entity);
        Assert.Equal(_dir.File("launch.db"), store.Location);
        Assert.Equal(Entity, store.DefaultEntity);
    }

    [Theory]
    [InlineData("queues:\n  - this is a launch-config.yaml, not a database\n")]
    [InlineData("SQLite format 3 is how a database starts, but this is text that goes on long enough to fill a header page....................")]
    public async Task A_file_that_is_not_a_database_is_refused_and_left_unchanged(string content)
    {
        var path = _dir.Write("launch-config.yaml", content);
        var bytes = File.ReadAllBytes(path);

        var e = OpenFails(path);
        Assert.Equal("StoreNotDatabase", e.ErrorId);
        Assert.Equal(LaunchErrorCategory.InvalidData, e.Category);
        Assert.Equal(path, e.Target);
        Assert.Contains("left unchanged", e.Message);

        using var store = new SqliteLaunchBackend(path, Entity);
        var again = await Assert.ThrowsAnyAsync<LaunchException>(() => store.GetQueuesAsync(null, null, CancellationToken.None));
        Assert.Equal("StoreNotDatabase", again.ErrorId);

        AssertOnlyFile(path, bytes);
    }

    [Fact]
    public async Task Another_applications_database_is_refused_and_left_unchanged()
    {
        var path = _dir.File("app.db");
        Exec(path, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers (name) VALUES ('Ada'), ('Grace');");
        var bytes = File.ReadAllBytes(path);

        var e = OpenFails(path);
        Assert.Equal("StoreNotLaunchDatabase", e.ErrorId);
        Assert.Equal(path, e.Target);

        using var store = new SqliteLaunchBackend(path, Entity);
        var write = await Assert.ThrowsAnyAsync<LaunchException>(() => store.CreateQueueAsync(Queue("q"), CancellationToken.None));
        Assert.Equal("StoreNotLaunchDatabase", write.ErrorId);

        AssertOnlyFile(path, bytes);
        Assert.Equal(2L, Scalar(path, "SELECT count(*) FROM customers;"));
    }

    [Fact]
    public void A_database_marked_by_another_application_is_refused_even_when_empty()
    {
        var path = _dir.File("marked.db");
        Exec(path, "PRAGMA application_id = 1234;");
        var bytes = File.ReadAllBytes(path);

        Assert.Equal("StoreNotLaunchDatabase", OpenFails(path).ErrorId);
        AssertOnlyFile(path, bytes);
    }

    [Fact]
    public void A_store_from_a_newer_version_is_refused_and_left_unchanged()
    {
        var path = _dir.File("launch.db");
        using (var store = new SqliteLaunchBackend(path, Entity))
        {
            store.EnsureOpen();
        }
        Exec(path, $"PRAGMA user_version = {SqliteSchema.Version + 1};");
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var bytes = File.ReadAllBytes(path);

        var e = OpenFails(path);

        Assert.Equal("StoreSchemaTooNew", e.ErrorId);
        Assert.Contains($"schema version {SqliteSchema.Version + 1}", e.Message);
        Assert.Equal(bytes, File.ReadAllBytes(path));
        Assert.Equal((long)SqliteSchema.Version + 1, Scalar(path, "PRAGMA user_version;"));
    }

    [Fact]
    public async Task A_version_1_store_is_migrated_and_keeps_its_queues()
    {
        var path = _dir.File("v1.db");
        // What the first release wrote: the queues table only, marked as ours, at schema version 1.
        Exec(path, """
            CREATE TABLE queues (
                id              TEXT PRIMARY KEY,
                entity          TEXT NOT NULL,
                project         TEXT NOT NULL,
                name            TEXT NOT NULL,
                resource        TEXT NOT NULL,
                config          TEXT NOT NULL,
                template_vars   TEXT NOT NULL,
                prioritization  INTEGER NOT NULL,
                access          TEXT NOT NULL,
                created_by      TEXT,
                created_at      INTEGER NOT NULL,
                updated_at      INTEGER NOT NULL,
                UNIQUE (entity, project, name)
            );
            INSERT INTO queues VALUES ('q-old000000001', 'team', 'model-registry', 'legacy', 'kubernetes',
                '{"cpus":"{{cpus}}"}', '{"cpus":{"type":"integer","default":2}}', 1, 'Project', 'admin', 1700000000000, 1700000000000);
            PRAGMA user_version = 1;
            """ + $"PRAGMA application_id = {WandbLaunchApplicationId};");

        using var store = new SqliteLaunchBackend(path, Entity);
        var legacy = await store.GetQueueAsync(Key("legacy"), CancellationToken.None);

        Assert.NotNull(legacy);
        Assert.Equal("q-old000000001", legacy.QueueId);
        Assert.Equal("kubernetes", legacy.Resource);
        Assert.True(legacy.Prioritization);
        Assert.Equal("admin", legacy.CreatedBy);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1700000000000), legacy.CreatedAt);
        Assert.Equal("""{"cpus":"{{cpus}}"}""", legacy.GetResourceConfig().ToJsonString());
        Assert.Equal(2L, Assert.Single(legacy.TemplateVariables).Default);
        Assert.Equal(0, legacy.PendingCount);

        Assert.Equal((long)SqliteSchema.Version, Scalar(path, "PRAGMA user_version;"));
        Assert.Equal(1L, Scalar(path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'items';"));
        Assert.Equal(1L, Scalar(path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'agents';"));
        Assert.Equal("wal", Scalar(path, "PRAGMA journal_mode;"));

        await store.CreateQueueAsync(Queue("fresh"), CancellationToken.None);
        Assert.Equal(["fresh", "legacy"], (await store.GetQueuesAsync(Entity, Project, CancellationToken.None)).Select(q => q.Name));
        await store.DeleteQueueAsync(Key("legacy"), false, CancellationToken.None);
    }

    [Fact]
    public void Opening_an_up_to_date_store_again_changes_nothing()
    {
        var path = _dir.File("launch.db");
        using (var first = new SqliteLaunchBackend(path, Entity))
        {
            first.EnsureOpen();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var schema = Scalar(path, "SELECT group_concat(sql, ';') FROM sqlite_master;");

        using (var second = new SqliteLaunchBackend(path, Entity))
        {
            second.EnsureOpen();
        }

        Assert.Equal(schema, Scalar(path, "SELECT group_concat(sql, ';') FROM sqlite_master;"));
        Assert.Equal((long)SqliteSchema.Version, Scalar(path, "PRAGMA user_version;"));
    }

    [Fact]
    public void A_store_in_a_folder_that_cannot_be_created_is_refused()
    {
        var blocker = _dir.Write("not-a-folder", "x");
        var e = OpenFails(Path.Combine(blocker, "launch.db"));
        Assert.Equal("StoreNotWritable", e.ErrorId);
        Assert.Equal(LaunchErrorCategory.WriteError, e.Category);
    }
}
