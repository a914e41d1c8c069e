using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Tests.KubeApi;

namespace KubeBench;

/// <summary>
/// An agent following many Kubernetes jobs. This process runs the loopback API server (tests/KubeApiServer), writes
/// a kubeconfig for it, creates a store with a kubernetes queue (configs/bench-job.input.yaml: a batch Job, the image
/// from the job) and starts an agent in another process: <c>console</c>, this program's <c>agent</c> mode (a
/// LaunchAgent alone in a .NET process), or <c>pwsh</c>, Start-WandbLaunchAgent in pwsh. The agent's CPU time and
/// resident memory are read from /proc once a second: idle, then with all jobs running (their pods set Running by this
/// process, acting as the kubelet), then after they all completed. Every job must end Finished; every API-key Secret
/// must be deleted and every watch closed.
/// </summary>
internal static class Monitor
{
    private const string Namespace = "ml";
    private const string QueueName = "k8s";
    private const string Entity = "kubebench";

    private sealed record Window(string Phase, double CpuPercent, double MaxSecondCpu, double RssMeanMb, double RssMaxMb, int Threads, int Sockets, double DriverCpuPercent);

    public static async Task<int> RunAsync(Args args)
    {
        var jobs = args.Int("jobs", 500);
        var idleSeconds = args.Int("idle", 10);
        var steadySeconds = args.Int("steady", 20);
        var afterSeconds = args.Int("after", 10);
        var logRate = args.Int("log-rate", 1);
        var logSeconds = args.Int("log-seconds", 20);
        var kind = args.Get("agent", "console");
        var dir = Path.GetFullPath(args.Get("dir"));
        Directory.CreateDirectory(dir);
        var cancel = CancellationToken.None;
        var startLoad = Stats.Load();

        using var server = new KubeApiServer();
        server.AddNamespace(Namespace);
        var kubeconfig = server.WriteKubeconfig(Path.Combine(dir, "kubeconfig"), Namespace);
        var storePath = Path.Combine(dir, "store", "launch.db");
        using var backend = new SqliteLaunchBackend(storePath, Entity);
        var input = Render.Inputs().Single(i => i.Name == "bench-job").Input;
        var template = (JsonObject)input["spec"]!;
        await backend.CreateQueueAsync(new QueueDefinition
        {
            Name = QueueName,
            Entity = Entity,
            Project = LaunchDefaults.Project,
            Resource = "kubernetes",
            Configuration = template["resource_args"]!["kubernetes"]!.DeepClone(),
            CreatedBy = "kubebench",
        }, cancel);
        var queue = new QueueKey(Entity, LaunchDefaults.Project, QueueName);

        var name = $"kubebench-{kind}-{Environment.ProcessId}";
        var agentLog = Path.Combine(dir, $"agent-{kind}.log");
        using var process = StartAgent(kind, args, dir, name, storePath, kubeconfig, agentLog);
        var windows = new List<Window>();
        var notes = new List<string>();
        var ok = true;
        string? agentId = null;
        try
        {
            var clock = Stopwatch.StartNew();
            LaunchAgentInfoLite? agent = null;
            while (agent is null)
            {
                if (process.HasExited) throw new InvalidOperationException($"the agent exited with code {process.ExitCode}: {Tail(agentLog)}");
                if (clock.Elapsed > TimeSpan.FromSeconds(90)) throw new TimeoutException($"the agent did not register within 90 s: {Tail(agentLog)}");
                var found = (await backend.GetAgentsAsync(cancel)).FirstOrDefault(a => a.Name == name && a.Status != "KILLED");
                if (found is not null) agent = new LaunchAgentInfoLite(found.Id, found.ProcessId);
                else await Task.Delay(200);
            }
            agentId = agent.Id;
            var pid = agent.ProcessId;
            notes.Add($"Agent process: pid {pid}, registered {clock.Elapsed.TotalSeconds:F1} s after it was started.");
            await Task.Delay(2000);
            if (idleSeconds > 0) windows.Add(await SampleAsync("idle (no jobs)", pid, idleSeconds));

            // Submit, then act as the kubelet: every pod the job controller creates is set Running.
            var spec = new JsonObject
            {
                ["docker"] = template["docker"]!.DeepClone(),
                ["overrides"] = template["overrides"]!.DeepClone(),
                ["project"] = template["project"]!.DeepClone(),
                ["entity"] = Entity,
            };
            clock.Restart();
            for (var i = 0; i < jobs; i++)
            {
                var one = (JsonObject)spec.DeepClone();
                one["name"] = $"bench-{i:d4}";
                await backend.PushAsync(queue, new PushRequest { Spec = one }, cancel);
            }
            var pushed = clock.Elapsed;
            var running = 0;
            var startedPods = new HashSet<string>(StringComparer.Ordinal);
            var rampPeakMb = 0.0;
            while (true)
            {
                rampPeakMb = Math.Max(rampPeakMb, Read(pid).RssMb);
                foreach (var pod in server.All(ApiResource.Pods, Namespace))
                {
                    var podName = pod["metadata"]!["name"]!.GetValue<string>();
                    if (pod["status"]?["phase"]?.GetValue<string>() == "Pending" && startedPods.Add(podName)) server.SetPodPhase(Namespace, podName, "Running");
                }
                running = (await backend.GetJobsAsync(new JobQuery { Queue = queue, States = [LaunchJobState.Running] }, cancel)).Count;
                if (running >= jobs) break;
                if (process.HasExited) throw new InvalidOperationException($"the agent exited with code {process.ExitCode}: {Tail(agentLog)}");
                if (clock.Elapsed > TimeSpan.FromSeconds(600)) throw new TimeoutException($"only {running} of {jobs} jobs were Running 600 s after they were submitted");
                await Task.Delay(250);
            }
            var rampSeconds = clock.Elapsed.TotalSeconds;
            notes.Add($"{jobs} jobs submitted in {pushed.TotalSeconds:F1} s; all {jobs} Running (pods Running, jobs marked Running by the agent) {rampSeconds:F1} s after the first submit; agent RSS peak while they started (read every 250 ms): {rampPeakMb:F0} MB.");

            await Task.Delay(3000);
            var port = server.Url.Port;
            var requestsBefore = server.Requests.Count;
            windows.Add(await SampleAsync($"{jobs} jobs running, no output", pid, steadySeconds));
            var during = server.Requests.Skip(requestsBefore).ToList();
            var (established, _) = ServerConnections(port);
            notes.Add($"During the {steadySeconds} s with {jobs} jobs running and no output: {server.OpenWatches} watches open on the server, {established} connections from the agent " +
                      $"established, {during.Count} requests to the server ({Describe(during)}).");

            // Every pod prints: --log-rate lines a second each, spread evenly over the second.
            var appended = 0L;
            if (logRate > 0 && logSeconds > 0)
            {
                var pods = server.All(ApiResource.Pods, Namespace).Select(p => p["metadata"]!["name"]!.GetValue<string>()).ToArray();
                using var stopPrinting = new CancellationTokenSource();
                var printing = Task.Run(async () =>
                {
                    var tick = 0L;
                    var ticker = Stopwatch.StartNew();
                    const int ticksPerSecond = 20;
                    var perTick = (double)pods.Length * logRate / ticksPerSecond;
                    var next = 0;
                    var owed = 0.0;
                    while (!stopPrinting.IsCancellationRequested)
                    {
                        owed += perTick;
                        for (; owed >= 1; owed--)
                        {
                            var pod = pods[next++ % pods.Length];
                            server.AppendPodLog(Namespace, pod, $"step {appended} loss=0.{appended % 1000:d3} lr=0.0002 {new string('.', 40)}");
                            appended++;
                        }
                        tick++;
                        var wait = TimeSpan.FromSeconds((double)tick / ticksPerSecond) - ticker.Elapsed;
                        if (wait > TimeSpan.Zero) await Task.Delay(wait);
                    }
                });
                await Task.Delay(2000);
                requestsBefore = server.Requests.Count;
                windows.Add(await SampleAsync($"{jobs} jobs running, each printing {logRate} line/s", pid, logSeconds));
                await stopPrinting.CancelAsync();
                await printing;
                during = server.Requests.Skip(requestsBefore).ToList();
                notes.Add($"While printing: {appended} lines written by the pods in all ({(double)appended / jobs:F0} per pod); {during.Count} requests to the server ({Describe(during)}).");
            }

            // The job controller completes every Job (pods Succeeded, their logs end).
            clock.Restart();
            var requestsAtCompletion = server.Requests.Count;
            foreach (var job in server.All(ApiResource.Jobs, Namespace)) server.CompleteJob(Namespace, job["metadata"]!["name"]!.GetValue<string>());
            var completed = clock.Elapsed;
            var ending = Task.Run(async () =>
            {
                while (true)
                {
                    var list = await backend.GetJobsAsync(new JobQuery { Queue = queue, States = [LaunchJobState.Finished, LaunchJobState.Failed, LaunchJobState.Stopped] }, cancel);
                    if (list.Count >= jobs) return (list, clock.Elapsed);
                    if (clock.Elapsed > TimeSpan.FromSeconds(300)) throw new TimeoutException($"only {list.Count} of {jobs} jobs had ended 300 s after their Kubernetes Jobs completed");
                    await Task.Delay(250);
                }
            });
            if (afterSeconds > 0) windows.Add(await SampleAsync($"the {afterSeconds} s from the Jobs' completion (recording the ends, closing the streams)", pid, afterSeconds));
            var (ended, endedAfter) = await ending;
            var finished = ended.Count(j => j.State == LaunchJobState.Finished);
            notes.Add($"All {jobs} Kubernetes Jobs completed (in {completed.TotalSeconds:F1} s); all {jobs} jobs ended in the store {endedAfter.TotalSeconds:F1} s after the first completion: " +
                      $"{finished} Finished, {ended.Count - finished} not.");
            if (finished != jobs)
            {
                ok = false;
                var bad = ended.First(j => j.State != LaunchJobState.Finished);
                notes.Add($"**FAILED CHECK**: job {bad.Id} is {bad.State}: {bad.FailureMessage}");
            }

            var secretsLeft = 0;
            await Until(() => (secretsLeft = server.All(ApiResource.Secrets, Namespace).Count) == 0, TimeSpan.FromSeconds(15));
            notes.Add($"API-key Secrets left on the server: {secretsLeft}.");
            if (secretsLeft != 0)
            {
                ok = false;
                notes.Add("**FAILED CHECK**: API-key Secrets were left behind.");
            }
            if (appended > 0)
            {
                var delivered = Directory.GetFiles(Path.Combine(dir, "store", "logs"), "*.log")
                    .Sum(f => File.ReadLines(f).Count(l => l.StartsWith("step ", StringComparison.Ordinal)));
                notes.Add($"Pod output in the job logs: {delivered} of the {appended} lines the pods printed.");
                if (delivered != appended)
                {
                    ok = false;
                    notes.Add("**FAILED CHECK**: output lines were lost.");
                }
            }
            if (afterSeconds > 0) windows.Add(await SampleAsync("after all finished", pid, afterSeconds));

            // No watch may outlive its job. The loopback server notices a closed watch only when it writes to it, so
            // it ends every watch it still counts (as when their timeoutSeconds run out): a watch the agent still
            // followed would be opened again at once.
            var watchRequests = server.Requests.Count(r => r.Query.Contains("watch=true", StringComparison.Ordinal));
            var stale = server.OpenWatches;
            server.EndWatches();
            await Task.Delay(3000);
            var rewatched = server.Requests.Count(r => r.Query.Contains("watch=true", StringComparison.Ordinal)) - watchRequests;
            notes.Add($"Watches still followed once the jobs had ended: {server.OpenWatches} ({stale} watch responses were still open on the loopback server, which had not noticed the agent close them; " +
                      $"ended by the server, {rewatched} were opened again).");
            if (server.OpenWatches != 0 || rewatched != 0)
            {
                ok = false;
                notes.Add("**FAILED CHECK**: the agent still followed watches of jobs that had ended.");
            }
            var afterwards = server.Requests.Skip(requestsAtCompletion).ToList();
            notes.Add($"Requests to the server from the completion on: {afterwards.Count} ({Describe(afterwards)}).");
        }
        finally
        {
            await StopAgentAsync(backend, agentId, process, notes);
        }

        var agentDescription = kind == "pwsh"
            ? "Start-WandbLaunchAgent -MaxJobs -1 in its own pwsh process (the PowerShell engine and module included in its memory)"
            : "KubeBench's agent mode: a LaunchAgent alone in a .NET 10 console process (workstation GC), built as Start-WandbLaunchAgent builds it";
        Console.WriteLine($"##### Agent: {kind}");
        Console.WriteLine();
        Console.WriteLine($"{agentDescription}. Load average at start: {startLoad}; at end: {Stats.Load()}.");
        Console.WriteLine();
        Console.WriteLine("| phase | agent CPU % of one core (mean) | max 1-s CPU % | RSS MB (mean) | RSS MB (max) | threads | sockets | this process (API server + driver) CPU % |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var w in windows)
        {
            Console.WriteLine($"| {w.Phase} | {Stats.F(w.CpuPercent, "F2")} | {Stats.F(w.MaxSecondCpu)} | {Stats.F(w.RssMeanMb, "F0")} | {Stats.F(w.RssMaxMb, "F0")} | {w.Threads} | {w.Sockets} | {Stats.F(w.DriverCpuPercent, "F2")} |");
        }
        Console.WriteLine();
        foreach (var note in notes) Console.WriteLine($"- {note}");
        Console.WriteLine();
        if (File.Exists(agentLog) && File.ReadLines(agentLog).LastOrDefault(l => l.StartsWith("gc:", StringComparison.Ordinal)) is { } gc)
        {
            Console.WriteLine($"Agent's own figures at exit: {gc}.");
            Console.WriteLine();
        }
        return ok ? 0 : 1;
    }

    private sealed record LaunchAgentInfoLite(string Id, int ProcessId);

    /// <summary>Requests counted by verb and resource: "500 DELETE secrets", "1000 GET watch pods", "3 GET pods/log".</summary>
    private static string Describe(IReadOnlyList<RecordedRequest> requests)
    {
        if (requests.Count == 0) return "none";
        static string Kind(RecordedRequest r)
        {
            var parts = r.Path.Split('/', StringSplitOptions.RemoveEmptyEntries);
            var at = Array.IndexOf(parts, "namespaces");
            var resource = at >= 0 && parts.Length > at + 2 ? parts[at + 2] + (parts.Length > at + 4 ? "/" + parts[at + 4] : "") : r.Path;
            return $"{r.Method} {(r.Query.Contains("watch=true", StringComparison.Ordinal) ? "watch " : "")}{resource}";
        }
        return string.Join(", ", requests.GroupBy(Kind).OrderByDescending(g => g.Count()).Select(g => $"{g.Count()} {g.Key}"));
    }

    private static async Task<bool> Until(Func<bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout) return false;
            await Task.Delay(200);
        }
        return true;
    }

    private static Process StartAgent(string kind, Args args, string dir, string name, string storePath, string kubeconfig, string log)
    {
        ProcessStartInfo start;
        if (kind == "pwsh")
        {
            var config = Path.Combine(dir, "launch-config.yaml");
            File.WriteAllText(config, "builder:\n  type: noop\n");
            var command = $"$ErrorActionPreference = 'Stop'; Import-Module '{args.Get("module")}'; " +
                          $"Start-WandbLaunchAgent -Queue {QueueName} -MaxJobs -1 -Name '{name}' -ConfigPath '{config}' *>&1 | Out-File -FilePath '{log}'";
            start = new ProcessStartInfo(args.Get("pwsh")) { ArgumentList = { "-NoProfile", "-NonInteractive", "-Command", command } };
            start.Environment["POWERSHELL_TELEMETRY_OPTOUT"] = "1";
            start.Environment["POWERSHELL_UPDATECHECK"] = "Off";
        }
        else if (kind == "console")
        {
            var self = Path.ChangeExtension(typeof(Program).Assembly.Location, null);
            start = File.Exists(self) ? new ProcessStartInfo(self) : new ProcessStartInfo("dotnet") { ArgumentList = { typeof(Program).Assembly.Location } };
            foreach (var a in new[] { "agent", "--store", storePath, "--queue", QueueName, "--name", name, "--work", Path.Combine(dir, "runs"), "--log", log }) start.ArgumentList.Add(a);
        }
        else
        {
            throw new ArgumentException($"--agent is console or pwsh, not '{kind}'");
        }
        start.UseShellExecute = false;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.WorkingDirectory = dir;
        start.Environment["KUBECONFIG"] = kubeconfig;
        start.Environment["WANDB_API_KEY"] = Render.ApiKey;
        start.Environment["WANDB_ENTITY"] = Entity;
        start.Environment["WANDB_LAUNCH_DB"] = storePath;
        var process = Process.Start(start) ?? throw new InvalidOperationException("the agent did not start");
        var output = new StreamWriter(Path.Combine(dir, $"agent-{kind}.out")) { AutoFlush = true };
        var gate = new object();
        void Write(string? line)
        {
            if (line is null) return;
            lock (gate) output.WriteLine(line);
        }
        process.OutputDataReceived += (_, e) => Write(e.Data);
        process.ErrorDataReceived += (_, e) => Write(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task StopAgentAsync(SqliteLaunchBackend backend, string? agentId, Process process, List<string> notes)
    {
        if (process.HasExited) return;
        if (agentId is not null)
        {
            try
            {
                await backend.RequestAgentStopAsync(agentId, CancellationToken.None);
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                await process.WaitForExitAsync(wait.Token);
                return;
            }
            catch (Exception e)
            {
                notes.Add($"The agent did not stop on request ({e.GetType().Name}); it was killed.");
            }
        }
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
    }

    /// <summary>
    /// The loopback connections whose server side is <paramref name="port"/>, by TCP state (/proc/net/tcp and tcp6):
    /// established, and CLOSE_WAIT (the client closed its end; the server has not closed its own yet: the loopback
    /// server notices a closed watch only when it next writes to it).
    /// </summary>
    private static (int Established, int CloseWait) ServerConnections(int port)
    {
        var suffix = ":" + port.ToString("X4", CultureInfo.InvariantCulture);
        int established = 0, closeWait = 0;
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            if (!File.Exists(table)) continue;
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length < 4 || !fields[1].EndsWith(suffix, StringComparison.Ordinal)) continue;
                if (fields[3] == "01") established++;
                else if (fields[3] == "08") closeWait++;
            }
        }
        return (established, closeWait);
    }

    private static string Tail(string path) => File.Exists(path) ? string.Join('\n', File.ReadLines(path).TakeLast(20)) : "(no log)";

    // ---- sampling /proc (bench/Shared/ProcSampler)

    private static ProcSampler.Sample Read(int pid) => ProcSampler.Read(pid);

    private static int Sockets(int pid)
    {
        var count = 0;
        foreach (var fd in Directory.EnumerateFiles($"/proc/{pid}/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true) count++;
            }
            catch (IOException)
            {
            }
        }
        return count;
    }

    private static async Task<Window> SampleAsync(string phase, int pid, int seconds)
    {
        var w = await ProcSampler.SampleAsync(pid, seconds);
        return new Window(phase, w.CpuPercent, w.MaxSecondCpu, w.RssMeanMb, w.RssMaxMb, w.Threads, Sockets(pid), w.DriverCpuPercent);
    }
}
