using System.Text.RegularExpressions;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.WandbJobs;

/// <summary>
/// A W&amp;B job made ready to build and run: its artifact version, its <c>wandb-job.json</c>, the prepared code (for
/// repo and artifact jobs) and the launch spec lowered to what the rest of the pipeline already runs (see
/// <see cref="JobResolver"/>). Lives only in the agent's memory, for one attempt.
/// </summary>
public sealed partial record ResolvedJob
{
    /// <summary>The job as the spec named it (the alias defaults to <c>latest</c>).</summary>
    public required ArtifactPath Requested { get; init; }

    /// <summary>The version that name resolved to.</summary>
    public required ArtifactVersion Version { get; init; }

    public required JobDefinition Definition { get; init; }

    /// <summary>Where the code was prepared (<c>&lt;run directory&gt;/code</c>); null for image jobs.</summary>
    public string? CodeDirectory { get; init; }

    /// <summary>For an artifact job, the code artifact version its code came from; null otherwise.</summary>
    public ArtifactVersion? CodeArtifact { get; init; }

    /// <summary>The job's own entry point (<c>source.entrypoint</c>), which W&amp;B uses to find <c>Dockerfile.wandb</c>.</summary>
    public IReadOnlyList<string>? JobEntryPoint => Definition.EntryPoint;

    /// <summary>
    /// The spec lowered for building and launching: <c>uri</c> = the code directory (or <c>docker.docker_image</c> =
    /// the job's image), entry point and args (overrides first), <c>python_version</c> = the job's runtime,
    /// <c>build_context</c>. It keeps <c>job</c>, so the run still learns its job through WANDB_ARTIFACTS.
    /// </summary>
    public required LaunchSpec Spec { get; init; }

    /// <summary>
    /// W&amp;B's image source string (<c>LaunchProject.get_image_source_string</c>): the requested name with its alias,
    /// <c>:v</c>, and the version (<c>vN</c>), e.g. <c>job-x:latest:vv3</c>; the alias used changes the image tag.
    /// </summary>
    public string SourceString => $"{Requested.Name}:{Requested.Alias}:v{Version.Version}";

    /// <summary>
    /// The image repository W&amp;B names a job's image after when no registry is set (<c>LaunchProject.image_name</c>):
    /// the job path without its alias, made Docker-safe (lower-cased, other characters and separator runs → <c>__</c>),
    /// e.g. <c>ent__proj__job-x</c>.
    /// </summary>
    public string ImageRepository => DockerSafeName(Requested.Collection);

    /// <summary>W&amp;B's <c>util.make_docker_image_name_safe</c>.</summary>
    public static string DockerSafeName(string name)
    {
        var safe = NotNameCharacter().Replace(name.ToLowerInvariant(), "__");
        var deduped = RepeatedSeparators().Replace(safe, "__");
        var trimmed = TrailingSeparator().Replace(LeadingSeparator().Replace(deduped, ""), "");
        return trimmed.Length == 0 ? "image" : trimmed;
    }

    [GeneratedRegex("[^a-z0-9._\\-]")]
    private static partial Regex NotNameCharacter();

    [GeneratedRegex("(?:__|[._]|[-]+){2,}")]
    private static partial Regex RepeatedSeparators();

    [GeneratedRegex("^(?:__|[._]|[-]+)")]
    private static partial Regex LeadingSeparator();

    [GeneratedRegex("(?:__|[._]|[-]+)$")]
    private static partial Regex TrailingSeparator();
}
