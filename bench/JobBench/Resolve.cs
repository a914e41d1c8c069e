using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Code;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Engine.WandbJobs;

namespace JobBench;

/// <summary>
/// The agent's resolve-and-prepare of a W&amp;B job (<see cref="JobResolver.ResolveAsync"/>, as <c>JobRun</c> calls it:
/// a new <see cref="ArtifactFiles"/> and <see cref="GitRepositoryCache"/> on the cache directory per job), timed alone:
/// fetch the job artifact, download its files, read wandb-job.json, prepare the code in the run's directory. Variants, one run each per round, in an
/// order rotated every round; what a run wrote (its run directory, a cold run's cache) is removed untimed.
/// </summary>
internal static class Resolve
{
    private sealed record Variant(string Name, string Note, Func<int, Task<(double Ms, string Detail)>> Run)
    {
        public List<double> Samples { get; } = [];

        public string Detail { get; set; } = "";
    }

    public static async Task RunAsync(Args args)
    {
        var dir = Path.GetFullPath(args.Get("dir"));
        var fileCount = args.Int("files", 200);
        var megabytes = args.Int("mb", 20);
        var runs = args.Int("runs", 15);
        var warmup = args.Int("warmup", 2);
        Directory.CreateDirectory(dir);

        var source = Path.Combine(dir, "code");
        var bytes = CodeTree.Write(source, fileCount, megabytes * 1_000_000L);
        var repository = Path.Combine(dir, "repo");
        CodeTree.Run("cp", null, "-r", source, repository);
        CodeTree.Run("git", repository, "init", "--quiet", "--initial-branch=main");
        CodeTree.Run("git", repository, "add", "-A");
        CodeTree.Run("git", repository, "commit", "--quiet", "-m", "code");
        // Packed, as a repository cloned from a server or after git gc is; loose objects would make every fetch pack them anew.
        CodeTree.Run("git", repository, "gc", "--quiet");
        var packed = CodeTree.Run("git", repository, "count-objects", "-vH");

        Func<string, string?> environment = name => name == GitCheckout.AllowLocalVariable ? "1" : Environment.GetEnvironmentVariable(name);
        using var backend = new SqliteLaunchBackend(Path.Combine(dir, "launch.db"), Program.Entity);
        var creator = new JobCreator(backend, environment);
        var clock = Stopwatch.StartNew();
        var codeJob = await creator.CreateAsync(new JobCreateRequest
        {
            Source = JobCreateSource.Code, Path = source, Entity = Program.Entity, Project = Program.Project, Name = "job-code",
            EntryPoint = ["python", "main.py"], Runtime = "3.11",
        }, CancellationToken.None);
        var createCodeMs = clock.Elapsed.TotalMilliseconds;
        clock.Restart();
        var repoJob = await creator.CreateAsync(new JobCreateRequest
        {
            Source = JobCreateSource.Git, Path = repository, GitHash = "main", Entity = Program.Entity, Project = Program.Project, Name = "job-repo",
            EntryPoint = ["python", "main.py"], Runtime = "3.11",
        }, CancellationToken.None);
        var createRepoMs = clock.Elapsed.TotalMilliseconds;

        var work = Path.Combine(dir, "runs");
        var warmCache = Path.Combine(dir, "cache-warm");
        var scratch = Path.Combine(dir, "scratch");
        Directory.CreateDirectory(scratch);
        var counter = 0;
        var primed = false;
        using var log = JobLog.Discard();

        async Task<(double, string)> ResolveOnce(string job, bool cold, int expectedFiles, int expectedHits, bool repository = false)
        {
            var id = "run" + (++counter).ToString(CultureInfo.InvariantCulture);
            var cache = cold ? Path.Combine(dir, "cache-cold-" + id) : warmCache;
            var files = new ArtifactFiles(cache);
            var repositories = new GitRepositoryCache(cache);
            var resolver = new JobResolver(backend.Artifacts, files, allowLocalGit: true, repositories);
            var spec = LaunchSpec.Parse(new JsonObject { ["job"] = $"{Program.Entity}/{Program.Project}/{job}" });
            var watch = Stopwatch.StartNew();
            var resolved = await resolver.ResolveAsync(spec, work, id, id, log, CancellationToken.None);
            var ms = watch.Elapsed.TotalMilliseconds;
            var prepared = CodeTree.CountFiles(resolved.CodeDirectory!, skipGit: true);
            if (prepared != expectedFiles) throw new InvalidOperationException($"{job}: {prepared} files prepared, expected {expectedFiles}");
            CodeTree.Delete(CodeDirectory.RunDirectory(work, id));
            if (cold) CodeTree.Delete(cache);
            if (primed && files.CacheHits != (cold ? 0 : expectedHits))
            {
                throw new InvalidOperationException($"{job}: {files.CacheHits} files from the cache, expected {(cold ? 0 : expectedHits)}");
            }
            if (primed && repository && repositories.Hits != (cold ? 0 : 1))
            {
                throw new InvalidOperationException($"{job}: {repositories.Hits} checkouts from the repository cache, expected {(cold ? 0 : 1)}");
            }
            return (ms, $"{files.CacheHits} of {expectedHits}" + (repository ? $" + checkout {(repositories.Hits == 1 ? "hit" : "miss")}" : ""));
        }

        async Task<(double, string)> Process(string program, string target, params string[] arguments)
        {
            var watch = Stopwatch.StartNew();
            CodeTree.Run(program, scratch, arguments);
            var ms = watch.Elapsed.TotalMilliseconds;
            var copied = CodeTree.CountFiles(target, skipGit: true);
            if (copied != fileCount) throw new InvalidOperationException($"{program}: {copied} files, expected {fileCount}");
            CodeTree.Delete(target);
            return (ms, "—");
        }

        // + requirements.frozen.txt, which the resolver copies in from the job.
        var prepared = fileCount + 1;
        var variants = new List<Variant>
        {
            new("code-artifact job, cold (empty cache)", "every file read from the local store, checked, cached, copied", _ => ResolveOnce("job-code", cold: true, prepared, fileCount + 2)),
            new("**code-artifact job, warm (cache hit)**", "every file copied from the cache, checked", _ => ResolveOnce("job-code", cold: false, prepared, fileCount + 2)),
            new("repo job, cold (empty cache)", "job artifact downloaded; git init + fetch + checkout, then the checkout (with .git) copied into the repository cache", _ => ResolveOnce("job-repo", cold: true, prepared, 2, repository: true)),
            new("**repo job, warm (cache hit)**", "job artifact from the cache; the checkout (with .git) copied from the repository cache, checked (SHA-256); no git", _ => ResolveOnce("job-repo", cold: false, prepared, 2, repository: true)),
            new("reference: `cp -r` of the same files", "a plain copy, one process", round => Process("cp", Path.Combine(scratch, "cp" + round), "-r", source, Path.Combine(scratch, "cp" + round))),
            new("reference: `git clone <repo>`", "local path: git hard-links the objects", round => Process("git", Path.Combine(scratch, "clone" + round), "clone", "--quiet", repository, Path.Combine(scratch, "clone" + round))),
            new("reference: `git clone --no-local <repo>`", "packs and transfers the objects, as a clone from a server does", round => Process("git", Path.Combine(scratch, "nolocal" + round), "clone", "--quiet", "--no-local", repository, Path.Combine(scratch, "nolocal" + round))),
        };

        // Fills the warm cache; from then on a warm run must be served from it alone, a cold one not at all.
        await ResolveOnce("job-code", cold: false, prepared, 0);
        await ResolveOnce("job-repo", cold: false, prepared, 0, repository: true);
        primed = true;

        var loadBefore = Stats.LoadAverage();
        var total = Stopwatch.StartNew();
        for (var round = 0; round < warmup + runs; round++)
        {
            for (var k = 0; k < variants.Count; k++)
            {
                var variant = variants[(k + round) % variants.Count];
                var (ms, detail) = await variant.Run(round);
                if (round < warmup) continue;
                variant.Samples.Add(ms);
                variant.Detail = detail;
            }
        }
        var loadAfter = Stats.LoadAverage();

        Console.WriteLine($"#### Resolving and preparing a job ({runs} interleaved rounds after {warmup} warm-up rounds)");
        Console.WriteLine();
        Console.WriteLine($"Code: {fileCount} files, {bytes / 1e6:0.0} MB (random base64 text); git repository of one commit ({string.Join(", ", packed.Split('\n').Where(l => l.StartsWith("size", StringComparison.Ordinal)).Select(l => l.Trim()))}). " +
                          $"Local store: a new SQLite store in the run's temporary folder; job versions {codeJob.Job.Version} (code artifact {codeJob.Code!.Name}:{codeJob.Code.Version}) and {repoJob.Job.Version}. " +
                          $"Creating them (engine, once): code job {createCodeMs:0} ms, repo job {createRepoMs:0} ms. " +
                          $"Load average before: {loadBefore}; after: {loadAfter}. {total.Elapsed.TotalSeconds:0} s in all.");
        Console.WriteLine();
        Console.Write(Stats.Table(
            ["what", "what it does", "median ms", "p95 ms", "min ms", "max ms", "from the caches"],
            variants.Select(v => new[]
            {
                v.Name, v.Note, Stats.Ms(Stats.Percentile(v.Samples, 50)), Stats.Ms(Stats.Percentile(v.Samples, 95)),
                Stats.Ms(v.Samples.Min()), Stats.Ms(v.Samples.Max()), v.Detail,
            }), firstNumericColumn: 2));
        Console.WriteLine();
        var warm = variants[1].Samples;
        var warmRepo = variants[3].Samples;
        Console.WriteLine($"VERDICT: resolving and preparing an unchanged job again (cache hit; goal: well under 1 s, read as p95 under 500 ms): code-artifact job median {Stats.Ms(Stats.Percentile(warm, 50))} ms, p95 {Stats.Ms(Stats.Percentile(warm, 95))} ms " +
                          $"(**{(Stats.Percentile(warm, 95) < 500 ? "met" : "not met")}**); repo job median {Stats.Ms(Stats.Percentile(warmRepo, 50))} ms, p95 {Stats.Ms(Stats.Percentile(warmRepo, 95))} ms " +
                          $"(**{(Stats.Percentile(warmRepo, 95) < 500 ? "met" : "not met")}**; its checkout from the repository cache).");
    }
}
