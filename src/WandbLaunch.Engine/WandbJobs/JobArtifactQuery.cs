using System.Text;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Engine.WandbJobs;

/// <summary>One version of a W&amp;B job with its parsed <c>wandb-job.json</c> and its files.</summary>
public sealed record JobArtifactDetails(ArtifactVersion Version, JobDefinition Definition, ArtifactManifest Manifest);

/// <summary>
/// Lists and reads W&amp;B jobs (W&amp;B's <c>wandb job list</c> and <c>wandb job describe</c>) through the backend's
/// artifact store. The entity and project default as for <see cref="JobCreator"/>: the parameter, then
/// WANDB_ENTITY / WANDB_PROJECT, then the backend's default entity.
/// </summary>
public sealed class JobArtifactQuery
{
    /// <summary>The largest <c>wandb-job.json</c> read.</summary>
    public const long MaxDefinitionBytes = 1 << 20;

    private readonly ILaunchBackend _backend;
    private readonly Func<string, string?> _environment;

    public JobArtifactQuery(ILaunchBackend backend, Func<string, string?>? environment = null)
    {
        _backend = backend;
        _environment = environment ?? Environment.GetEnvironmentVariable;
    }

    /// <summary>The entity and project a job command works in.</summary>
    public (string Entity, string Project) Scope(string? entity, string? project)
    {
        var e = SpecNames.Entity(entity ?? NonEmpty(_environment("WANDB_ENTITY")) ?? _backend.DefaultEntity, "-Entity");
        var p = project ?? NonEmpty(_environment("WANDB_PROJECT"))
            ?? throw LaunchException.Invalid("JobProjectMissing", "No project provided, use -Project or set WANDB_PROJECT.");
        return (e, SpecNames.Project(p, "-Project"));
    }

    /// <summary>
    /// A project's jobs: each job's latest version (newest job first), or with <paramref name="allVersions"/> every
    /// version; <paramref name="name"/> narrows to one job, whose versions are all listed.
    /// </summary>
    public async Task<IReadOnlyList<ArtifactVersion>> ListAsync(string? entity, string? project, string? name, bool allVersions, CancellationToken cancellationToken)
    {
        var (e, p) = Scope(entity, project);
        var versions = await _backend.Artifacts.ListAsync(e, p, JobCreator.JobType, name, cancellationToken).ConfigureAwait(false);
        if (allVersions || name is not null) return versions.Where(v => v.State != "DELETED").ToList();
        return versions.Where(v => v.State != "DELETED")
            .GroupBy(v => v.Name, StringComparer.Ordinal)
            .Select(g => g.FirstOrDefault(v => v.Aliases.Contains(ArtifactPath.Latest)) ?? g.MaxBy(v => v.VersionIndex)!)
            .OrderByDescending(v => v.CreatedAt).ThenBy(v => v.Name, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>One job version with its <c>wandb-job.json</c> (size-capped, digest-checked, parsed strictly).</summary>
    public async Task<JobArtifactDetails> InspectAsync(ArtifactPath path, CancellationToken cancellationToken)
    {
        var version = await _backend.Artifacts.GetAsync(path, cancellationToken).ConfigureAwait(false);
        if (version.Type != JobCreator.JobType)
        {
            throw LaunchException.Invalid("NotAJobArtifact", $"The artifact {path} is of type '{version.Type}', not a job.", path.ToString());
        }
        var manifest = await _backend.Artifacts.GetManifestAsync(version, cancellationToken).ConfigureAwait(false);
        var entry = manifest.Find(JobDefinition.FileName)
            ?? throw LaunchException.InvalidData("InvalidJobDefinition", $"The job {version} has no {JobDefinition.FileName}.", version.ToString());
        if (entry.Size > MaxDefinitionBytes)
        {
            throw LaunchException.InvalidData("InvalidJobDefinition", $"The {JobDefinition.FileName} of job {version} has {entry.Size} bytes; at most {MaxDefinitionBytes} are read.", version.ToString());
        }
        var bytes = await ArtifactFiles.ReadCheckedAsync(_backend.Artifacts, version, entry, cancellationToken).ConfigureAwait(false);
        var definition = JobDefinition.Parse(Encoding.UTF8.GetString(bytes), version.ToString());
        return new JobArtifactDetails(version, definition, manifest);
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
