namespace WandbLaunch.Engine.Storage;

/// <summary>W&amp;B's agent statuses.</summary>
public static class AgentStatus
{
    public const string Polling = "POLLING";
    public const string Running = "RUNNING";
    public const string Killed = "KILLED";
}
