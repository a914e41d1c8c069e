using System.Diagnostics;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Runners.Kubernetes;
using WandbLaunch.Engine.Specs;

namespace KubeBench;

/// <summary>
/// Manifest rendering: <c>JobManifest.Render</c> then <c>JobManifest.ToYaml</c> on a job context made once per config
/// (as the agent makes it: macros substituted, W&amp;B environment built), and the whole preview path
/// <c>JobPreview.Render</c> (which also builds the context twice and reads the kubeconfig for the context's
/// namespace). Configs come from <c>configs/*.input.yaml</c> (copies of the kube tests' golden inputs); where
/// <c>configs/&lt;name&gt;.yaml</c> exists, the rendering must equal it, as in the golden tests.
/// </summary>
internal static class Render
{
    internal const string ApiKey = "local-0123456789abcdef0123456789abcdef01234567";
    private const string AgentId = "agent-golden000001";

    private sealed record Case(string Name, JobContext Context, string? ContextNamespace, LaunchQueue Queue, PushRequest Request, Func<string, string?> Environment, string? Expected);

    internal static string ConfigDirectory => Path.Combine(AppContext.BaseDirectory, "configs");

    internal static IEnumerable<(string Name, JsonObject Input)> Inputs() =>
        Directory.GetFiles(ConfigDirectory, "*.input.yaml").Order(StringComparer.Ordinal)
            .Select(f => (Path.GetFileName(f)[..^".input.yaml".Length], (JsonObject)StructuredText.ParseFile(f).Root!));

    public static void Run(Args args)
    {
        var calls = args.Int("calls", 5000);
        var warmup = args.Int("warmup", 500);
        var work = Path.Combine(Path.GetTempPath(), "kubebench-render-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        try
        {
            var cases = Inputs().Select(i => Load(i.Name, i.Input, work)).ToList();
            var n = cases.Count;
            var render = Samples(n, calls);
            var yaml = Samples(n, calls);
            var both = Samples(n, calls);
            var preview = Samples(n, calls);
            var allocated = new long[n];
            var texts = new string[n];
            var objects = new string[n];
            var gcBefore = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
            var load = Stats.Load();
            var clock = Stopwatch.StartNew();
            // Two passes, each interleaving the configs call by call (the one that goes first rotates from round to
            // round): Render + ToYaml alone, then the whole preview path, whose garbage would otherwise land in the
            // other's samples as collections.
            for (var round = 0; round < warmup + calls; round++)
            {
                var timed = round >= warmup;
                for (var k = 0; k < n; k++)
                {
                    var i = (k + round) % n;
                    var c = cases[i];
                    var bytes = GC.GetAllocatedBytesForCurrentThread();
                    var t0 = Stopwatch.GetTimestamp();
                    var rendered = JobManifest.Render(c.Context, AgentId, c.ContextNamespace, secureMode: false);
                    var t1 = Stopwatch.GetTimestamp();
                    var text = JobManifest.ToYaml(rendered);
                    var t2 = Stopwatch.GetTimestamp();
                    var allocatedNow = GC.GetAllocatedBytesForCurrentThread() - bytes;
                    if (!timed)
                    {
                        if (round == 0)
                        {
                            texts[i] = text;
                            objects[i] = (rendered.ApiKeySecret is null ? "" : "Secret + ") + rendered.Kind;
                            if (c.Expected is not null && text != c.Expected) throw new InvalidOperationException($"{c.Name}: the rendering differs from configs/{c.Name}.yaml");
                        }
                        continue;
                    }
                    render[i].Add(Us(t1 - t0));
                    yaml[i].Add(Us(t2 - t1));
                    both[i].Add(Us(t2 - t0));
                    allocated[i] += allocatedNow;
                }
            }
            var gcMiddle = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
            for (var round = 0; round < warmup + calls; round++)
            {
                var timed = round >= warmup;
                for (var k = 0; k < n; k++)
                {
                    var i = (k + round) % n;
                    var c = cases[i];
                    var t0 = Stopwatch.GetTimestamp();
                    var whole = JobPreview.Render(JobPreview.ForPush(c.Queue, c.Request), new LaunchAgentConfig(), c.Environment, predictImage: false);
                    var t1 = Stopwatch.GetTimestamp();
                    // The same manifests, but for a job not yet submitted (item id "(not submitted)", agent "none").
                    if (round == 0 && whole.Text.Count(ch => ch == '\n') != texts[i].Count(ch => ch == '\n')) throw new InvalidOperationException($"{c.Name}: the preview differs from Render + ToYaml:\n{whole.Text}");
                    if (timed) preview[i].Add(Us(t1 - t0));
                }
            }
            clock.Stop();

            Console.WriteLine($"#### Manifest rendering, warm, per call ({calls} interleaved calls per config after {warmup} warm-up rounds)");
            Console.WriteLine();
            Console.WriteLine($"Load average at start: {load}; at end: {Stats.Load()}. {clock.Elapsed.TotalSeconds:F1} s in all; " +
                              $"GCs during the Render + ToYaml pass: gen0 {gcMiddle.Item1 - gcBefore.Item1}, gen1 {gcMiddle.Item2 - gcBefore.Item2}, gen2 {gcMiddle.Item3 - gcBefore.Item3} " +
                              $"({(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC).");
            Console.WriteLine();
            Console.WriteLine("| config | objects | YAML lines | Render median µs | ToYaml median µs | **Render + ToYaml median µs** | p90 µs | p99 µs | min µs | allocated KB/call | whole preview (ForPush + JobPreview.Render) median µs | p99 µs |");
            Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            for (var i = 0; i < n; i++)
            {
                var r = Sorted(render[i]);
                var y = Sorted(yaml[i]);
                var b = Sorted(both[i]);
                var p = Sorted(preview[i]);
                var lines = texts[i].Count(ch => ch == '\n');
                Console.WriteLine($"| {cases[i].Name} | {objects[i]} | {lines} | {Stats.F(Stats.P(r, 50))} | {Stats.F(Stats.P(y, 50))} | **{Stats.F(Stats.P(b, 50))}** | " +
                                  $"{Stats.F(Stats.P(b, 90))} | {Stats.F(Stats.P(b, 99))} | {Stats.F(b[0])} | {Stats.F(allocated[i] / 1024.0 / calls)} | " +
                                  $"{Stats.F(Stats.P(p, 50))} | {Stats.F(Stats.P(p, 99))} |");
            }
            Console.WriteLine();
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static List<double>[] Samples(int n, int calls) => Enumerable.Range(0, n).Select(_ => new List<double>(calls)).ToArray();

    private static double[] Sorted(List<double> values)
    {
        var array = values.ToArray();
        Array.Sort(array);
        return array;
    }

    private static double Us(long ticks) => ticks * 1_000_000.0 / Stopwatch.Frequency;

    private static string? Str(JsonNode? node) => JsonTree.TryGetString(node, out var s) ? s : null;

    /// <summary>A config's job context, made as the agent's JobContextFactory makes it (and with the golden tests' fixed ids).</summary>
    private static Case Load(string name, JsonObject input, string work)
    {
        var contextNamespace = Str(input["context_namespace"]);
        var env = new Dictionary<string, string>
        {
            [JobEnvironment.ApiKeyVariable] = ApiKey,
            ["WANDB_BASE_URL"] = "https://api.wandb.ai",
            ["KUBECONFIG"] = WandbLaunch.TestSupport.OfflineKubeconfig.Write(Path.Combine(work, name + ".kubeconfig"), contextNamespace),
        };
        foreach (var (k, v) in input["environment"] as JsonObject ?? []) env[k] = v!.GetValue<string>();
        Func<string, string?> environment = n => env.TryGetValue(n, out var value) ? value : null;
        var spec = (JsonObject)input["spec"]!;
        var job = new LaunchJob
        {
            Id = "item-0123456789ab",
            Queue = "k8s-queue",
            Entity = Str(spec["entity"]) ?? "ml-team",
            Project = "model-registry",
            Resource = "kubernetes",
            State = LaunchJobState.Starting,
            Attempts = 1,
            RunId = spec["run_id"]!.GetValue<string>(),
            AgentId = AgentId,
        };
        var substituted = (JsonObject)spec.DeepClone();
        var image = Str(substituted["docker"]?["docker_image"]);
        var values = new Macros.Values(Str(substituted["project"]) ?? job.Project, Str(substituted["entity"]) ?? job.Entity, job.RunId, Str(substituted["name"]), image,
            Str(substituted["author"]));
        var resourceArgs = Macros.Substitute(substituted["resource_args"]?["kubernetes"] ?? new JsonObject(), values, environment) as JsonObject ?? new JsonObject();
        substituted["resource_args"] = new JsonObject { ["kubernetes"] = resourceArgs.DeepClone() };
        var typed = LaunchSpec.Parse(substituted);
        var context = new JobContext
        {
            Job = job,
            Spec = typed,
            ResourceArgs = resourceArgs,
            Environment = JobEnvironment.Build(new JobEnvironment.Inputs(typed, job.RunId, job.Id, job.Queue, job.Entity, image, false, env["WANDB_BASE_URL"], ApiKey)),
            ImageUri = image,
            AgentConfig = new LaunchAgentConfig(),
            WorkDirectory = work,
            Log = JobLog.Discard(),
            Secrets = [ApiKey],
        };
        var expectedPath = Path.Combine(ConfigDirectory, name + ".yaml");
        // What Get-WandbLaunchJobManifest hands to JobPreview.Render: the job a push would store (the queue's config is
        // empty here; the spec's resource_args carry it, which merges to the same arguments).
        var queue = new LaunchQueue { QueueId = "queue-bench", Name = job.Queue, Entity = job.Entity, Project = job.Project, Resource = "kubernetes" };
        return new Case(name, context, contextNamespace, queue, new PushRequest { Spec = (JsonObject)spec.DeepClone() }, environment, File.Exists(expectedPath) ? File.ReadAllText(expectedPath) : null);
    }

    /// <summary>
    /// For the cmdlet measurement: per config, the queue configuration (<c>resource_args.kubernetes</c>, macros as
    /// written) and the parameters of a Get-WandbLaunchJobManifest call that asks for the same job.
    /// </summary>
    public static void WriteConfigs(Args args)
    {
        var dir = args.Get("out");
        Directory.CreateDirectory(dir);
        foreach (var (name, input) in Inputs())
        {
            var spec = (JsonObject)input["spec"]!;
            File.WriteAllText(Path.Combine(dir, name + ".queue.json"), (spec["resource_args"]?["kubernetes"] ?? new JsonObject()).ToJsonString());
            var overrides = spec["overrides"] as JsonObject;
            var call = new JsonObject
            {
                ["DockerImage"] = spec["docker"]!["docker_image"]!.DeepClone(),
                ["ContextNamespace"] = input["context_namespace"]?.DeepClone(),
            };
            if (overrides?["args"] is { } a) call["Arguments"] = a.DeepClone();
            if (overrides?["entry_point"] is { } e) call["EntryPoint"] = e.DeepClone();
            if (overrides?["run_config"] is { } rc) call["RunConfig"] = rc.DeepClone();
            if (spec["name"] is { } n) call["Name"] = n.DeepClone();
            if (spec["project"] is { } p) call["Project"] = p.DeepClone();
            File.WriteAllText(Path.Combine(dir, name + ".call.json"), call.ToJsonString());
        }
        // The kube context Get-WandbLaunchJobManifest reads the namespace from.
        WandbLaunch.TestSupport.OfflineKubeconfig.Write(Path.Combine(dir, "kubeconfig"), "ml-training");
    }
}
