using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Tests.Aws;
using WandbLaunch.Tests.Google;

namespace CloudBench;

/// <summary>
/// One agent following <c>--jobs</c> SageMaker training jobs and as many Vertex AI CustomJobs. Modes:
/// <list type="bullet">
/// <item><c>monitor --dir D [--jobs 200] [--idle 10] [--settle 90] [--steady 120]</c>: the AWS and Google stand-ins in
/// this process, an agent (the <c>agent</c> mode) in another with the engine's real polling; its requests a minute
/// and CPU at steady state, after the per-job back-off has settled. Exits 1 when a check fails.</item>
/// <item><c>agent --store S --queue Q... --name N --work W --log L</c>: a LaunchAgent (max_jobs -1, builder noop) in
/// this process, with this process's environment, until a stop is requested through the store.</item>
/// </list>
/// </summary>
public static class Program
{
    private const string Entity = "cloudbench";
    private const string AccessKey = "AKIAIOSFODNN7EXAMPLE";
    private const string SecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    private const string ApiKey = "local-0123456789abcdef0123456789abcdef01234567";

    public static async Task<int> Main(string[] argv)
    {
        if (argv.Length == 0)
        {
            Console.Error.WriteLine("usage: CloudBench monitor|agent --option value ...");
            return 2;
        }
        try
        {
            var args = Args.Parse(argv.Skip(1));
            return argv[0] switch
            {
                "monitor" => await MonitorAsync(args),
                "agent" => await AgentAsync(args),
                _ => 2,
            };
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e);
            return 1;
        }
    }

    private static async Task<int> AgentAsync(Args args)
    {
        using var backend = new SqliteLaunchBackend(args.Get("store"));
        var options = new AgentOptions
        {
            Config = new LaunchAgentConfig { Queues = args.All("queue").ToList(), Entity = Entity, MaxJobs = -1, Builder = new BuilderSettings { Type = "noop" } },
            Name = args.Get("name"),
            PollingInterval = TimeSpan.FromSeconds(1),
            Environment = Environment.GetEnvironmentVariable,
            WorkDirectory = args.Get("work"),
        };
        await using var log = new StreamWriter(args.Get("log")) { AutoFlush = true };
        using var stop = new CancellationTokenSource();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            stop.Cancel();
        });
        await new LaunchAgent(backend, options, new LogEvents(log)).RunAsync(stop.Token);
        return 0;
    }

    private sealed class LogEvents(StreamWriter log) : IAgentEvents
    {
        private readonly object _lock = new();

        public void Report(AgentEvent agentEvent)
        {
            lock (_lock) log.WriteLine($"{agentEvent.Time:HH:mm:ss.fff} {agentEvent.Kind} {agentEvent.Message}");
        }
    }

    private static async Task<int> MonitorAsync(Args args)
    {
        var jobs = args.Int("jobs", 200);
        var idle = args.Int("idle", 10);
        var settle = args.Int("settle", 90);
        var steady = args.Int("steady", 120);
        var dir = Path.GetFullPath(args.Get("dir"));
        Directory.CreateDirectory(dir);
        var cancel = CancellationToken.None;
        var startLoad = Load();

        using var aws = new AwsServer("us-east-1");
        aws.AddKey(AccessKey, SecretKey);
        using var google = new GoogleServer();
        var keyFile = Path.Combine(dir, "sa.json");
        File.WriteAllText(keyFile, google.ServiceAccountKeyJson());
        var storePath = Path.Combine(dir, "store", "launch.db");
        using var backend = new SqliteLaunchBackend(storePath, Entity);
        var configs = Path.Combine(AppContext.BaseDirectory, "configs");
        await CreateQueueAsync(backend, "sm", LaunchResource.SageMaker, JsonNode.Parse(File.ReadAllText(Path.Combine(configs, "sagemaker-queue.json")))!);
        await CreateQueueAsync(backend, "vertex", LaunchResource.GcpVertex, StructuredText.Parse(File.ReadAllText(Path.Combine(configs, "vertex-queue.yaml"))).Root!);

        var name = $"cloudbench-{Environment.ProcessId}";
        var agentLog = Path.Combine(dir, "agent.log");
        var start = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false };
        if (!Environment.ProcessPath!.EndsWith("CloudBench", StringComparison.Ordinal)) start.ArgumentList.Add(typeof(Program).Assembly.Location);
        foreach (var a in new[] { "agent", "--store", storePath, "--queue", "sm", "--queue", "vertex", "--name", name, "--work", Path.Combine(dir, "work"), "--log", agentLog })
        {
            start.ArgumentList.Add(a);
        }
        start.Environment["AWS_ACCESS_KEY_ID"] = AccessKey;
        start.Environment["AWS_SECRET_ACCESS_KEY"] = SecretKey;
        start.Environment["AWS_REGION"] = aws.Region;
        start.Environment["AWS_ENDPOINT_URL"] = aws.Url.ToString();
        start.Environment["GOOGLE_APPLICATION_CREDENTIALS"] = keyFile;
        start.Environment["GOOGLE_CLOUD_REGION"] = "us-central1";
        start.Environment["CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM"] = google.Url.ToString();
        start.Environment["WANDB_API_KEY"] = ApiKey;
        start.Environment["HOME"] = dir;
        using var agent = Process.Start(start)!;
        var notes = new List<string>();
        var rows = new List<string>();
        var ok = true;
        try
        {
            var clock = Stopwatch.StartNew();
            LaunchAgentInfo? info = null;
            while (info is null)
            {
                if (agent.HasExited) throw new InvalidOperationException($"the agent exited with code {agent.ExitCode}: {Tail(agentLog)}");
                if (clock.Elapsed > TimeSpan.FromSeconds(90)) throw new TimeoutException($"the agent did not register within 90 s: {Tail(agentLog)}");
                info = (await backend.GetAgentsAsync(cancel)).FirstOrDefault(a => a.Name == name);
                if (info is null) await Task.Delay(200);
            }
            var pid = agent.Id;
            await Task.Delay(2000);
            if (idle > 0) rows.Add(Row("idle (no jobs)", await ProcSampler.SampleAsync(pid, idle), 0, 0, 0, idle));

            clock.Restart();
            for (var i = 0; i < jobs; i++)
            {
                await Push(backend, "sm", "123456789012.dkr.ecr.us-east-1.amazonaws.com/launch:train-1", i);
                await Push(backend, "vertex", "us-central1-docker.pkg.dev/ml-project/launch/train:abc123", i);
            }
            // Act as the services: every CustomJob starts running (training jobs start InProgress).
            var running = 0;
            while (true)
            {
                foreach (var job in google.JobNames.Where(n => google.StateOf(n) == "JOB_STATE_PENDING")) google.SetState(job, "JOB_STATE_RUNNING");
                running = (await backend.GetJobsAsync(new JobQuery { States = [LaunchJobState.Running] }, cancel)).Count;
                if (running >= 2 * jobs) break;
                if (agent.HasExited) throw new InvalidOperationException($"the agent exited with code {agent.ExitCode}: {Tail(agentLog)}");
                if (clock.Elapsed > TimeSpan.FromSeconds(600)) throw new TimeoutException($"only {running} of {2 * jobs} jobs were Running 600 s after they were submitted");
                await Task.Delay(250);
            }
            notes.Add($"{jobs} SageMaker and {jobs} Vertex jobs submitted; all {2 * jobs} Running {clock.Elapsed.TotalSeconds:F1} s after the first submit.");

            await Task.Delay(TimeSpan.FromSeconds(settle));
            var describesBefore = aws.CallsOf("DescribeTrainingJob");
            var awsBefore = aws.Calls.Count;
            var vertexBefore = google.Requests.Count(r => r.Path.Contains("/customJobs/", StringComparison.Ordinal));
            var googleBefore = google.Requests.Count;
            var window = await ProcSampler.SampleAsync(pid, steady);
            var describes = aws.CallsOf("DescribeTrainingJob") - describesBefore;
            var awsAll = aws.Calls.Count - awsBefore;
            var vertexReads = google.Requests.Count(r => r.Path.Contains("/customJobs/", StringComparison.Ordinal)) - vertexBefore;
            var googleAll = google.Requests.Count - googleBefore;
            rows.Add(Row($"{jobs} SageMaker + {jobs} Vertex jobs running, after {settle} s", window, describes + vertexReads, awsAll - describes + googleAll - vertexReads, 2 * jobs, steady));
            var perJobPer30 = (describes + vertexReads) / (double)(2 * jobs) / (steady / 30.0);
            notes.Add($"Steady state over {steady} s: DescribeTrainingJob {describes} ({describes * 60.0 / steady:F0}/min), GetCustomJob {vertexReads} ({vertexReads * 60.0 / steady:F0}/min); " +
                      $"other AWS requests {awsAll - describes}, other Google requests {googleAll - vertexReads} (tokens, STS). " +
                      $"That is {perJobPer30:F2} status reads per job per 30 s (goal: at most 1).");
            if (perJobPer30 > 1.0)
            {
                ok = false;
                notes.Add("**FAILED CHECK**: more than one status read per job per 30 s at steady state.");
            }

            // Every job completes.
            clock.Restart();
            foreach (var job in aws.Jobs) aws.SetStatus(job.Name, "Completed");
            foreach (var job in google.JobNames) google.SetState(job, "JOB_STATE_SUCCEEDED");
            List<LaunchJob> ended;
            while (true)
            {
                ended = (await backend.GetJobsAsync(new JobQuery { States = [LaunchJobState.Finished, LaunchJobState.Failed, LaunchJobState.Stopped] }, cancel)).ToList();
                if (ended.Count >= 2 * jobs) break;
                if (clock.Elapsed > TimeSpan.FromSeconds(120)) throw new TimeoutException($"only {ended.Count} of {2 * jobs} jobs had ended 120 s after their cloud jobs completed");
                await Task.Delay(500);
            }
            var finished = ended.Count(j => j.State == LaunchJobState.Finished);
            notes.Add($"All cloud jobs completed; all {2 * jobs} jobs ended {clock.Elapsed.TotalSeconds:F1} s later: {finished} Finished, {ended.Count - finished} not (the back-off caps how late an end is seen at 30 s).");
            if (finished != 2 * jobs)
            {
                ok = false;
                var bad = ended.First(j => j.State != LaunchJobState.Finished);
                notes.Add($"**FAILED CHECK**: job {bad.Id} is {bad.State}: {bad.FailureMessage}");
            }
            await backend.RequestAgentStopAsync(info.Id, cancel);
            if (!agent.WaitForExit(60_000)) agent.Kill(entireProcessTree: true);
        }
        finally
        {
            if (!agent.HasExited) agent.Kill(entireProcessTree: true);
        }

        Console.WriteLine($"Machine: {Environment.ProcessorCount} cores, load average at start {startLoad}, at end {Load()}. Agent: the engine's LaunchAgent in its own .NET process, real polling (SageMaker 5 s growing to 30 s; Vertex 5 s growing to 30 s).");
        Console.WriteLine();
        Console.WriteLine("| phase | agent CPU (% of one core) | busiest second | RSS mean / max (MB) | threads | status reads | other requests | reads per job per 30 s |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");
        foreach (var row in rows) Console.WriteLine(row);
        Console.WriteLine();
        foreach (var note in notes) Console.WriteLine("- " + note);
        return ok ? 0 : 1;
    }

    private static string Row(string phase, ProcSampler.Window w, int reads, int other, int jobs, int seconds) =>
        string.Create(CultureInfo.InvariantCulture,
            $"| {phase} | {w.CpuPercent:F2} | {w.MaxSecondCpu:F1} | {w.RssMeanMb:F0} / {w.RssMaxMb:F0} | {w.Threads} | {reads} ({reads * 60.0 / seconds:F0}/min) | {other} | {(jobs == 0 ? "-" : (reads / (double)jobs / (seconds / 30.0)).ToString("F2", CultureInfo.InvariantCulture))} |");

    private static Task CreateQueueAsync(SqliteLaunchBackend backend, string name, string resource, JsonNode config) =>
        backend.CreateQueueAsync(new QueueDefinition
        {
            Name = name,
            Entity = Entity,
            Project = LaunchDefaults.Project,
            Resource = resource,
            Configuration = config,
            CreatedBy = "cloudbench",
        }, CancellationToken.None);

    private static Task<LaunchJob> Push(SqliteLaunchBackend backend, string queue, string image, int i) =>
        backend.PushAsync(new QueueKey(Entity, LaunchDefaults.Project, queue), new PushRequest
        {
            Spec = new JsonObject
            {
                ["docker"] = new JsonObject { ["docker_image"] = image },
                ["project"] = "llm",
                ["entity"] = Entity,
                ["name"] = $"bench-{i:d4}",
                ["overrides"] = new JsonObject { ["entry_point"] = new JsonArray("python", "train.py") },
            },
        }, CancellationToken.None);

    private static string Tail(string path) => File.Exists(path) ? string.Join('\n', File.ReadLines(path).TakeLast(20)) : "(no log)";

    private static string Load() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
