using System.Runtime;
using System.Runtime.InteropServices;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Storage.Sqlite;

namespace KubeBench;

/// <summary>
/// A LaunchAgent alone in this process, built as Start-WandbLaunchAgent builds one (AgentFactory: the process
/// environment, a 1 s polling interval, lease and start timeout from the environment), with max_jobs -1 and the noop
/// builder. It runs until a stop is requested through the store (or SIGTERM/Ctrl+C), then writes its GC figures to
/// its log.
/// </summary>
internal static class AgentHost
{
    public static async Task<int> RunAsync(Args args)
    {
        var store = args.Get("store");
        using var backend = new SqliteLaunchBackend(store);
        var options = new AgentOptions
        {
            Config = new LaunchAgentConfig { Queues = [args.Get("queue")], MaxJobs = -1, Builder = new BuilderSettings { Type = "noop" } },
            Name = args.Get("name"),
            PollingInterval = TimeSpan.FromSeconds(1),
            Lease = AgentOptions.ParseLease(Environment.GetEnvironmentVariable),
            StartTimeout = AgentOptions.ParseStartTimeout(Environment.GetEnvironmentVariable),
            Environment = Environment.GetEnvironmentVariable,
            WorkDirectory = args.Get("work"),
        };
        await using var log = new StreamWriter(args.Get("log")) { AutoFlush = true };
        var events = new Events(log);
        using var stop = new CancellationTokenSource();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            stop.Cancel();
        });
        // SIGUSR1 (10): a full blocking collection, then the live heap in the log (diagnosis only: it changes what is measured).
        using var usr1 = PosixSignalRegistration.Create((PosixSignal)10, c =>
        {
            c.Cancel = true;
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            var info = GC.GetGCMemoryInfo();
            events.Write($"{DateTime.Now:HH:mm:ss.fff} full GC: live heap {info.HeapSizeBytes / 1048576.0:F1} MB, committed {info.TotalCommittedBytes / 1048576.0:F1} MB");
        });
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };
        using var waits = Environment.GetEnvironmentVariable("KUBEBENCH_WAITS") == "1" ? new WaitListener() : null;
        var agent = new LaunchAgent(backend, options, events);
        // KUBEBENCH_POOL=1: the thread pool's state every 500 ms in the log (to see starvation).
        Timer? pool = Environment.GetEnvironmentVariable("KUBEBENCH_POOL") == "1"
            ? new Timer(_ =>
                {
                    var gc = GC.GetGCMemoryInfo();
                    events.Write($"{DateTime.Now:HH:mm:ss.fff} pool threads {ThreadPool.ThreadCount} pending {ThreadPool.PendingWorkItemCount} completed {ThreadPool.CompletedWorkItemCount} " +
                                 $"active jobs {agent.ActiveJobs}; GC heap {gc.HeapSizeBytes / 1048576.0:F1} MB (gen0 {gc.GenerationInfo[0].SizeAfterBytes / 1048576.0:F1}, gen1 {gc.GenerationInfo[1].SizeAfterBytes / 1048576.0:F1}, " +
                                 $"gen2 {gc.GenerationInfo[2].SizeAfterBytes / 1048576.0:F1}, LOH {gc.GenerationInfo[3].SizeAfterBytes / 1048576.0:F1}), committed {gc.TotalCommittedBytes / 1048576.0:F1} MB, " +
                                 $"GCs {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}");
                },
                null, 500, 500)
            : null;
        await agent.RunAsync(stop.Token);
        pool?.Dispose();
        foreach (var stack in waits?.Report() ?? []) events.Write(stack);
        var info = GC.GetGCMemoryInfo();
        events.Write($"gc: {(GCSettings.IsServerGC ? "server" : "workstation")}, heap {GC.GetTotalMemory(false) / 1048576.0:F1} MB, " +
                     $"committed {info.TotalCommittedBytes / 1048576.0:F1} MB, collections gen0 {GC.CollectionCount(0)} gen1 {GC.CollectionCount(1)} gen2 {GC.CollectionCount(2)}, " +
                     $"allocated {GC.GetTotalAllocatedBytes() / 1048576.0:F0} MB, threads {System.Diagnostics.Process.GetCurrentProcess().Threads.Count}, " +
                     $"thread pool {ThreadPool.ThreadCount}");
        return 0;
    }

    private sealed class Events(StreamWriter log) : IAgentEvents
    {
        private readonly object _lock = new();

        public void Report(AgentEvent agentEvent) => Write($"{agentEvent.Time:HH:mm:ss.fff} {agentEvent.Kind} {agentEvent.Message}");

        public void Write(string line)
        {
            lock (_lock) log.WriteLine(line);
        }
    }
}
