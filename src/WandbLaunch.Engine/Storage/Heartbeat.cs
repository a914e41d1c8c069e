namespace WandbLaunch.Engine.Storage;

/// <summary>What the store tells an agent when it renews its leases.</summary>
/// <param name="StopRequested">The agent's stop flag is set.</param>
/// <param name="JobsToStop">Items the agent holds that a user asked to stop.</param>
/// <param name="HeldJobs">Every item the store says the agent holds; anything else the agent runs was taken from it.</param>
/// <param name="LeaveJobsRunning">The stop request asks the agent to leave the jobs that can run without it.</param>
public sealed record Heartbeat(bool StopRequested, IReadOnlyList<string> JobsToStop, IReadOnlyList<string> HeldJobs, bool LeaveJobsRunning = false);
