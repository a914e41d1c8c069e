using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Jobs;

/// <summary>The agent no longer holds the job: its lease expired and another agent took it, or it was stopped.</summary>
public sealed class JobLeaseLostException(string jobId)
    : LaunchException("JobLeaseLost", LaunchErrorCategory.InvalidOperation,
        $"Job {jobId} is no longer held by this agent (its lease expired and another agent took it, or it was stopped).", jobId);
