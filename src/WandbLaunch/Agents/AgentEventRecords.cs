using System.Management.Automation;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Agents;

/// <summary>
/// An agent's events as PowerShell records, for the foreground command and the background job alike: warnings,
/// AgentError errors, one progress bar per job, and information records for everything else.
/// </summary>
internal static class AgentEventRecords
{
    /// <summary>Hands <paramref name="e"/>, as its record, to the sink for its kind.</summary>
    /// <param name="e">The event.</param>
    /// <param name="warning">Takes warnings.</param>
    /// <param name="error">Takes errors.</param>
    /// <param name="progress">Takes progress.</param>
    /// <param name="information">Takes status lines.</param>
    public static void Route(AgentEvent e, Action<string> warning, Action<ErrorRecord> error, Action<ProgressRecord> progress, Action<AgentEvent> information)
    {
        switch (e.Kind)
        {
            case AgentEventKind.Warning:
                warning(e.ToString());
                break;
            case AgentEventKind.Error:
                error(LaunchErrors.Create("AgentError", ErrorCategory.NotSpecified, e.Message, e.JobId));
                break;
            case AgentEventKind.Progress:
                progress(Progress(e));
                break;
            default:
                information(e);
                break;
        }
    }

    /// <summary>Build and push progress: one bar per job.</summary>
    public static ProgressRecord Progress(AgentEvent e)
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
