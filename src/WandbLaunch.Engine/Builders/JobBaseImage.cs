using System.Text.Json.Nodes;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.WandbJobs;

namespace WandbLaunch.Engine.Builders;

/// <summary>
/// When W&amp;B's agent runs a job's code in a ready image instead of building one (<c>agent.py</c>, <c>_project_spec.py</c>
/// <c>build_required</c>): a repo or artifact job that names <c>source.base_image</c>; or, with the noop builder, any
/// repo or artifact job, in <c>builder.base_image</c> of its resource_args or <c>python:3.12-slim</c>. The runner then
/// mounts the prepared code at <see cref="CodeMountDirectory"/> and works there.
/// </summary>
public static class JobBaseImage
{
    /// <summary>W&amp;B's <c>_DEFAULT_BASE_IMAGE</c>.</summary>
    public const string Default = "python:3.12-slim";

    /// <summary>W&amp;B's <c>CODE_MOUNT_DIR</c>, where a container runner mounts the code (<see cref="Runners.JobContext.Code"/>).</summary>
    public const string CodeMountDirectory = Runners.MountedCode.Directory;

    /// <summary>The image to run <paramref name="job"/> in without a build, and whether it is the noop builder's default choice; null when it is built.</summary>
    public static (string Image, bool ChosenForNoop)? For(ResolvedJob job, string builderType, JsonObject resourceArgs, LaunchSpec spec)
    {
        if (job.CodeDirectory is null) return null;
        if (job.Definition.BaseImage is { Length: > 0 } own) return (own, false);
        if (builderType != "noop") return null;
        return (BuildRequest.BaseImageOf(resourceArgs, spec) ?? Default, true);
    }
}
