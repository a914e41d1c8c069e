namespace WandbLaunch.Engine.Jobs;

/// <summary>
/// Where a queue item is in its life: Pending → Leased (an agent holds it) → Starting (acknowledged, building) →
/// Running → Finished, Failed or Stopped. Preempted items go back to Pending with the same run id.
/// </summary>
public enum LaunchJobState
{
    Pending,
    Leased,
    Starting,
    Running,
    Finished,
    Failed,
    Stopped,
    Preempted,
}
