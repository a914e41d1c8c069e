using WandbLaunch.Engine.Queues;

namespace WandbLaunch.Engine.Agent;

/// <summary>The one launch job a queue-less launch's agent runs (<see cref="AgentOptions.Direct"/>), and its queue.</summary>
public sealed record DirectJob(QueueKey Queue, string JobId);
