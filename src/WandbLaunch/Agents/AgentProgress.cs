using System.Management.Automation;
using WandbLaunch.Engine.Agent;

namespace WandbLaunch.Agents;

/// <summary>Build and push progress as PowerShell progress records, one bar per job.</summary>
internal static class AgentProgress
{
    public static ProgressRecord Record(AgentEvent e)
    {
        var record = new ProgressRecord(Math.Abs((e.JobId ?? "").GetHashCode() % 100000) + 1, e.Activity ?? "Launch job", string.IsNullOrEmpty(e.Message) ? "working" : e.Message)
        {
            PercentComplete = Math.Clamp(e.Percent, -1, 100),
            CurrentOperation = e.JobId,
        };
        if (e.Percent >= 100) record.RecordType = ProgressRecordType.Completed;
        return record;
    }
}
