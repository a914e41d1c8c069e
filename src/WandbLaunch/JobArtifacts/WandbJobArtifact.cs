using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.WandbJobs;

namespace WandbLaunch.JobArtifacts;

/// <summary>
/// One version of a W&amp;B job: an artifact of type <c>job</c> (<c>entity/project/name:vN</c>) whose
/// <c>wandb-job.json</c> says where its code comes from. Not a queue item (LaunchJob) and not a PowerShell job.
/// </summary>
public sealed class WandbJobArtifact
{
    internal WandbJobArtifact(ArtifactVersion version, JobDefinition? definition, ArtifactManifest? manifest, string? status, ArtifactVersion? code)
    {
        Entity = version.Entity;
        Project = version.Project;
        Name = version.Name;
        Version = version.Version;
        Aliases = version.Aliases.ToArray();
        Id = version.Id;
        Digest = version.Digest;
        Size = version.Size;
        Description = version.Description;
        CreatedAt = version.CreatedAt;
        Partial = version.Metadata?["_partial"] is { } partial && partial.GetValueKind() == System.Text.Json.JsonValueKind.True;
        Status = status;
        CodeArtifact = code?.ToString();
        Files = manifest?.Entries.Select(e => e.Path).ToArray();
        if (definition is not null)
        {
            Definition = definition;
            SourceType = JobDefinition.SourceTypeName(definition.SourceType);
            Source = definition.SourceType switch
            {
                JobSourceType.Repo => $"{definition.GitRemote}@{definition.GitCommit}",
                JobSourceType.Artifact => definition.CodeArtifact,
                _ => definition.Image,
            };
            EntryPoint = definition.EntryPoint?.ToArray();
            Runtime = definition.Runtime;
            BuildContext = definition.BuildContext;
            Dockerfile = definition.Dockerfile;
            BaseImage = definition.BaseImage;
        }
    }

    /// <summary>The entity (W&amp;B user or team) the job belongs to.</summary>
    public string Entity { get; }

    /// <summary>The project the job belongs to.</summary>
    public string Project { get; }

    /// <summary>The job's name (its artifact collection), e.g. <c>job-github.com_o_r_train.py</c>.</summary>
    public string Name { get; }

    /// <summary><c>v0</c>, <c>v1</c>...</summary>
    public string Version { get; }

    /// <summary>Named aliases of this version (<c>latest</c>, ...).</summary>
    public string[] Aliases { get; }

    /// <summary><c>entity/project/name:vN</c>: what Submit-WandbLaunchJob -Job takes.</summary>
    public string Path => $"{Entity}/{Project}/{Name}:{Version}";

    /// <summary>The store's id of the version.</summary>
    public string Id { get; }

    /// <summary>The version's digest (an MD5 over its files): equal digests, equal contents.</summary>
    public string Digest { get; }

    /// <summary>The size of the version's files, in bytes.</summary>
    public long Size { get; }

    /// <summary>The job's description (W&amp;B's -d).</summary>
    public string? Description { get; }

    /// <summary>When the version was created.</summary>
    public DateTimeOffset CreatedAt { get; }

    /// <summary>Whether the job was made without a run (<c>wandb job create</c>, New-WandbLaunchJobArtifact): metadata <c>_partial</c>.</summary>
    public bool Partial { get; }

    /// <summary>New-WandbLaunchJobArtifact: <c>Created</c>, <c>Updated</c> or <c>Unchanged</c> (W&amp;B's "No changes detected").</summary>
    public string? Status { get; }

    /// <summary>Code jobs made here: the code artifact version the job points at.</summary>
    public string? CodeArtifact { get; }

    /// <summary><c>repo</c>, <c>artifact</c> or <c>image</c>; null when the job's <c>wandb-job.json</c> was not read (a listing).</summary>
    public string? SourceType { get; }

    /// <summary>The remote@commit, the code artifact or the image.</summary>
    public string? Source { get; }

    /// <summary>The command the job runs, as its words.</summary>
    public string[]? EntryPoint { get; }

    /// <summary>The Python version (<c>3.N</c>).</summary>
    public string? Runtime { get; }

    /// <summary>The build context below the job's code, if the job gives one.</summary>
    public string? BuildContext { get; }

    /// <summary>The Dockerfile, relative to the build context, if the job gives one.</summary>
    public string? Dockerfile { get; }

    /// <summary>The image the job's code runs in without a build, if the job gives one.</summary>
    public string? BaseImage { get; }

    /// <summary>The job's files (wandb-job.json, requirements.frozen.txt...), when read.</summary>
    public string[]? Files { get; }

    /// <summary>The parsed <c>wandb-job.json</c>, when read.</summary>
    public JobDefinition? Definition { get; }

    /// <summary><c>entity/project/name:vN</c>.</summary>
    /// <returns>The version's path.</returns>
    public override string ToString() => Path;
}
