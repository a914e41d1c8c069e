using System.Text.Json.Nodes;
using WandbLaunch.Engine.Queues;

namespace WandbLaunch.Engine.Services;

/// <summary>
/// A launch request as W&amp;B's <c>wandb launch</c> flags describe it (Submit-WandbLaunchJob's and
/// Get-WandbLaunchJobManifest's parameters), already turned into plain values: paths are full, documents are parsed.
/// <see cref="JobSubmission"/> turns it into a launch spec.
/// </summary>
public sealed record SubmitOptions
{
    /// <summary>The queue by name, in <see cref="Entity"/>'s (else the default entity's) model-registry project.</summary>
    public string? QueueName { get; init; }

    /// <summary>The queue by its full key (a queue read from the backend); wins over <see cref="QueueName"/>.</summary>
    public QueueKey? Queue { get; init; }

    /// <summary>A whole launch spec (-Spec given as a document); the other options override its keys.</summary>
    public JsonNode? Spec { get; init; }

    /// <summary>A file holding a whole launch spec (-Spec given as a path), full path.</summary>
    public string? SpecFile { get; init; }

    /// <summary>The code: a git URL, or a local directory as a full path (W&amp;B's -u).</summary>
    public string? Uri { get; init; }

    /// <summary>The git branch, tag or commit (W&amp;B's -g).</summary>
    public string? GitVersion { get; init; }

    /// <summary>A W&amp;B job, <c>entity/project/name[:alias]</c> (W&amp;B's -j; spec <c>job</c>).</summary>
    public string? Job { get; init; }

    /// <summary>The Dockerfile to build with, relative to the build context (W&amp;B's -D; <c>overrides.dockerfile</c>).</summary>
    public string? Dockerfile { get; init; }

    /// <summary>With <see cref="Uri"/>: the build context below the code (W&amp;B's --build-context).</summary>
    public string? BuildContext { get; init; }

    /// <summary>With <see cref="Uri"/>, on a backend that makes jobs of uris: the image the code runs in, no build (W&amp;B's -B/--base-image).</summary>
    public string? BaseImage { get; init; }

    /// <summary>With <see cref="Uri"/>, on a backend that makes jobs of uris: the job's name (W&amp;B's -J/--job-name).</summary>
    public string? JobName { get; init; }

    /// <summary>
    /// W&amp;B's <c>-b/--build</c>: build the code of <see cref="Uri"/> here (Docker engine, the launch config's builder
    /// block) and queue an image job for it, so that agents run the image without building.
    /// </summary>
    public bool Build { get; init; }

    /// <summary>With <see cref="Build"/>: the launch config whose builder block builds (default ~/.config/wandb/launch-config.yaml).</summary>
    public string? AgentConfigPath { get; init; }

    /// <summary>With <see cref="Build"/>: where the build's output is written.</summary>
    public string? BuildLogPath { get; init; }

    /// <summary>A prebuilt image (W&amp;B's -d).</summary>
    public string? DockerImage { get; init; }

    /// <summary>The command as its words, or as one command line split as W&amp;B splits -E (overrides.entry_point).</summary>
    public IReadOnlyList<string>? EntryPoint { get; init; }

    /// <summary>Arguments appended to the entry point (overrides.args).</summary>
    public IReadOnlyList<string>? Arguments { get; init; }

    /// <summary>The run config (overrides.run_config).</summary>
    public JsonNode? RunConfig { get; init; }

    /// <summary>Null: the spec's priority, else medium (W&amp;B's -P).</summary>
    public LaunchPriority? Priority { get; init; }

    /// <summary>Values for the queue's template variables (W&amp;B's --set-var).</summary>
    public JsonObject? TemplateValues { get; init; }

    /// <summary>
    /// Resource arguments (W&amp;B's -R): either <c>{"&lt;resource&gt;": {...}}</c> as in a launch spec, or the bare
    /// arguments for the queue's resource. Must be a mapping.
    /// </summary>
    public JsonNode? ResourceArgs { get; init; }

    /// <summary>
    /// The spec's <c>resource</c> (W&amp;B's -r), over the one -Spec names: set for a queue-less launch, whose own queue
    /// runs on it (a queue's resource must match its jobs').
    /// </summary>
    public string? Resource { get; init; }

    /// <summary>The run name (W&amp;B's --name).</summary>
    public string? Name { get; init; }

    /// <summary>The entity of the run, and of the queue when it is given by name (W&amp;B's -e).</summary>
    public string? Entity { get; init; }

    /// <summary>The project of the run (W&amp;B's -p).</summary>
    public string? Project { get; init; }

    /// <summary>The author when the spec names none; null means the current user's name.</summary>
    public string? Author { get; init; }
}
