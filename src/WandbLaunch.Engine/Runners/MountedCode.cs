namespace WandbLaunch.Engine.Runners;

/// <summary>Where a W&amp;B job's code comes from (W&amp;B's <c>job_source_type</c>) when it is mounted into a ready image.</summary>
public enum MountedCodeSource
{
    /// <summary>A git commit of a remote.</summary>
    Repo,

    /// <summary>A code artifact.</summary>
    Artifact,
}

/// <summary>
/// A W&amp;B job run in a ready image without a build (<c>Builders/JobBaseImage</c>): its code, prepared on the
/// agent's host, is mounted at <see cref="Directory"/> and the job works there. A local-container runner bind-mounts
/// <see cref="HostDirectory"/>; the kubernetes runner has the pod fetch the code again (W&amp;B's
/// <c>job_source_info</c>) or copies the prepared code to a volume claim.
/// </summary>
public sealed record MountedCode
{
    /// <summary>W&amp;B's <c>CODE_MOUNT_DIR</c>.</summary>
    public const string Directory = "/mnt/wandb";

    /// <summary>The prepared code on the agent's host.</summary>
    public required string HostDirectory { get; init; }

    public required MountedCodeSource Source { get; init; }

    /// <summary>For a repo job: the remote the job names.</summary>
    public string? GitRemote { get; init; }

    /// <summary>For a repo job: the commit the job names.</summary>
    public string? GitCommit { get; init; }

    /// <summary>For an artifact job: the code artifact's qualified name (<c>entity/project/name:vN</c>).</summary>
    public string? CodeArtifact { get; init; }

    /// <summary>The job artifact's qualified name (<c>entity/project/name:vN</c>), which holds the frozen requirements.</summary>
    public required string JobArtifact { get; init; }

    /// <summary>W&amp;B's image source string (<c>get_image_source_string</c>), which names the job's code on a volume claim.</summary>
    public required string ImageSourceString { get; init; }

    /// <summary>
    /// W&amp;B's <c>_auto_default_base_image</c>: the noop builder chose the image, so the job's command first installs
    /// its requirements (a job's own base image is expected to have them).
    /// </summary>
    public bool InstallDependencies { get; init; }

    /// <summary><c>overrides.working_dir</c>, relative to the code.</summary>
    public string? WorkingDir { get; init; }

    /// <summary>
    /// Whether the job's store is a W&amp;B server, from which a pod can download artifacts itself. The local store
    /// is a file on the agent's host that no pod can reach.
    /// </summary>
    public bool StoreReachableFromJobs { get; init; }

    /// <summary>W&amp;B's <c>resolved_working_dir</c>: where the job works in its container.</summary>
    public string ContainerWorkingDir => WorkingDir is { Length: > 0 } under ? $"{Directory}/{under}" : Directory;
}
