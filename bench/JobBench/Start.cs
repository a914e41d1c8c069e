using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Engine.WandbJobs;

namespace JobBench;

/// <summary>
/// An agent (<see cref="LaunchAgent"/>, docker builder, one local-container queue, max_jobs 1) in this process, as
/// Start-WandbLaunchAgent builds one but without PowerShell; this process pushes a code-artifact job whose Dockerfile
/// is the job's own (FROM the busybox test image, <c>COPY . /app/</c>) and times, from the agent's events, the claim
/// (the ack: "starting") to the container's start ("running"), split into resolve, build and launch. Samples come in
/// pairs: a <b>first build</b> (before it, untimed, one file of the code is changed and the job created again: a new
/// job version, so a new image tag; its other files are still in the artifact cache, as after a one-line edit), then
/// the <b>same version again</b> (the image exists: build skipped). Every image built is removed at the end.
/// </summary>
internal static class Start
{
    private sealed record Sample(double SubmitToClaim, double Resolve, double Build, double Launch, double ClaimToStart);

    private sealed class Events : IAgentEvents
    {
        public ConcurrentQueue<(long Timestamp, AgentEvent Event)> All { get; } = new();

        public void Report(AgentEvent agentEvent) => All.Enqueue((Stopwatch.GetTimestamp(), agentEvent));

        public long When(string jobId, string marker) =>
            All.Where(e => e.Event.JobId == jobId && e.Event.Kind == AgentEventKind.Job && e.Event.Message.Contains(marker, StringComparison.Ordinal))
                .Select(e => e.Timestamp).DefaultIfEmpty(-1).First();
    }

    public static async Task RunAsync(Args args)
    {
        var dir = Path.GetFullPath(args.Get("dir"));
        var baseImage = args.Get("base-image");
        var fileCount = args.Int("files", 200);
        var megabytes = args.Int("mb", 20);
        var runs = args.Int("runs", 10);
        var warmup = args.Int("warmup", 1);
        Directory.CreateDirectory(dir);

        var code = Path.Combine(dir, "code");
        var bytes = CodeTree.Write(code, fileCount, megabytes * 1_000_000L);
        File.WriteAllText(Path.Combine(code, "Dockerfile"), $"FROM {baseImage}\nCOPY . /app/\n");
        File.WriteAllText(Path.Combine(code, "run.sh"), "echo started\n");

        var cache = Path.Combine(dir, "cache");
        Func<string, string?> environment = name => name == ArtifactFiles.CacheDirectoryVariable ? cache : Environment.GetEnvironmentVariable(name);
        var store = Path.Combine(dir, "launch.db");
        using var backend = new SqliteLaunchBackend(store, Program.Entity);
        var queue = await backend.CreateQueueAsync(new QueueDefinition
        {
            Name = "containers", Entity = Program.Entity, Project = LaunchDefaults.Project, Resource = LaunchResource.LocalContainer,
        }, CancellationToken.None);
        var key = new QueueKey(queue.Entity, queue.Project, queue.Name);
        var creator = new JobCreator(backend, environment);
        var version = 0;
        async Task<ArtifactVersion> NewVersionAsync()
        {
            File.WriteAllText(Path.Combine(code, "stamp.txt"), $"version {++version} {Guid.NewGuid():N}\n");
            var created = await creator.CreateAsync(new JobCreateRequest
            {
                Source = JobCreateSource.Code, Path = code, Entity = Program.Entity, Project = Program.Project, Name = "job-docker",
                EntryPoint = ["sh", "/app/run.sh"], Runtime = "3.11", Dockerfile = "Dockerfile",
            }, CancellationToken.None);
            if (created.Kind == ArtifactCommitKind.Unchanged) throw new InvalidOperationException("the changed code made no new job version");
            return created.Job;
        }

        var events = new Events();
        using var agentBackend = new SqliteLaunchBackend(store, Program.Entity);
        var agent = new LaunchAgent(agentBackend, new AgentOptions
        {
            Config = new LaunchAgentConfig { Queues = [queue.Name], Entity = Program.Entity, MaxJobs = 1, Builder = new BuilderSettings { Type = "docker" } },
            Name = "jobbench",
            PollingInterval = TimeSpan.FromSeconds(1),
            Lease = AgentOptions.ParseLease(environment),
            StartTimeout = TimeSpan.FromSeconds(600),
            Environment = environment,
            WorkDirectory = Path.Combine(dir, "runs"),
        }, events);
        using var stop = new CancellationTokenSource();
        var running = Task.Run(() => agent.RunAsync(stop.Token));
        var images = new HashSet<string>(StringComparer.Ordinal);
        var cold = new List<Sample>();
        var warm = new List<Sample>();
        var loadBefore = Stats.LoadAverage();
        var total = Stopwatch.StartNew();
        try
        {
            async Task<Sample> RunOnceAsync(bool firstBuild)
            {
                var pushed = Stopwatch.GetTimestamp();
                var job = await backend.PushAsync(key, new PushRequest { Spec = new JsonObject { ["job"] = $"{Program.Entity}/{Program.Project}/job-docker", ["project"] = Program.Project } }, CancellationToken.None);
                var deadline = Stopwatch.StartNew();
                while (!job.State.IsTerminal())
                {
                    if (running.IsCompleted) await running;
                    if (deadline.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException($"job {job.Id} did not end within 5 minutes ({job.State})");
                    await Task.Delay(20);
                    job = await backend.GetJobAsync(job.Id, CancellationToken.None) ?? throw new InvalidOperationException($"job {job.Id} vanished");
                }
                var log = job.LogPath is { } path && File.Exists(path) ? File.ReadAllText(path) : "";
                if (job.State != LaunchJobState.Finished) throw new InvalidOperationException($"job {job.Id} ended {job.State} ({job.FailureStage}): {job.FailureMessage}\n{log}");
                if (!log.Contains("started", StringComparison.Ordinal)) throw new InvalidOperationException($"job {job.Id}: the container's output is missing\n{log}");
                var skipped = log.Contains("already exists locally: build skipped", StringComparison.Ordinal);
                if (skipped == firstBuild) throw new InvalidOperationException($"job {job.Id}: {(firstBuild ? "a new version's image was not built" : "the unchanged job was built again")}\n{log}");
                long claim = events.When(job.Id, " starting: "), resolved = events.When(job.Id, "] job "), built = events.When(job.Id, "] image "), started = events.When(job.Id, "] running (");
                if (new[] { claim, resolved, built, started }.Any(t => t < 0)) throw new InvalidOperationException($"job {job.Id}: an agent event is missing");
                foreach (var e in events.All.Where(e => e.Event.JobId == job.Id && e.Event.Message.Contains("] image ", StringComparison.Ordinal)))
                {
                    images.Add(e.Event.Message[(e.Event.Message.IndexOf("] image ", StringComparison.Ordinal) + 8)..].Trim());
                }
                double Ms(long from, long to) => Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;
                return new Sample(Ms(pushed, claim), Ms(claim, resolved), Ms(resolved, built), Ms(built, started), Ms(claim, started));
            }

            for (var i = 0; i < warmup + runs; i++)
            {
                await NewVersionAsync();
                var first = await RunOnceAsync(firstBuild: true);
                var again = await RunOnceAsync(firstBuild: false);
                if (i < warmup) continue;
                cold.Add(first);
                warm.Add(again);
            }
        }
        finally
        {
            await stop.CancelAsync();
            try
            {
                await running;
            }
            catch (OperationCanceledException)
            {
            }
            foreach (var image in images)
            {
                try
                {
                    CodeTree.Run("docker", null, "rmi", "--force", image);
                }
                catch (InvalidOperationException e)
                {
                    Console.Error.WriteLine($"could not remove {image}: {e.Message}");
                }
            }
        }
        var loadAfter = Stats.LoadAverage();

        Console.WriteLine($"#### An agent's claim → start of a code-artifact job in a container, image built vs build skipped ({runs} pairs after {warmup} warm-up pair)");
        Console.WriteLine();
        Console.WriteLine($"Code: {fileCount} files, {bytes / 1e6:0.0} MB, the job's own Dockerfile (`FROM {baseImage}` + `COPY . /app/`); docker builder without a registry (the image stays in the engine), " +
                          $"local-container queue, `max_jobs` 1; job created {version} times. Load average before: {loadBefore}; after: {loadAfter}. {total.Elapsed.TotalSeconds:0} s in all.");
        Console.WriteLine();
        string Cell(List<Sample> samples, Func<Sample, double> pick) => $"{Stats.Ms(Stats.Percentile(samples.Select(pick).ToList(), 50))} / {Stats.Ms(Stats.Percentile(samples.Select(pick).ToList(), 95))}";
        var rows = new List<string[]>();
        foreach (var (name, samples) in new[] { ("first build (new job version, one file changed)", cold), ("**same version again (image exists: build skipped)**", warm) })
        {
            rows.Add([name, samples.Count.ToString(CultureInfo.InvariantCulture), Cell(samples, s => s.ClaimToStart), Stats.Ms(samples.Max(s => s.ClaimToStart)),
                Cell(samples, s => s.Resolve), Cell(samples, s => s.Build), Cell(samples, s => s.Launch), Cell(samples, s => s.SubmitToClaim)]);
        }
        Console.Write(Stats.Table(
            ["job", "samples", "**claim → start** p50 / p95 ms", "max ms", "of which resolve p50 / p95", "build (or the image check)", "launch (container create + start)", "submit → claim (not in the total)"],
            rows, firstNumericColumn: 1));
        Console.WriteLine();
        var p50 = Stats.Percentile(warm.Select(s => s.ClaimToStart).ToList(), 50);
        var p95 = Stats.Percentile(warm.Select(s => s.ClaimToStart).ToList(), 95);
        Console.WriteLine($"VERDICT: an unchanged job's image is not built again: claim → start median {Stats.Ms(p50)} ms, p95 {Stats.Ms(p95)} ms (goal: build skipped, under 1 s: **{(p50 < 1000 ? "met" : "not met")}**; " +
                          $"the first build took {Stats.Ms(Stats.Percentile(cold.Select(s => s.ClaimToStart).ToList(), 50))} ms).");
    }
}
