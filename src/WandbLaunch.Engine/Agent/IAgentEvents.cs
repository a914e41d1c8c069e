namespace WandbLaunch.Engine.Agent;

/// <summary>
/// Where an agent reports. Called from the agent's worker threads: implementations must be thread-safe and must
/// not block (the cmdlets queue events and write them on the pipeline thread).
/// </summary>
public interface IAgentEvents
{
    void Report(AgentEvent agentEvent);
}
