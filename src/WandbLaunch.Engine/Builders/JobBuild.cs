using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.WandbJobs;

namespace WandbLaunch.Engine.Builders;

/// <summary>What building a W&amp;B job's image needs besides its code: the job, the accelerator base image, and the user the image runs as.</summary>
public sealed record JobBuild(ResolvedJob Job, string? AcceleratorBaseImage, string UserName, int UserId, bool BuildKit)
{
    /// <summary>W&amp;B's default <c>docker.user_id</c>.</summary>
    public const int DefaultUserId = 1000;

    /// <summary>
    /// The inputs for <paramref name="job"/>: <c>builder.accelerator.base_image</c> (else <c>builder.cuda.base_image</c>) of
    /// <paramref name="resourceArgs"/> (<c>resource_args.&lt;resource&gt;</c>), the agent's login name, <c>docker.user_id</c>
    /// (W&amp;B's default 1000).
    /// </summary>
    public static JobBuild For(ResolvedJob job, LaunchSpec spec, JsonObject resourceArgs, bool buildKit = false)
    {
        string? accelerator = null;
        if (resourceArgs["builder"] is JsonObject builder)
        {
            foreach (var key in new[] { "accelerator", "cuda" })
            {
                var value = (builder[key] as JsonObject)?["base_image"];
                if (value is null) continue;
                if (!JsonTree.TryGetString(value, out var image))
                {
                    throw new JobFailedException(FailureStage.Build,
                        $"Invalid accelerator base image. Expected builder.{key}.base_image to be a string Docker image reference, got {JsonTree.KindOf(value)}.");
                }
                if (image.Length == 0) continue;
                accelerator = image;
                break;
            }
        }
        var userId = spec.DockerUserId is { } id && id != 0 ? id : spec.DockerUserId == 0 ? EffectiveUserId() : DefaultUserId;
        return new JobBuild(job, accelerator, Environment.UserName, userId, buildKit);
    }

    /// <summary>W&amp;B: <c>docker_user_id or os.geteuid()</c>, so a user_id of 0 means the agent's own uid.</summary>
    private static int EffectiveUserId()
    {
        if (OperatingSystem.IsWindows()) return DefaultUserId;
        try
        {
            return int.Parse(File.ReadAllLines("/proc/self/status").First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[2],
                System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or FormatException or InvalidOperationException or IndexOutOfRangeException)
        {
            return DefaultUserId;
        }
    }
}
