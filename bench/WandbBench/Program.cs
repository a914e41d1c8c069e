using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Wandb;
using WandbLaunch.Tests.WandbServer;
using WandbBench;

// Dispatch on a W&B server: our agent (LaunchAgent on WandbLaunchBackend, the cadence of the backend) side by side
// with a model of W&B's agent (ModelAgent: agent.py's loop replayed), each of K agents on a queue of its own on one
// W&B stand-in. Measures push → job start when idle and right after work, and the requests an idle agent sends.
var options = Args.Parse(args);
var count = options.Int("agents", 10);
var rounds = options.Int("rounds", 4);
var rateSeconds = options.Int("rate-seconds", 120);
var settle = TimeSpan.FromSeconds(options.Int("settle-seconds", 45));
var afterWork = (options.Has("after") ? options.All("after") : ["1", "3", "6"]).Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToList();

var home = Directory.CreateTempSubdirectory("wandb-bench-");
Environment.SetEnvironmentVariable("HOME", home.FullName); // job logs go under ~/.config/wandb/launch
using var stop = new CancellationTokenSource();
var token = stop.Token;
try
{
    using var server = new WandbStandIn();
    var runner = new ProbeRunner();
    var ours = await Connect(server, "ours");
    var model = await Connect(server, "model");
    var clients = new List<Client>();
    for (var i = 0; i < count; i++)
    {
        var oq = await CreateQueue(ours, "ours", $"q{i}");
        var agent = new LaunchAgent(ours, new AgentOptions
        {
            Config = new LaunchAgentConfig { Queues = [oq.Name], Entity = "ours", MaxJobs = 1 },
            Name = $"ours-{i}",
            Environment = _ => null,
            WorkDirectory = Path.Combine(home.FullName, "runs"),
        }, new NoEvents(), new RunnerRegistry([runner]));
        _ = Task.Run(() => agent.RunAsync(token));
        clients.Add(new Client("ours", ours, oq, id => runner.StartOf(id)));
        var mq = await CreateQueue(model, "model", $"q{i}");
        var modelAgent = new ModelAgent(model, mq);
        _ = Task.Run(() => modelAgent.RunAsync(token));
        clients.Add(new Client("W&B model", model, mq, modelAgent.StartOf));
    }
    var codeDir = Directory.CreateDirectory(Path.Combine(home.FullName, "code")).FullName;
    var lastWork = Clock.Now;

    // Idle: every agent has had nothing to do for `settle` (its cadence is the idle one); pushes at random phases.
    var idle = new Dictionary<string, List<double>>();
    for (var r = 0; r < rounds; r++)
    {
        await Clock.Until(lastWork + settle.TotalSeconds, token);
        var latencies = await Task.WhenAll(clients.Select(async c =>
        {
            await Task.Delay(TimeSpan.FromSeconds(Random.Shared.NextDouble() * 10), token);
            return (c.Kind, Latency: await c.PushAndWaitAsync(codeDir, token));
        }));
        foreach (var (kind, latency) in latencies) Add(idle, kind, latency);
        lastWork = Clock.Now;
        Console.Error.WriteLine($"idle round {r + 1}/{rounds} done");
    }

    // Right after work: a job, then a push `d` seconds after it started (the probe job ends as it starts).
    var after = new Dictionary<string, List<double>>();
    foreach (var d in afterWork)
    {
        var latencies = await Task.WhenAll(clients.Select(async c =>
        {
            await c.PushAndWaitAsync(codeDir, token);
            await Task.Delay(TimeSpan.FromSeconds(d), token);
            return (Kind: $"{c.Kind}|{d}", Latency: await c.PushAndWaitAsync(codeDir, token));
        }));
        foreach (var (kind, latency) in latencies) Add(after, kind, latency);
        lastWork = Clock.Now;
        Console.Error.WriteLine($"after-work round d={d} s done");
    }

    // Requests of idle agents.
    await Clock.Until(lastWork + settle.TotalSeconds, token);
    server.ClearCalls();
    await Task.Delay(TimeSpan.FromSeconds(rateSeconds), token);
    var calls = server.Calls;
    stop.Cancel();

    Console.WriteLine($"Agents: {count} of each kind, each on a queue of its own (max_jobs 1), one W&B stand-in on loopback; the job is a probe that ends at once.");
    Console.WriteLine();
    Console.WriteLine($"### Idle dispatch: push → job start, agents idle ≥ {settle.TotalSeconds:0} s, pushes at random phases ({rounds} rounds)");
    Console.WriteLine();
    Console.WriteLine("| agent | samples | p50 (s) | p95 (s) | max (s) | mean (s) |");
    Console.WriteLine("|---|---:|---:|---:|---:|---:|");
    foreach (var (kind, values) in idle) Console.WriteLine(Row(kind, values));
    Console.WriteLine();
    Console.WriteLine("### Right after work: push d seconds after the agent's previous job started (and ended)");
    Console.WriteLine();
    Console.WriteLine("| agent | d (s) | samples | p50 (s) | p95 (s) | max (s) |");
    Console.WriteLine("|---|---:|---:|---:|---:|---:|");
    foreach (var (key, values) in after)
    {
        var parts = key.Split('|');
        var s = Stats(values);
        Console.WriteLine($"| {parts[0]} | {parts[1]} | {values.Count} | {s.P50:0.000} | {s.P95:0.000} | {s.Max:0.000} |");
    }
    Console.WriteLine();
    Console.WriteLine($"### Requests of an idle agent ({rateSeconds} s, after {settle.TotalSeconds:0} s idle; per agent per minute, from the stand-in's Calls)");
    Console.WriteLine();
    var operations = calls.SelectMany(c => c.Fields).Distinct().Order(StringComparer.Ordinal).ToList();
    Console.WriteLine("| agent | total | " + string.Join(" | ", operations) + " |");
    Console.WriteLine("|---|---:|" + string.Concat(operations.Select(_ => "---:|")));
    foreach (var (kind, user) in new[] { ("ours", "ours"), ("W&B model", "model") })
    {
        var mine = calls.Where(c => c.Username == user).ToList();
        double PerMinute(int n) => n / (double)count / (rateSeconds / 60.0);
        Console.WriteLine($"| {kind} | {PerMinute(mine.Count):0.0} | " + string.Join(" | ", operations.Select(o => PerMinute(mine.Count(c => c.Fields.Contains(o))).ToString("0.0", CultureInfo.InvariantCulture))) + " |");
    }
}
finally
{
    stop.Cancel();
    try { home.Delete(recursive: true); } catch (IOException) { }
}
return 0;

static void Add(Dictionary<string, List<double>> into, string kind, double value)
{
    if (!into.TryGetValue(kind, out var list)) into[kind] = list = [];
    list.Add(value);
}

static (double P50, double P95, double Max, double Mean) Stats(List<double> values)
{
    var sorted = values.Order().ToList();
    double At(double q) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];
    return (At(0.5), At(0.95), sorted[^1], sorted.Average());
}

static string Row(string kind, List<double> values)
{
    var s = Stats(values);
    return $"| {kind} | {values.Count} | {s.P50:0.000} | {s.P95:0.000} | {s.Max:0.000} | {s.Mean:0.000} |";
}

static async Task<ILaunchBackend> Connect(WandbStandIn server, string user)
{
    var key = server.AddUser(user);
    return await LaunchBackends.ConnectAsync(new WandbConnection(server.Url, WandbApiKey.Of(key, "bench")) { Entity = user }, CancellationToken.None);
}

static async Task<QueueKey> CreateQueue(ILaunchBackend backend, string entity, string name)
{
    await backend.CreateQueueAsync(new QueueDefinition { Name = name, Entity = entity, Project = LaunchDefaults.Project, Resource = LaunchResource.LocalProcess }, CancellationToken.None);
    return new QueueKey(entity, LaunchDefaults.Project, name);
}

namespace WandbBench
{
    internal static class Clock
    {
        public static double Now => Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;

        public static async Task Until(double at, CancellationToken token)
        {
            var wait = at - Now;
            if (wait > 0) await Task.Delay(TimeSpan.FromSeconds(wait), token);
        }
    }

    /// <summary>One agent under test: where to push, and when the pushed item's job started.</summary>
    internal sealed record Client(string Kind, ILaunchBackend Backend, QueueKey Queue, Func<string, double?> StartOf)
    {
        public async Task<double> PushAndWaitAsync(string codeDir, CancellationToken token)
        {
            var spec = new JsonObject { ["uri"] = codeDir, ["overrides"] = new JsonObject { ["entry_point"] = new JsonArray("true") } };
            var pushed = Clock.Now;
            var job = await Backend.PushAsync(Queue, new PushRequest { Spec = spec }, token);
            while (true)
            {
                if (StartOf(job.Id) is { } started) return started - pushed;
                if (Clock.Now - pushed > 120) throw new TimeoutException($"{Kind}: {job.Id} did not start within 120 s");
                await Task.Delay(2, token);
            }
        }
    }

    /// <summary>A local-process stand-in that records when the agent started each item's job; the job ends at once.</summary>
    internal sealed class ProbeRunner : ILaunchRunner
    {
        private readonly ConcurrentDictionary<string, double> _starts = new();

        public string Resource => LaunchResource.LocalProcess;

        public bool RequiresImage => false;

        public double? StartOf(string itemId) => _starts.TryGetValue(itemId, out var at) ? at : null;

        public RenderedRequest Render(JobContext context) => new() { Resource = Resource, Summary = "probe", Text = "probe" };

        public async Task<IRunningJob> StartAsync(JobContext context, CancellationToken cancellationToken)
        {
            await context.Launching();
            _starts[context.Job.Id] = Clock.Now;
            return new Ended();
        }

        public Task<IRunningJob?> AttachAsync(LaunchJob job, JobLog log, CancellationToken cancellationToken) => Task.FromResult<IRunningJob?>(null);

        private sealed class Ended : IRunningJob
        {
            public string Handle => "probe";

            public string Description => "probe";

            public Task Started => Task.CompletedTask;

            public Task<JobOutcome> Completion => Task.FromResult(JobOutcome.Finished());

            public Task CancelAsync() => Task.CompletedTask;
        }
    }

    internal sealed class NoEvents : IAgentEvents
    {
        public void Report(AgentEvent agentEvent)
        {
        }
    }

    /// <summary>
    /// A MODEL of W&amp;B's agent (wandb/sdk/launch/agent/agent.py, <c>loop</c>, <c>run_job</c>, <c>_task_run_job</c>),
    /// not the agent itself (that needs Python and the wandb package): each tick reads the agent (launchAgent, for
    /// stopPolling), pops its queue when it has room, and on a job sends updateLaunchAgent RUNNING and acks it (the
    /// job's start); every second tick it sends its status; it sleeps AGENT_POLLING_INTERVAL (10 s) unless it took a
    /// job and still has room (0 s). With max_jobs 1 a taken job fills it, so it sleeps 10 s after each job too. Its
    /// job ends at once, and the end is seen at once (W&amp;B's job thread checks every 10 s: the model favours W&amp;B).
    /// It sends the same GraphQL texts as our backend (the SDK's, in WandbOperations).
    /// </summary>
    internal sealed class ModelAgent(ILaunchBackend backend, QueueKey queue)
    {
        private static readonly TimeSpan AgentPollingInterval = TimeSpan.FromSeconds(10);
        private readonly ConcurrentDictionary<string, double> _starts = new();

        public double? StartOf(string itemId) => _starts.TryGetValue(itemId, out var at) ? at : null;

        public async Task RunAsync(CancellationToken token)
        {
            var info = await backend.RegisterAgentAsync(new AgentRegistration
            {
                Name = "wandb-model", Entity = queue.Entity, Queues = [queue], ConfigJson = "{}", MaxJobs = 1,
            }, token);
            var ticks = 0;
            var running = 0;
            try
            {
                while (!token.IsCancellationRequested)
                {
                    ticks++;
                    var self = await backend.GetAgentAsync(info.Id, token);
                    if (self?.StopRequested == true) return;
                    LaunchJob? job = null;
                    if (running < 1)
                    {
                        job = await backend.PopAsync(info.Id, queue, TimeSpan.FromMinutes(1), token);
                        if (job is not null)
                        {
                            running++;
                            await backend.SetAgentStatusAsync(info.Id, AgentStatus.Running, token);
                            await backend.AckAsync(job.Id, info.Id, "", token);
                            _starts[job.Id] = Clock.Now;
                        }
                    }
                    if (ticks % 2 == 0) await backend.SetAgentStatusAsync(info.Id, running == 0 ? AgentStatus.Polling : AgentStatus.Running, token);
                    var full = running == 1;
                    if (job is not null)
                    {
                        // The job ended at once; finish_thread_id reports POLLING.
                        await backend.FinishAsync(job.Id, info.Id, JobOutcome.Finished(), token);
                        running--;
                        await backend.SetAgentStatusAsync(info.Id, AgentStatus.Polling, token);
                    }
                    await Task.Delay(full || job is null ? AgentPollingInterval : TimeSpan.Zero, token);
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
            }
        }
    }
}
