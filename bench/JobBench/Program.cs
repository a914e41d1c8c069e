namespace JobBench;

/// <summary>
/// Benchmarks of W&amp;B jobs through the engine's public API; every mode prints Markdown tables to stdout. Modes:
/// <list type="bullet">
/// <item><c>resolve --dir D [--files 200] [--mb 20] [--runs 15] [--warmup 2]</c>: the agent's resolve-and-prepare
/// (<c>JobResolver.ResolveAsync</c>) of a code-artifact job and of a repo job (local <c>git init</c> repository) on a
/// local store in D, with an empty and with a warm artifact cache, beside <c>cp -r</c> and <c>git clone</c> of the
/// same files, in interleaved rounds.</item>
/// <item><c>start --dir D --base-image IMG [--files 200] [--mb 20] [--runs 10]</c>: an agent in this process (docker
/// builder, local-container queue) takes a code-artifact job whose image is built for the first time (a new job
/// version), then the same version again (image exists: build skipped); claim → container started, by phase.</item>
/// </list>
/// </summary>
public static class Program
{
    public const string Entity = "bench";

    public const string Project = "jobs";

    public static async Task<int> Main(string[] argv)
    {
        if (argv.Length == 0)
        {
            Console.Error.WriteLine("usage: JobBench resolve|start --option value ...");
            return 2;
        }
        try
        {
            var args = Args.Parse(argv.Skip(1));
            switch (argv[0])
            {
                case "resolve": await Resolve.RunAsync(args); break;
                case "start": await Start.RunAsync(args); break;
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
