using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;

namespace StoreBench;

/// <summary>
/// Benchmarks of the local store (<see cref="SqliteLaunchBackend"/>) and of job dispatch, through the engine's public
/// API. Every mode prints Markdown tables to stdout. Modes:
/// <list type="bullet">
/// <item><c>throughput --dir D [--rounds 15] [--ops 400] [--full-ops 100]</c>: PushAsync and PopAsync+AckAsync
/// rates beside bare single-row INSERT / UPDATE transactions on a file with the same settings, synchronous=NORMAL and
/// FULL, in interleaved rounds.</item>
/// <item><c>pop --dir D [--pending 100000] [--iterations 2000]</c>: pop, ack and push latency with a deep queue, beside
/// a shallow one.</item>
/// <item><c>dispatch --store S --queue Q --dir D --probe CMD [--probe ARG]... [--samples 200] [--warmup 10]</c>: submit to
/// process-start latency against an agent running in another process, interleaved with the cost of spawning the same
/// probe from this process.</item>
/// <item><c>push --store S --queue Q --dir D --count N --entry CMD [--entry ARG]...</c>: submits N jobs.</item>
/// <item><c>killtest --dir D [--trials 20]</c>: a child process pushes jobs and reports each acknowledged one; it is
/// killed (SIGKILL) at a random moment; every acknowledged job must be in the store afterwards.</item>
/// <item><c>loop --dir D [--seconds 10] [--op push|both]</c>: push (then pop+ack) in a loop, nothing else; for a profiler (dotnet-trace).</item>
/// </list>
/// </summary>
public static class Program
{
    internal const string AgentId = "agent-storebench";

    public static async Task<int> Main(string[] argv)
    {
        if (argv.Length == 0)
        {
            Console.Error.WriteLine("usage: StoreBench throughput|pop|dispatch|push --option value ...");
            return 2;
        }
        var args = Args.Parse(argv.Skip(1));
        try
        {
            switch (argv[0])
            {
                case "throughput": await Throughput.RunAsync(args); break;
                case "pop": await DeepQueue.RunAsync(args); break;
                case "dispatch": await Dispatch.RunAsync(args); break;
                case "push": await Push.RunAsync(args); break;
                case "loop": await Loop.RunAsync(args); break;
                case "acked": await KillTest.PushForeverAsync(args); break;
                case "killtest": await KillTest.RunAsync(args); break;
                default:
                    Console.Error.WriteLine($"unknown mode '{argv[0]}'");
                    return 2;
            }
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e);
            return 1;
        }
    }

    internal static QueueKey Key(SqliteLaunchBackend backend, string queue) => new(backend.DefaultEntity, LaunchDefaults.Project, queue);

    internal static async Task<QueueKey> CreateQueueAsync(SqliteLaunchBackend backend, string name)
    {
        var queue = await backend.CreateQueueAsync(new QueueDefinition
        {
            Name = name,
            Entity = backend.DefaultEntity,
            Project = LaunchDefaults.Project,
            Resource = LaunchResource.LocalProcess,
        }, CancellationToken.None);
        return new QueueKey(queue.Entity, queue.Project, queue.Name);
    }

    /// <summary>A launch spec shaped like the one Submit-WandbLaunchJob builds.</summary>
    internal static JsonObject Spec(string directory, IEnumerable<string> entryPoint, string? name = null)
    {
        var spec = new JsonObject
        {
            ["uri"] = directory,
            ["overrides"] = new JsonObject
            {
                ["entry_point"] = new JsonArray(entryPoint.Select(e => (JsonNode?)JsonValue.Create(e)).ToArray()),
            },
            ["entity"] = Environment.UserName,
            ["project"] = "storebench",
            ["author"] = Environment.UserName,
        };
        if (name is not null) spec["name"] = name;
        return spec;
    }

    internal static readonly string[] TrainEntryPoint = ["python", "train.py", "--epochs", "10", "--learning-rate", "0.001", "--batch-size", "64"];

    /// <summary>Unix time in nanoseconds, from CLOCK_REALTIME like the probe's clock_gettime.</summary>
    internal static long NowNs() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;
}

internal static class Stats
{
    /// <summary>Nearest-rank percentile (p in 0..100).</summary>
    public static double P(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.OrderBy(v => v).ToArray();
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public static double Median(IReadOnlyList<double> values) => P(values, 50);

    public static string F(double v, int decimals = 2) => double.IsNaN(v) ? "n/a" : v.ToString("F" + decimals, CultureInfo.InvariantCulture);

    public static string N0(double v) => double.IsNaN(v) ? "n/a" : v.ToString("N0", CultureInfo.InvariantCulture);
}

/// <summary>
/// A bare store: one open connection, prepared statements, one transaction per operation — the physical limit of
/// this file system with these settings. Its pop+ack is the honest equivalent of the engine's: a pop transaction
/// (take the oldest pending row, mark it leased) then an ack transaction (mark that row starting).
/// </summary>
internal sealed class BareStore : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _insert;
    private readonly SqliteCommand _update;
    private readonly SqliteCommand _pop;
    private readonly SqliteCommand _ack;
    private long _next;

    public BareStore(string path, string synchronous)
    {
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        _connection.Open();
        Exec($"PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA busy_timeout = 30000;");
        // The same shape as the engine's items table where it matters: an integer key, a unique text id, a JSON text
        // column, a partial index of pending rows.
        Exec("""
            CREATE TABLE IF NOT EXISTS t (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, state TEXT NOT NULL,
                payload TEXT NOT NULL, log_path TEXT, updated_at INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS t_pending ON t (seq) WHERE state = 'Pending';
            """);
        _insert = Prepare("INSERT INTO t (id, state, payload, updated_at) VALUES ($id, 'Pending', $payload, $now)", "$id", "$payload", "$now");
        _update = Prepare("UPDATE t SET log_path = $log, updated_at = $now WHERE id = $id", "$id", "$log", "$now");
        _pop = Prepare("""
            UPDATE t SET state = 'Leased', updated_at = $now
            WHERE seq = (SELECT seq FROM t WHERE state = 'Pending' ORDER BY seq LIMIT 1) RETURNING id
            """, "$now");
        _ack = Prepare("UPDATE t SET state = 'Starting', log_path = $log, updated_at = $now WHERE id = $id AND state = 'Leased'", "$id", "$log", "$now");
    }

    public long Count => _next;

    private SqliteCommand Prepare(string sql, params string[] parameters)
    {
        var cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        foreach (var p in parameters) cmd.Parameters.Add(p, SqliteType.Text);
        return cmd;
    }

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public void Insert(string payload)
    {
        using var tx = _connection.BeginTransaction(deferred: false);
        _insert.Transaction = tx;
        _insert.Parameters["$id"].Value = "row-" + _next++;
        _insert.Parameters["$payload"].Value = payload;
        _insert.Parameters["$now"].Value = Now();
        _insert.ExecuteNonQuery();
        tx.Commit();
    }

    /// <summary>A single-row UPDATE by unique id in its own transaction.</summary>
    public void Update(long row)
    {
        using var tx = _connection.BeginTransaction(deferred: false);
        _update.Transaction = tx;
        _update.Parameters["$id"].Value = "row-" + row;
        _update.Parameters["$log"].Value = "/tmp/logs/row-" + row + ".log";
        _update.Parameters["$now"].Value = Now();
        if (_update.ExecuteNonQuery() != 1) throw new InvalidOperationException("bare update hit no row");
        tx.Commit();
    }

    /// <summary>Two transactions: lease the oldest pending row, then acknowledge it.</summary>
    public void PopAck()
    {
        string id;
        using (var tx = _connection.BeginTransaction(deferred: false))
        {
            _pop.Transaction = tx;
            _pop.Parameters["$now"].Value = Now();
            id = _pop.ExecuteScalar() as string ?? throw new InvalidOperationException("bare queue ran dry");
            tx.Commit();
        }
        using (var tx = _connection.BeginTransaction(deferred: false))
        {
            _ack.Transaction = tx;
            _ack.Parameters["$id"].Value = id;
            _ack.Parameters["$log"].Value = "/tmp/logs/" + id + ".log";
            _ack.Parameters["$now"].Value = Now();
            if (_ack.ExecuteNonQuery() != 1) throw new InvalidOperationException("bare ack hit no row");
            tx.Commit();
        }
    }

    private void Exec(string sql)
    {
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    public void Dispose()
    {
        _insert.Dispose();
        _update.Dispose();
        _pop.Dispose();
        _ack.Dispose();
        _connection.Dispose();
    }
}

/// <summary>
/// The engine's own items table driven by bare prepared statements on one open connection: the physical cost of the
/// engine's schema (its indexes and AUTOINCREMENT), without the engine's code.
/// </summary>
internal sealed class EngineSchemaBare : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _insert;
    private readonly SqliteCommand _pop;
    private readonly SqliteCommand _ack;
    private readonly string _queueId;
    private long _next;

    public EngineSchemaBare(string enginePath, string queueName)
    {
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = enginePath, Pooling = false }.ToString());
        _connection.Open();
        using (var cmd = _connection.CreateCommand())
        {
            cmd.CommandText = "PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 30000; PRAGMA foreign_keys = ON;";
            cmd.ExecuteNonQuery();
            cmd.CommandText = "SELECT id FROM queues WHERE name = $n";
            cmd.Parameters.AddWithValue("$n", queueName);
            _queueId = (string)cmd.ExecuteScalar()!;
        }
        _insert = _connection.CreateCommand();
        _insert.CommandText = """
            INSERT INTO items (id, queue_id, state, priority, spec, template_values, run_id, created_at, updated_at)
            VALUES ($id, $queue, 'Pending', 2, $spec, NULL, $run, $now, $now)
            """;
        _pop = _connection.CreateCommand();
        _pop.CommandText = """
            UPDATE items SET state = 'Leased', agent_id = 'bare', lease_expires = $now + 600000, attempts = attempts + 1, leased_at = $now, updated_at = $now
            WHERE id = (SELECT id FROM items WHERE queue_id = $queue AND state = 'Pending' ORDER BY seq LIMIT 1) RETURNING id
            """;
        _ack = _connection.CreateCommand();
        _ack.CommandText = "UPDATE items SET state = 'Starting', log_path = $log, updated_at = $now WHERE id = $id AND agent_id = 'bare' AND state = 'Leased'";
    }

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public void Insert(string spec)
    {
        using var tx = _connection.BeginTransaction(deferred: false);
        _insert.Transaction = tx;
        _insert.Parameters.Clear();
        _insert.Parameters.AddWithValue("$id", "bare-" + _next++);
        _insert.Parameters.AddWithValue("$queue", _queueId);
        _insert.Parameters.AddWithValue("$spec", spec);
        _insert.Parameters.AddWithValue("$run", "run" + _next);
        _insert.Parameters.AddWithValue("$now", Now());
        _insert.ExecuteNonQuery();
        tx.Commit();
    }

    public void PopAck()
    {
        string id;
        using (var tx = _connection.BeginTransaction(deferred: false))
        {
            _pop.Transaction = tx;
            _pop.Parameters.Clear();
            _pop.Parameters.AddWithValue("$now", Now());
            _pop.Parameters.AddWithValue("$queue", _queueId);
            id = _pop.ExecuteScalar() as string ?? throw new InvalidOperationException("queue ran dry");
            tx.Commit();
        }
        using (var tx = _connection.BeginTransaction(deferred: false))
        {
            _ack.Transaction = tx;
            _ack.Parameters.Clear();
            _ack.Parameters.AddWithValue("$id", id);
            _ack.Parameters.AddWithValue("$log", "/tmp/logs/" + id + ".log");
            _ack.Parameters.AddWithValue("$now", Now());
            if (_ack.ExecuteNonQuery() != 1) throw new InvalidOperationException("bare ack hit no row");
            tx.Commit();
        }
    }

    public void Dispose()
    {
        _insert.Dispose();
        _pop.Dispose();
        _ack.Dispose();
        _connection.Dispose();
    }
}

internal static class Throughput
{
    private sealed record Variant(string Name, string Description, bool Full, Func<int, Task> Run);

    public static async Task RunAsync(Args args)
    {
        var dir = args.Get("dir");
        var rounds = args.Int("rounds", 15);
        var ops = args.Int("ops", 400);
        var fullOps = args.Int("full-ops", 100);
        Directory.CreateDirectory(dir);
        var ct = CancellationToken.None;

        using var engine = new SqliteLaunchBackend(Path.Combine(dir, "engine.db"));
        var key = await Program.CreateQueueAsync(engine, "bench");
        var spec = Program.Spec(dir, Program.TrainEntryPoint, "bench-run");
        var request = new PushRequest { Spec = spec };
        var logDir = Path.Combine(dir, "logs");
        // Items for the first pop+ack runs; each round pushes as many as it pops, so the queue stays ~2*ops deep.
        var first = await engine.PushAsync(key, request, ct);
        for (var i = 1; i < 2 * ops; i++) await engine.PushAsync(key, request, ct);
        var payload = first.SpecJson;

        using var bareNormal = new BareStore(Path.Combine(dir, "bare-normal.db"), "NORMAL");
        using var bareFull = new BareStore(Path.Combine(dir, "bare-full.db"), "FULL");
        // The engine's schema in a store of its own, written by bare statements.
        using (var schemaStore = new SqliteLaunchBackend(Path.Combine(dir, "engine-schema.db"))) await Program.CreateQueueAsync(schemaStore, "bench");
        using var bareSchema = new EngineSchemaBare(Path.Combine(dir, "engine-schema.db"), "bench");
        // Pending rows for the bare pop+ack runs; each round inserts as many as it pops.
        for (var i = 0; i < 2 * ops; i++)
        {
            bareNormal.Insert(payload);
            bareSchema.Insert(payload);
        }
        for (var i = 0; i < 2 * fullOps; i++) bareFull.Insert(payload);
        long normalUpdated = 0, fullUpdated = 0;

        var variants = new List<Variant>
        {
            new("push", "engine PushAsync (1 write transaction: read queue, validate, render, insert, read back)", false, async n =>
            {
                for (var i = 0; i < n; i++) await engine.PushAsync(key, request, ct);
            }),
            new("pop+ack", "engine PopAsync + AckAsync (a read, then 2 write transactions)", false, async n =>
            {
                for (var i = 0; i < n; i++)
                {
                    var job = await engine.PopAsync(Program.AgentId, key, TimeSpan.FromMinutes(10), ct) ?? throw new InvalidOperationException("queue ran dry");
                    await engine.AckAsync(job.Id, Program.AgentId, Path.Combine(logDir, job.Id + ".log"), ct);
                }
            }),
            new("bare insert", "1 INSERT per transaction into a minimal table (integer key, unique text id), open connection, prepared statement", false, n =>
            {
                for (var i = 0; i < n; i++) bareNormal.Insert(payload);
                return Task.CompletedTask;
            }),
            new("bare update", "1 single-row UPDATE by unique text id per transaction", false, n =>
            {
                for (var i = 0; i < n; i++) bareNormal.Update(normalUpdated++ % bareNormal.Count);
                return Task.CompletedTask;
            }),
            new("bare pop+ack", "2 transactions: UPDATE the oldest pending row RETURNING id; UPDATE it by id", false, n =>
            {
                for (var i = 0; i < n; i++) bareNormal.PopAck();
                return Task.CompletedTask;
            }),
            new("schema insert", "bare insert into the engine's own items table (its 5 indexes, AUTOINCREMENT)", false, n =>
            {
                for (var i = 0; i < n; i++) bareSchema.Insert(payload);
                return Task.CompletedTask;
            }),
            new("schema pop+ack", "bare pop+ack on the engine's own items table", false, n =>
            {
                for (var i = 0; i < n; i++) bareSchema.PopAck();
                return Task.CompletedTask;
            }),
            new("bare insert FULL", "as bare insert, synchronous=FULL (fsync of the WAL per commit)", true, n =>
            {
                for (var i = 0; i < n; i++) bareFull.Insert(payload);
                return Task.CompletedTask;
            }),
            new("bare update FULL", "as bare update, synchronous=FULL", true, n =>
            {
                for (var i = 0; i < n; i++) bareFull.Update(fullUpdated++ % bareFull.Count);
                return Task.CompletedTask;
            }),
            new("bare pop+ack FULL", "as bare pop+ack, synchronous=FULL", true, n =>
            {
                for (var i = 0; i < n; i++) bareFull.PopAck();
                return Task.CompletedTask;
            }),
        };

        // Warm-up (JIT, page cache), not recorded.
        foreach (var v in variants) await v.Run(Math.Min(50, v.Full ? fullOps : ops));

        var rates = variants.ToDictionary(v => v.Name, _ => new List<double>());
        var cpu = variants.ToDictionary(v => v.Name, _ => new List<double>());
        using var self = Process.GetCurrentProcess();
        for (var r = 0; r < rounds; r++)
        {
            // Rotate the order every round so no variant always runs right after the same neighbour.
            for (var k = 0; k < variants.Count; k++)
            {
                var v = variants[(k + r) % variants.Count];
                var n = v.Full ? fullOps : ops;
                GC.Collect();
                GC.WaitForPendingFinalizers();
                self.Refresh();
                var cpu0 = self.TotalProcessorTime;
                var clock = Stopwatch.StartNew();
                await v.Run(n);
                var wall = clock.Elapsed;
                self.Refresh();
                rates[v.Name].Add(n / wall.TotalSeconds);
                cpu[v.Name].Add((self.TotalProcessorTime - cpu0).TotalMicroseconds / n);
            }
        }

        Console.WriteLine($"### Store throughput ({rounds} interleaved rounds; {ops} ops per run, {fullOps} for FULL)");
        Console.WriteLine();
        Console.WriteLine("| operation | what one op is | median ops/s | p10–p90 ops/s | median wall µs/op | median CPU µs/op |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|");
        foreach (var v in variants)
        {
            var list = rates[v.Name];
            var med = Stats.Median(list);
            Console.WriteLine($"| {v.Name} | {v.Description} | {Stats.N0(med)} | {Stats.N0(Stats.P(list, 10))}–{Stats.N0(Stats.P(list, 90))} | {Stats.F(1e6 / med, 0)} | {Stats.F(Stats.Median(cpu[v.Name]), 0)} |");
        }
        Console.WriteLine();

        // Ratios per round (each engine run against the bare runs of the same round), then their median.
        double RatioMedian(string a, string b) => Stats.Median(rates[a].Zip(rates[b], (x, y) => x / y).ToList());
        double CpuRatioMedian(string a, string b) => Stats.Median(cpu[b].Zip(cpu[a], (x, y) => x / y).ToList());
        var pushRatio = RatioMedian("push", "bare insert");
        var popRatio = RatioMedian("pop+ack", "bare pop+ack");
        Console.WriteLine("| ratio (median of per-round ratios) | by wall-clock rate | by CPU time per op | goal | met (wall) |");
        Console.WriteLine("|---|---:|---:|---:|---|");
        Console.WriteLine($"| push / bare insert | {Stats.F(pushRatio * 100, 1)} % | {Stats.F(CpuRatioMedian("push", "bare insert") * 100, 1)} % | ≥ 40 % | {(pushRatio >= 0.40 ? "yes" : "NO")} |");
        Console.WriteLine($"| pop+ack / bare pop+ack (2 transactions each) | {Stats.F(popRatio * 100, 1)} % | {Stats.F(CpuRatioMedian("pop+ack", "bare pop+ack") * 100, 1)} % | ≥ 25 % | {(popRatio >= 0.25 ? "yes" : "NO")} |");
        Console.WriteLine($"| pop+ack / (bare single-row update ÷ 2) | {Stats.F(RatioMedian("pop+ack", "bare update") * 200, 1)} % | {Stats.F(CpuRatioMedian("pop+ack", "bare update") * 200, 1)} % | (reference) | |");
        Console.WriteLine($"| push / schema insert (engine's table, bare statements) | {Stats.F(RatioMedian("push", "schema insert") * 100, 1)} % | {Stats.F(CpuRatioMedian("push", "schema insert") * 100, 1)} % | (reference) | |");
        Console.WriteLine($"| pop+ack / schema pop+ack | {Stats.F(RatioMedian("pop+ack", "schema pop+ack") * 100, 1)} % | {Stats.F(CpuRatioMedian("pop+ack", "schema pop+ack") * 100, 1)} % | (reference) | |");
        Console.WriteLine($"| bare insert FULL / NORMAL | {Stats.F(RatioMedian("bare insert FULL", "bare insert") * 100, 1)} % | | | |");
        Console.WriteLine($"| bare update FULL / NORMAL | {Stats.F(RatioMedian("bare update FULL", "bare update") * 100, 1)} % | | | |");
        Console.WriteLine($"| bare pop+ack FULL / NORMAL | {Stats.F(RatioMedian("bare pop+ack FULL", "bare pop+ack") * 100, 1)} % | | | |");
        Console.WriteLine();
        var fsyncUs = 1e6 / Stats.Median(rates["bare insert FULL"]) - 1e6 / Stats.Median(rates["bare insert"]);
        var pushUs = 1e6 / Stats.Median(rates["push"]);
        Console.WriteLine($"synchronous=FULL adds ≈ {Stats.F(fsyncUs / 1000, 2)} ms per commit here (an fsync of the WAL); a push under FULL would take ≈ {Stats.F((pushUs + fsyncUs) / 1000, 2)} ms " +
                          $"(≈ {Stats.N0(1e6 / (pushUs + fsyncUs))}/s) instead of {Stats.F(pushUs / 1000, 2)} ms, and a pop+ack (two commits) ≈ {Stats.F((1e6 / Stats.Median(rates["pop+ack"]) + 2 * fsyncUs) / 1000, 2)} ms " +
                          $"instead of {Stats.F(1e3 / Stats.Median(rates["pop+ack"]), 2)} ms.");
        Console.WriteLine();
    }
}

internal static class DeepQueue
{
    /// <summary>Copies of a real pushed row, in one transaction (pushing 100,000 one by one would only measure push again).</summary>
    private static void Fill(SqliteLaunchBackend backend, string templateId, int count, string state)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = backend.Location, Pooling = false }.ToString());
        connection.Open();
        using var tx = connection.BeginTransaction();
        using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < $count)
            INSERT INTO items (id, queue_id, state, priority, spec, template_values, run_id, created_at, updated_at, finished_at, exit_code)
            SELECT 'item-fill' || x, i.queue_id, $state, i.priority, i.spec, i.template_values, 'fill' || x, i.created_at, i.updated_at,
                   CASE WHEN $state = 'Finished' THEN i.created_at END, CASE WHEN $state = 'Finished' THEN 0 END
            FROM items i, n WHERE i.id = $id
            """;
        cmd.Parameters.AddWithValue("$count", count);
        cmd.Parameters.AddWithValue("$id", templateId);
        cmd.Parameters.AddWithValue("$state", state);
        cmd.ExecuteNonQuery();
        tx.Commit();
    }

    public static async Task RunAsync(Args args)
    {
        var dir = args.Get("dir");
        var pending = args.Int("pending", 100_000);
        var iterations = args.Int("iterations", 2000);
        Directory.CreateDirectory(dir);
        var ct = CancellationToken.None;
        var logDir = Path.Combine(dir, "logs");
        var request = new PushRequest { Spec = Program.Spec(dir, Program.TrainEntryPoint, "bench-run") };

        // deep: `pending` pending items. history: 20 pending behind `pending` finished ones. shallow: 20 pending.
        var stores = new (string Name, SqliteLaunchBackend Backend, QueueKey Key)[3];
        var names = new[] { "deep", "history", "shallow" };
        var fill = Stopwatch.StartNew();
        for (var s = 0; s < names.Length; s++)
        {
            var backend = new SqliteLaunchBackend(Path.Combine(dir, names[s] + ".db"));
            var key = await Program.CreateQueueAsync(backend, names[s]);
            var template = await backend.PushAsync(key, request, ct);
            if (names[s] == "deep") Fill(backend, template.Id, pending - 1, "Pending");
            if (names[s] == "history") Fill(backend, template.Id, pending, "Finished");
            for (var i = 0; i < 20; i++) await backend.PushAsync(key, request, ct);
            stores[s] = (names[s], backend, key);
        }
        var depth = (await stores[0].Backend.GetQueueAsync(stores[0].Key, ct))!.PendingCount;
        Console.Error.WriteLine($"filled the stores in {fill.Elapsed.TotalSeconds:F1} s");

        var ops = new[] { "pop", "ack", "push" };
        var results = new Dictionary<(string Store, string Op), List<double>>();
        foreach (var store in names)
        foreach (var op in ops) results[(store, op)] = [];

        async Task StepAsync((string Name, SqliteLaunchBackend Backend, QueueKey Key) store, bool record)
        {
            var clock = Stopwatch.StartNew();
            var job = await store.Backend.PopAsync(Program.AgentId, store.Key, TimeSpan.FromMinutes(10), ct) ?? throw new InvalidOperationException("queue ran dry");
            var pop = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            await store.Backend.AckAsync(job.Id, Program.AgentId, Path.Combine(logDir, job.Id + ".log"), ct);
            var ack = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            await store.Backend.PushAsync(store.Key, request, ct);
            var push = clock.Elapsed.TotalMilliseconds;
            if (!record) return;
            results[(store.Name, "pop")].Add(pop);
            results[(store.Name, "ack")].Add(ack);
            results[(store.Name, "push")].Add(push);
        }

        for (var i = 0; i < 50; i++)
        {
            foreach (var store in stores) await StepAsync(store, record: false);
        }
        for (var i = 0; i < iterations; i++)
        {
            // Rotate which store goes first, so none always follows another's commit.
            for (var k = 0; k < stores.Length; k++) await StepAsync(stores[(i + k) % stores.Length], record: true);
        }
        foreach (var store in stores) store.Backend.Dispose();

        Console.WriteLine($"### Pop, ack and push: {Stats.N0(depth)} pending (deep), 20 pending behind {Stats.N0(pending)} finished (history), 20 pending (shallow); {iterations} of each, interleaved");
        Console.WriteLine();
        Console.WriteLine("| operation | queue | p50 ms | p90 ms | p99 ms | max ms |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|");
        foreach (var op in ops)
        foreach (var store in names)
        {
            var list = results[(store, op)];
            Console.WriteLine($"| {op} | {store} | {Stats.F(Stats.P(list, 50), 3)} | {Stats.F(Stats.P(list, 90), 3)} | {Stats.F(Stats.P(list, 99), 3)} | {Stats.F(Stats.P(list, 100), 3)} |");
        }
        Console.WriteLine();
        var p50 = Stats.P(results[("deep", "pop")], 50);
        Console.WriteLine($"Goal: pop with {Stats.N0(depth)} pending < 5 ms: p50 {Stats.F(p50, 3)} ms, p99 {Stats.F(Stats.P(results[("deep", "pop")], 99), 3)} ms — {(p50 < 5 ? "met" : "NOT met")}.");
        Console.WriteLine();
    }
}

internal static class Dispatch
{
    public static async Task RunAsync(Args args)
    {
        var store = args.Get("store");
        var queue = args.Get("queue");
        var dir = args.Get("dir");
        var probe = args.All("probe");
        var samples = args.Int("samples", 200);
        var warmup = args.Int("warmup", 10);
        var ct = CancellationToken.None;
        var marks = Path.Combine(dir, "marks");
        Directory.CreateDirectory(marks);
        using var backend = new SqliteLaunchBackend(store);
        var key = Program.Key(backend, queue);
        var random = new Random(12345);

        var raw = new List<double>();
        var spawn = new List<double>();
        var pushMs = new List<double>();
        var toLease = new List<double>();
        var leaseToRunning = new List<double>();
        var lines = new StringBuilder("sample,raw_ms,spawn_ms,push_ms,created_to_leased_ms,leased_to_running_ms\n");

        for (var i = -warmup; i < samples; i++)
        {
            // 1. Submit → the probe's own clock reading, with the agent in its own process.
            var mark = Path.Combine(marks, $"job-{i + warmup}.t");
            var spec = Program.Spec(dir, probe.Append(mark), $"dispatch-{i + warmup}");
            var t0 = Program.NowNs();
            var job = await backend.PushAsync(key, new PushRequest { Spec = spec }, ct);
            var push = (Program.NowNs() - t0) / 1e6;
            var started = await WaitForMarkAsync(mark);
            var latency = (started - t0) / 1e6;
            var final = await WaitForEndAsync(backend, job.Id);
            if (final.State != LaunchJobState.Finished) throw new InvalidOperationException($"job {job.Id} ended {final.State}: {final.FailureMessage}");

            // 2. The same probe spawned from here, the way the local-process runner starts it.
            var spawnMark = Path.Combine(marks, $"spawn-{i + warmup}.t");
            var s = await SpawnAsync(probe, spawnMark, dir);

            if (i >= 0)
            {
                raw.Add(latency);
                spawn.Add(s);
                pushMs.Add(push);
                var leased = (final.LeasedAt!.Value - final.CreatedAt).TotalMilliseconds;
                var running = (final.StartedAt!.Value - final.LeasedAt!.Value).TotalMilliseconds;
                toLease.Add(leased);
                leaseToRunning.Add(running);
                lines.Append(CultureInfo.InvariantCulture, $"{i},{latency:F3},{s:F3},{push:F3},{leased:F0},{running:F0}\n");
            }
            // A random pause, so submits are not in step with the agent's 10 ms check of the store.
            await Task.Delay(20 + random.Next(40));
        }
        File.WriteAllText(Path.Combine(dir, "dispatch-samples.csv"), lines.ToString());

        var spawnMedian = Stats.Median(spawn);
        var net = raw.Select(r => r - spawnMedian).ToList();
        Console.WriteLine($"### Submit → process start, {samples} samples one at a time (after {warmup} warm-up jobs)");
        Console.WriteLine();
        Console.WriteLine("| measure | p50 ms | p95 ms | p99 ms | max ms | mean ms |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        void Row(string name, List<double> list) =>
            Console.WriteLine($"| {name} | {Stats.F(Stats.P(list, 50))} | {Stats.F(Stats.P(list, 95))} | {Stats.F(Stats.P(list, 99))} | {Stats.F(Stats.P(list, 100))} | {Stats.F(list.Average())} |");
        Row("raw: before PushAsync → probe's first clock reading", raw);
        Row("spawn: Process.Start of the same probe from a .NET process (interleaved)", spawn);
        Row("net: raw − median spawn", net);
        Row("of which PushAsync (submitting process)", pushMs);
        Row("store: created_at → leased_at (agent wakes and pops; ms clock)", toLease);
        Row("store: leased_at → started_at (ack, spawn, mark running; ms clock)", leaseToRunning);
        Console.WriteLine();
        var p50 = Stats.P(net, 50);
        var p99 = Stats.P(net, 99);
        Console.WriteLine($"Goals (net): p50 < 50 ms: {Stats.F(p50)} ms — {(p50 < 50 ? "met" : "NOT met")}; p99 < 250 ms: {Stats.F(p99)} ms — {(p99 < 250 ? "met" : "NOT met")}. " +
                          $"Raw: p50 {Stats.F(Stats.P(raw, 50))} ms — {(Stats.P(raw, 50) < 50 ? "met" : "NOT met")}; p99 {Stats.F(Stats.P(raw, 99))} ms — {(Stats.P(raw, 99) < 250 ? "met" : "NOT met")}.");
        Console.WriteLine();
    }

    private static async Task<long> WaitForMarkAsync(string path)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            // The probe writes a temporary file and renames it, so an existing mark is complete.
            if (File.Exists(path)) return long.Parse(File.ReadAllText(path).Trim(), CultureInfo.InvariantCulture);
            await Task.Delay(1);
        }
        throw new TimeoutException($"the job did not start within 60 s (no {path}); is the agent running?");
    }

    private static async Task<LaunchJob> WaitForEndAsync(SqliteLaunchBackend backend, string id)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            var job = await backend.GetJobAsync(id, CancellationToken.None);
            if (job is not null && job.State.IsTerminal()) return job;
            await Task.Delay(2);
        }
        throw new TimeoutException($"job {id} did not end within 60 s");
    }

    private static async Task<double> SpawnAsync(IReadOnlyList<string> probe, string mark, string dir)
    {
        var info = new ProcessStartInfo(probe[0])
        {
            WorkingDirectory = dir,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var a in probe.Skip(1)) info.ArgumentList.Add(a);
        info.ArgumentList.Add(mark);
        var t0 = Program.NowNs();
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        await Task.WhenAll(stdout, stderr);
        return (long.Parse(File.ReadAllText(mark).Trim(), CultureInfo.InvariantCulture) - t0) / 1e6;
    }
}

internal static class Push
{
    public static async Task RunAsync(Args args)
    {
        using var backend = new SqliteLaunchBackend(args.Get("store"));
        var key = Program.Key(backend, args.Get("queue"));
        var dir = args.Get("dir");
        var entry = args.All("entry");
        var count = args.Int("count", 1);
        for (var i = 0; i < count; i++)
        {
            await backend.PushAsync(key, new PushRequest { Spec = Program.Spec(dir, entry, $"load-{i}") }, CancellationToken.None);
        }
        Console.Error.WriteLine($"pushed {count} job(s) to {key}");
    }
}

internal static class Loop
{
    public static async Task RunAsync(Args args)
    {
        var dir = args.Get("dir");
        var seconds = args.Int("seconds", 10);
        var op = args.Has("op") ? args.Get("op") : "both";
        Directory.CreateDirectory(dir);
        var ct = CancellationToken.None;
        using var engine = new SqliteLaunchBackend(Path.Combine(dir, "loop.db"));
        var key = await Program.CreateQueueAsync(engine, "loop");
        var request = new PushRequest { Spec = Program.Spec(dir, Program.TrainEntryPoint, "bench-run") };
        var clock = Stopwatch.StartNew();
        long pushes = 0, pops = 0;
        double pushTime = 0, popTime = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(seconds))
        {
            var t = Stopwatch.StartNew();
            for (var i = 0; i < 100; i++) await engine.PushAsync(key, request, ct);
            pushTime += t.Elapsed.TotalSeconds;
            pushes += 100;
            if (op == "push") continue;
            t.Restart();
            for (var i = 0; i < 100; i++)
            {
                var job = await engine.PopAsync(Program.AgentId, key, TimeSpan.FromMinutes(10), ct) ?? throw new InvalidOperationException("queue ran dry");
                await engine.AckAsync(job.Id, Program.AgentId, Path.Combine(dir, job.Id + ".log"), ct);
            }
            popTime += t.Elapsed.TotalSeconds;
            pops += 100;
        }
        Console.WriteLine($"push {pushes / pushTime:F0}/s ({1e6 * pushTime / pushes:F0} µs), pop+ack {pops / popTime:F0}/s ({1e6 * popTime / Math.Max(1, pops):F0} µs)");
    }
}

internal static class KillTest
{
    /// <summary>The child: pushes until killed, writing each job id once PushAsync has returned (the commit is done).</summary>
    public static async Task PushForeverAsync(Args args)
    {
        using var backend = new SqliteLaunchBackend(args.Get("store"));
        var key = Program.Key(backend, args.Get("queue"));
        var request = new PushRequest { Spec = Program.Spec(args.Get("dir"), Program.TrainEntryPoint, "acked") };
        var stdout = Console.Out;
        while (true)
        {
            var job = await backend.PushAsync(key, request, CancellationToken.None);
            await stdout.WriteLineAsync(job.Id);
            await stdout.FlushAsync();
        }
    }

    public static async Task RunAsync(Args args)
    {
        var dir = args.Get("dir");
        var trials = args.Int("trials", 20);
        Directory.CreateDirectory(dir);
        var store = Path.Combine(dir, "kill.db");
        using (var setup = new SqliteLaunchBackend(store)) await Program.CreateQueueAsync(setup, "kill");
        var random = new Random(7);
        var acknowledged = new List<string>();
        for (var t = 0; t < trials; t++)
        {
            var info = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
            if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") info.ArgumentList.Add(typeof(Program).Assembly.Location);
            foreach (var a in new[] { "acked", "--store", store, "--queue", "kill", "--dir", dir }) info.ArgumentList.Add(a);
            using var child = Process.Start(info)!;
            var ids = new List<string>();
            var reader = Task.Run(async () =>
            {
                // At EOF ReadLineAsync also returns a last line that had no newline; only whole ids count.
                while (await child.StandardOutput.ReadLineAsync() is { } line)
                {
                    if (System.Text.RegularExpressions.Regex.IsMatch(line, "^item-[a-z0-9]{12}$")) lock (ids) ids.Add(line);
                }
            });
            // Let it get going, then kill it at a random moment of its push loop.
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < TimeSpan.FromSeconds(30))
            {
                lock (ids) if (ids.Count > 0) break;
                await Task.Delay(5);
            }
            await Task.Delay(50 + random.Next(250));
            child.Kill(entireProcessTree: true);
            await child.WaitForExitAsync();
            await reader;
            lock (ids) acknowledged.AddRange(ids);
        }
        using var check = new SqliteLaunchBackend(store);
        var lost = 0;
        foreach (var id in acknowledged)
        {
            if (await check.GetJobAsync(id, CancellationToken.None) is null) lost++;
        }
        var total = (await check.GetJobsAsync(new JobQuery(), CancellationToken.None)).Count;
        Console.WriteLine($"### Killed submitters ({trials} trials, SIGKILL at a random moment of a push loop)");
        Console.WriteLine();
        Console.WriteLine("| acknowledged pushes | found after the kills | lost | rows in the store (acknowledged + committed but not yet reported) |");
        Console.WriteLine("|---:|---:|---:|---:|");
        Console.WriteLine($"| {acknowledged.Count} | {acknowledged.Count - lost} | {lost} | {total} |");
        Console.WriteLine();
    }
}
