namespace WandbLaunch.Engine.Jobs;

/// <summary>A warning recorded on a job (an unschedulable pod, an ignored setting).</summary>
public sealed record JobWarning(DateTimeOffset Time, string Stage, string Message)
{
    public override string ToString() => $"{Time:u} [{Stage}] {Message}";
}
