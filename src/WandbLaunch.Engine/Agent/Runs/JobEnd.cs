using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Agent.Runs;

/// <summary>How a launch job's run in this agent ends: what <see cref="JobEndWriter"/> writes to the backend.</summary>
internal abstract record JobEnd
{
    /// <summary>The launch job reached its outcome (finished, failed at a stage, stopped): <c>FinishAsync</c>.</summary>
    /// <param name="Outcome">What is stored.</param>
    /// <param name="Event">The event line, when not the outcome's own description.</param>
    public sealed record Finish(JobOutcome Outcome, string? Event = null) : JobEnd;

    /// <summary>The launch job goes back on its queue (preempted, or stopped before it ran): <c>RequeueAsync</c>.</summary>
    /// <param name="Reason">Stored with it and written to its log.</param>
    /// <param name="Event">The event line.</param>
    /// <param name="Kind">The event's kind.</param>
    public sealed record Requeue(string Reason, string Event, AgentEventKind Kind = AgentEventKind.Job) : JobEnd;

    /// <summary>The agent stops and leaves the launch job running on its target for the next agent: <c>ReleaseAsync</c>.</summary>
    /// <param name="Description">The running job, as its runner describes it.</param>
    /// <param name="Why">Why the agent stopped.</param>
    public sealed record Release(string Description, string Why) : JobEnd;

    /// <summary>Another agent took the launch job over (this one missed its lease): nothing is written, the other agent owns its end.</summary>
    public sealed record Lost : JobEnd;
}
