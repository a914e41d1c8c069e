using System.Text.Json.Nodes;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Builders;

/// <summary>What a builder needs for one job.</summary>
public sealed class BuildRequest
{
    public required LaunchJob Job { get; init; }

    public required LaunchSpec Spec { get; init; }

    /// <summary>The W&amp;B job the spec was resolved from (its <see cref="Spec"/> is the lowered one); null for uri and image specs.</summary>
    public WandbJobs.ResolvedJob? WandbJob { get; init; }

    /// <summary>
    /// The plan, tag and image name for this request: a uri job's tag is a hash of its context; a W&amp;B job's is
    /// W&amp;B's (its source string and Dockerfile) and, without a destination, its image is named after the job.
    /// </summary>
    public (BuildPlan Plan, string Image) PlanImage(string code, string? destination, Func<string, string> uriImageName, bool buildKit = false)
    {
        if (WandbJob is { } job)
        {
            var plan = BuildPlanner.Plan(code, Spec, BaseImage, JobBuild.For(job, Spec, ResourceArgs, buildKit));
            var tag = BuildPlanner.JobImageTag(job.SourceString, plan.Dockerfile);
            return (plan, destination is null ? $"{job.ImageRepository}:{tag}" : $"{destination}:{tag}");
        }
        var uriPlan = BuildPlanner.Plan(code, Spec, BaseImage);
        return (uriPlan, uriImageName(ContextArchive.Tag(uriPlan)));
    }

    /// <summary><c>resource_args.&lt;resource&gt;</c>; its <c>builder</c> block (base_image) is for the builder.</summary>
    public required JsonObject ResourceArgs { get; init; }

    public required BuilderSettings Settings { get; init; }

    public required string WorkDirectory { get; init; }

    public required JobLog Log { get; init; }

    /// <summary>The image to build on when the job has no Dockerfile: <c>builder.base_image</c> of its resource_args, else of its spec.</summary>
    public string? BaseImage => BaseImageOf(ResourceArgs, Spec);

    /// <summary><c>builder.base_image</c> of <paramref name="resourceArgs"/>, else of <paramref name="spec"/>.</summary>
    public static string? BaseImageOf(JsonObject resourceArgs, LaunchSpec spec)
    {
        var fromArgs = (resourceArgs["builder"] as JsonObject)?["base_image"];
        return JsonTree.TryGetString(fromArgs, out var a) && a.Length > 0 ? a
            : spec.BuilderBaseImage is { Length: > 0 } s ? s
            : null;
    }

    /// <summary>Records a warning on the job (stage build): something keeps the build from going on until someone acts.</summary>
    public Action<string>? Warn { get; init; }

    /// <summary>Reports build and push progress: activity, status line, percent (or -1).</summary>
    public Action<string, string, int>? Progress { get; init; }
}
