using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Queues;

/// <summary>The target resources a queue can be bound to, by their W&amp;B names.</summary>
public static class LaunchResource
{
    public const string LocalProcess = "local-process";
    public const string LocalContainer = "local-container";
    public const string Kubernetes = "kubernetes";
    public const string SageMaker = "sagemaker";
    public const string GcpVertex = "gcp-vertex";

    public static IReadOnlyList<string> All { get; } = [LocalContainer, LocalProcess, Kubernetes, SageMaker, GcpVertex];

    /// <summary>W&amp;B's other name for gcp-vertex (its agent accepts both; queues say gcp-vertex), also its preferred resource_args key.</summary>
    public const string VertexArgsKey = "vertex";

    public static string Normalize(string? resource)
    {
        if (string.Equals(resource?.Trim(), VertexArgsKey, StringComparison.OrdinalIgnoreCase)) return GcpVertex;
        var match = All.FirstOrDefault(r => string.Equals(r, resource?.Trim(), StringComparison.OrdinalIgnoreCase));
        return match ?? throw LaunchException.Invalid("InvalidResource",
            $"Unknown resource '{resource}'. Allowed resources: {string.Join(", ", All)}.", resource);
    }
}
