using WandbLaunch.Engine.Artifacts;

namespace WandbLaunch.Engine.WandbJobs;

/// <summary>What <c>wandb job create</c> makes a job from: a local directory, a git repository or an image.</summary>
public enum JobCreateSource
{
    /// <summary><c>code</c>: a local directory, uploaded as a code artifact (job source_type <c>artifact</c>).</summary>
    Code,

    /// <summary><c>git</c>: a git URI at a commit (job source_type <c>repo</c>).</summary>
    Git,

    /// <summary><c>image</c>: a container image, run as it is (job source_type <c>image</c>).</summary>
    Image,
}

/// <summary>
/// A job to create, as <c>wandb job create [flags] git|code|image PATH</c> takes it. Null means "not given": the
/// creator applies W&amp;B's defaults (entity and project from the environment, entry point <c>main.py</c>...).
/// </summary>
public sealed record JobCreateRequest
{
    public required JobCreateSource Source { get; init; }

    /// <summary>The directory (a full path), the git URI or the image.</summary>
    public required string Path { get; init; }

    /// <summary>
    /// Code jobs: the directory as the user typed it, which W&amp;B's default names are made from
    /// (<c>code-&lt;path&gt;_&lt;entry file&gt;</c>); null means <see cref="Path"/>.
    /// </summary>
    public string? PathAsGiven { get; init; }

    public string? Entity { get; init; }

    public string? Project { get; init; }

    /// <summary>The job's artifact name (W&amp;B's -n); must already be artifact-safe.</summary>
    public string? Name { get; init; }

    public string? Description { get; init; }

    /// <summary>Aliases besides <c>latest</c> (W&amp;B's -a).</summary>
    public IReadOnlyList<string> Aliases { get; init; } = [];

    /// <summary>
    /// The entry point (W&amp;B's -E). One element is split on spaces, as W&amp;B splits its one string; several are
    /// taken as the argument vector. Null: <c>main.py</c> for code and git jobs, with a warning.
    /// </summary>
    public IReadOnlyList<string>? EntryPoint { get; init; }

    /// <summary>Git jobs: the branch, tag or commit (W&amp;B's -g); null: <c>main</c>, else <c>master</c>.</summary>
    public string? GitHash { get; init; }

    /// <summary>The Python version, <c>3.N</c> (W&amp;B's -r).</summary>
    public string? Runtime { get; init; }

    /// <summary>The build context below the job's code (W&amp;B's -b), stored in the job.</summary>
    public string? BuildContext { get; init; }

    /// <summary>The image the code runs in without a build (W&amp;B's -B); not for image jobs.</summary>
    public string? BaseImage { get; init; }

    /// <summary>The Dockerfile, relative to the build context (W&amp;B's -D), stored in the job.</summary>
    public string? Dockerfile { get; init; }
}

/// <summary>What creating a job did, with what W&amp;B prints for it.</summary>
/// <param name="Job">The job version the name and aliases now point at.</param>
/// <param name="Kind">Created (a new job), Updated (a new version) or Unchanged (same content as an existing version).</param>
/// <param name="Definition">The job's <c>wandb-job.json</c>.</param>
/// <param name="Aliases">The aliases given to the version, <c>latest</c> last.</param>
/// <param name="Code">Code jobs: the code artifact version the job points at.</param>
/// <param name="Warnings">What W&amp;B would warn about (defaults taken, things ignored, files left out).</param>
public sealed record JobCreateResult(
    ArtifactVersion Job,
    ArtifactCommitKind Kind,
    JobDefinition Definition,
    IReadOnlyList<string> Aliases,
    ArtifactVersion? Code,
    IReadOnlyList<string> Warnings)
{
    /// <summary>W&amp;B's word for <see cref="Kind"/>: <c>Created</c>, <c>Updated</c> or <c>No changes detected for</c>.</summary>
    public string Action => Kind switch
    {
        ArtifactCommitKind.Created => "Created",
        ArtifactCommitKind.Updated => "Updated",
        _ => "No changes detected for",
    };

    /// <summary>The line <c>wandb job create</c> prints: <c>Created job: e/p/job-x:v0, with alias: latest</c>.</summary>
    public string Message =>
        $"{Action} job: {Job.Entity}/{Job.Project}/{Job.Name}:{Job.Version}" +
        (Aliases.Count == 1 ? $", with alias: {Aliases[0]}" : Aliases.Count > 1 ? $", with aliases: {string.Join(", ", Aliases)}" : "");
}

/// <summary>How much of a directory a code job may upload; past either limit it is refused (<c>CodeDirectoryTooLarge</c>).</summary>
public sealed record JobCodeLimits(int MaxFiles = 20_000, long MaxBytes = 2L << 30)
{
    public static JobCodeLimits Default { get; } = new();
}
