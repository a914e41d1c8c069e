using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Queues;

namespace WandbLaunch.Engine.Jobs;

/// <summary>A launch request on a queue (W&amp;B's run queue item) and everything known about its run.</summary>
public sealed class LaunchJob
{
    public required string Id { get; init; }

    public required string Queue { get; init; }

    public required string Entity { get; init; }

    public required string Project { get; init; }

    public required string Resource { get; init; }

    public LaunchJobState State { get; init; }

    public LaunchPriority Priority { get; init; }

    /// <summary>How many times an agent has taken this item.</summary>
    public int Attempts { get; init; }

    /// <summary>The W&amp;B run id the job runs as (kept across re-queues).</summary>
    public required string RunId { get; init; }

    /// <summary>The run name (spec <c>name</c>), if any.</summary>
    public string? Name => Documents.JsonTree.TryGetString(SpecNode["name"], out var name) ? name : null;

    /// <summary>What runs: the uri, job or docker image.</summary>
    public string? Source => Specs.LaunchSpecRules.Source(SpecNode);

    public string? AgentId { get; init; }

    /// <summary>For a job just taken over from an agent that stopped responding (ClaimOrphansAsync): that agent's id.</summary>
    public string? PreviousAgentId { get; internal set; }

    /// <summary>How the runner finds the job on its target (a pid, container id, Kubernetes job name...).</summary>
    public string? Handle { get; init; }

    public int? ExitCode { get; init; }

    public string? FailureMessage { get; init; }

    /// <summary>agent, build or run.</summary>
    public string? FailureStage { get; init; }

    public IReadOnlyList<JobWarning> Warnings { get; init; } = [];

    public bool StopRequested { get; init; }

    /// <summary>The run was started before and is resumed (WANDB_RESUME=allow).</summary>
    public bool Resumed { get; init; }

    public string? LogPath { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? LeasedAt { get; init; }

    public DateTimeOffset? StartedAt { get; init; }

    public DateTimeOffset? FinishedAt { get; init; }

    public DateTimeOffset? LeaseExpiresAt { get; init; }

    /// <summary>Run time so far, or in total once finished.</summary>
    public TimeSpan? Duration => StartedAt is { } start ? (FinishedAt ?? DateTimeOffset.UtcNow) - start : null;

    /// <summary>The launch spec as JSON, with resource_args rendered for the queue.</summary>
    public string SpecJson => JsonTree.ToJson(SpecNode);

    /// <summary>The launch spec as a dictionary.</summary>
    public object? Spec => JsonTree.ToPlain(SpecNode);

    internal JsonObject SpecNode { get; init; } = new();

    /// <summary>A copy of the launch spec.</summary>
    public JsonObject GetSpec() => (JsonObject)SpecNode.DeepClone();

    public override string ToString() => $"{Id} ({State})";
}
