namespace WandbLaunch.Engine.WandbJobs;

/// <summary>Where a W&amp;B job's code comes from (<c>source_type</c> in <c>wandb-job.json</c>).</summary>
public enum JobSourceType
{
    /// <summary><c>repo</c>: a git remote at a commit.</summary>
    Repo,

    /// <summary><c>artifact</c>: a code artifact (<c>wandb-artifact://_id/&lt;id&gt;</c>).</summary>
    Artifact,

    /// <summary><c>image</c>: a container image, run as it is.</summary>
    Image,
}
