using System.Text.Json.Nodes;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Runners;

/// <summary>Everything a runner needs to run one job, resolved by the agent.</summary>
public sealed class JobContext
{
    public required LaunchJob Job { get; init; }

    /// <summary>The launch spec with macros substituted in resource_args.</summary>
    public required LaunchSpec Spec { get; init; }

    /// <summary><c>resource_args.&lt;resource&gt;</c> after templates and macros.</summary>
    public required JsonObject ResourceArgs { get; init; }

    /// <summary>The W&amp;B environment for the job (split where long).</summary>
    public required IReadOnlyDictionary<string, string> Environment { get; init; }

    /// <summary>The image the job runs in, when it runs in one.</summary>
    public string? ImageUri { get; init; }

    public required LaunchAgentConfig AgentConfig { get; init; }

    /// <summary>Where the runner may put per-run files (clones, build contexts).</summary>
    public required string WorkDirectory { get; init; }

    /// <summary>The job's log.</summary>
    public required JobLog Log { get; init; }

    /// <summary>
    /// Runners call this right before they start the job on its target (a process, a container, a Kubernetes Job),
    /// after fetching code and building, so that recovery knows whether the job may already have run.
    /// </summary>
    public Func<Task> Launching { get; init; } = () => Task.CompletedTask;

    /// <summary>Values never to show (API keys); renderers redact them.</summary>
    public IReadOnlyList<string> Secrets { get; init; } = [];

    /// <summary>
    /// Records a warning on the job (an unschedulable pod, an image that cannot be pulled): the agent stores it
    /// with the job, writes it to the job log, and names the last one if the job then fails to start in time.
    /// </summary>
    public Action<string> Warn { get; init; } = _ => { };

    /// <summary>A W&amp;B job run in a ready image without a build, with its code mounted; null otherwise.</summary>
    public MountedCode? Code { get; init; }
}
