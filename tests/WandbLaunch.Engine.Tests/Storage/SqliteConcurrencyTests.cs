using WandbLaunch.Engine.Storage.Sqlite;
using static WandbLaunch.Engine.Tests.Storage.Store;

namespace WandbLaunch.Engine.Tests.Storage;

/// <summary>
/// Several pwsh sessions and agents share one store file. Each thread here has its own backend instance (as a
/// separate process would), all starting at once on a file that does not exist yet.
/// </summary>
public sealed class SqliteConcurrencyTests : IDisposable
{
    private const int Threads = 6;
    private const int QueuesPerThread = 40;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static Exception?[] RunTogether(int threads, Action<int> work)
    {
        var errors = new Exception?[threads];
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(i => new Thread(() =>
        {
            try
            {
                start.SignalAndWait();
                work(i);
            }
            catch (Exception e)
            {
                errors[i] = e;
            }
        })).ToList();
        workers.ForEach(t => t.Start());
        workers.ForEach(t => t.Join());
        return errors;
    }

    private static void AssertNoErrors(Exception?[] errors) =>
        Assert.True(errors.All(e => e is null), string.Join("\n\n", errors.Where(e => e is not null)));

    [Fact]
    public void Sessions_opening_a_new_store_at_the_same_moment_all_see_a_launch_store()
    {
        // The window in which one session's first look at the file can meet another's half-created store is
        // small, so try it on many fresh files.
        for (var round = 0; round < 40; round++)
        {
            var path = _dir.File($"new-{round}.db");
            var errors = RunTogether(Threads, _ =>
            {
                using var store = new SqliteLaunchBackend(path, Entity);
                store.EnsureOpen();
            });
            AssertNoErrors(errors);
        }
    }

    [Fact]
    public async Task Many_writers_on_a_new_file_all_succeed_and_no_write_is_lost()
    {
        var path = _dir.File("shared.db");

        var errors = RunTogether(Threads, i =>
        {
            using var store = new SqliteLaunchBackend(path, Entity);
            for (var n = 0; n < QueuesPerThread; n++)
            {
                store.CreateQueueAsync(Queue($"t{i}-q{n}", configJson: $$"""{"thread": {{i}}, "n": {{n}}}"""), CancellationToken.None).GetAwaiter().GetResult();
            }
        });

        AssertNoErrors(errors);
        using var reader = new SqliteLaunchBackend(path, Entity);
        var queues = await reader.GetQueuesAsync(null, null, CancellationToken.None);
        Assert.Equal(Threads * QueuesPerThread, queues.Count);
        var expected = Enumerable.Range(0, Threads).SelectMany(i => Enumerable.Range(0, QueuesPerThread).Select(n => $"t{i}-q{n}")).Order();
        Assert.Equal(expected, queues.Select(q => q.Name).Order());
        Assert.Equal(queues.Count, queues.Select(q => q.QueueId).Distinct().Count());
        Assert.All(queues, q => Assert.Equal(q.Name, $"t{q.GetResourceConfig()["thread"]}-q{q.GetResourceConfig()["n"]}"));
        Assert.Equal((long)SqliteSchema.Version, Scalar(path, "PRAGMA user_version;"));
    }

    [Fact]
    public async Task Readers_and_writers_run_side_by_side()
    {
        var path = _dir.File("mixed.db");
        using (var setup = new SqliteLaunchBackend(path, Entity))
        {
            await setup.CreateQueueAsync(Queue("seed"), CancellationToken.None);
        }

        var errors = RunTogether(4, i =>
        {
            using var store = new SqliteLaunchBackend(path, Entity);
            for (var n = 0; n < 25; n++)
            {
                if (i % 2 == 0)
                {
                    store.CreateQueueAsync(Queue($"w{i}-{n}"), CancellationToken.None).GetAwaiter().GetResult();
                }
                else
                {
                    var seen = store.GetQueuesAsync(Entity, Project, CancellationToken.None).GetAwaiter().GetResult();
                    Assert.Contains(seen, q => q.Name == "seed");
                }
            }
        });

        AssertNoErrors(errors);
        using var reader = new SqliteLaunchBackend(path, Entity);
        Assert.Equal(1 + 2 * 25, (await reader.GetQueuesAsync(null, null, CancellationToken.None)).Count);
    }
}
