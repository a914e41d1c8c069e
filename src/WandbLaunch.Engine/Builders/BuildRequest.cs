using System.Text.Json.Nodes;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Builders;

/// <summary>What a builder needs for one job.</summary>
public sealed class BuildRequest
{
    public required LaunchJob Job { get; init; }

    public required JsonObject Spec { get; init; }

    /// <summary><c>resource_args.&lt;resource&gt;</c>; its <c>builder</c> block (base_image) is for the builder.</summary>
    public required JsonObject ResourceArgs { get; init; }

    public required BuilderSettings Settings { get; init; }

    public required string WorkDirectory { get; init; }

    public required JobLog Log { get; init; }

    /// <summary>Reports build and push progress: activity, status line, percent (or -1).</summary>
    public Action<string, string, int>? Progress { get; init; }
}
