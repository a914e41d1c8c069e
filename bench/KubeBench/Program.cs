using System.Globalization;

namespace KubeBench;

/// <summary>
/// Kubernetes benchmarks through the engine's public API. Every mode prints Markdown to stdout. Modes:
/// <list type="bullet">
/// <item><c>render [--calls 5000] [--warmup 500]</c>: per-call time of <c>JobManifest.Render</c> and <c>JobManifest.ToYaml</c>
/// for the queue configs in <c>configs/</c>, interleaved call by call, warm; beside the whole preview path
/// (<c>JobPreview.Render</c>, what Get-WandbLaunchJobManifest runs after reading the queue).</item>
/// <item><c>configs --out D</c>: writes each config as a queue configuration (<c>&lt;name&gt;.queue.json</c>) and the
/// parameters of a matching Get-WandbLaunchJobManifest call (<c>&lt;name&gt;.call.json</c>), and a kubeconfig that
/// names the context namespace (<c>kubeconfig</c>), for bench/Measure-Kubernetes.ps1.</item>
/// <item><c>monitor --dir D [--jobs 500] [--idle 10] [--steady 20] [--log-rate 1] [--log-seconds 20] [--after 10]
/// [--agent console|pwsh] [--pwsh P --module M]</c>: the loopback API server in this process, an agent in another; its
/// CPU and memory idle, while following <c>--jobs</c> running Kubernetes jobs (quiet, then each pod printing
/// <c>--log-rate</c> lines a second), as they all complete, and after. Exits 1 when a check fails.</item>
/// <item><c>agent --store S --queue Q --name N --work W --log L</c>: a LaunchAgent (max_jobs -1, builder noop) in this
/// process until a stop is requested through the store; what <c>monitor --agent console</c> starts.</item>
/// </list>
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] argv)
    {
        if (argv.Length == 0)
        {
            Console.Error.WriteLine("usage: KubeBench render|configs|monitor|agent --option value ...");
            return 2;
        }
        try
        {
            var args = Args.Parse(argv.Skip(1));
            switch (argv[0])
            {
                case "render": Render.Run(args); break;
                case "configs": Render.WriteConfigs(args); break;
                case "monitor": return await Monitor.RunAsync(args);
                case "agent": return await AgentHost.RunAsync(args);
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
}

internal static class Stats
{
    /// <summary>Nearest-rank percentile (p in 0..100) of sorted values.</summary>
    public static double P(double[] sorted, double p)
    {
        if (sorted.Length == 0) return double.NaN;
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public static string F(double value, string format = "F1") => value.ToString(format, CultureInfo.InvariantCulture);

    public static string Load() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
