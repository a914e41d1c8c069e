using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Jobs;

/// <summary>A launch request on a queue (W&amp;B's run queue item) and everything known about its run.</summary>
public sealed record LaunchJob
{
    /// <summary>The job a prepared item is once stored on <paramref name="queue"/> as <paramref name="id"/>: Pending, never taken.</summary>
    public static LaunchJob NewPending(LaunchQueue queue, string id, LaunchSpecRules.PreparedItem item, DateTimeOffset createdAt) => new()
    {
        Id = id,
        Queue = queue.Name,
        Entity = queue.Entity,
        Project = queue.Project,
        Resource = queue.Resource,
        State = LaunchJobState.Pending,
        Priority = item.Priority,
        RunId = item.RunId,
        LaunchSpec = item.Spec.Clone(),
        CreatedAt = createdAt,
    };

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
    public string? Name => LaunchSpec.Name;

    /// <summary>What runs: the uri, W&amp;B job artifact or docker image.</summary>
    public string? Source => LaunchSpec.Source;

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
    public string SpecJson => LaunchSpec.ToJson();

    /// <summary>The launch spec as a dictionary.</summary>
    public object? Spec => LaunchSpec.ToPlain();

    /// <summary>The launch spec as stored (read it through <see cref="GetSpec"/>: a copy the caller may change).</summary>
    internal LaunchSpec LaunchSpec { get; init; } = LaunchSpec.Empty();

    /// <summary>A copy of the launch spec.</summary>
    public LaunchSpec GetSpec() => LaunchSpec.Clone();

    public override string ToString() => $"{Id} ({State})";
}
