using System.Management.Automation;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Agents;

/// <summary>
/// An agent's events as PowerShell records, for the foreground command and the background job alike: warnings,
/// AgentError errors, one progress bar per job, verbose and debug records for diagnostics, and information records
/// for everything else; control characters in
/// them are escaped.
/// </summary>
internal static class AgentEventRecords
{
    /// <summary>Hands <paramref name="e"/>, as its record, to the sink for its kind.</summary>
    /// <param name="e">The event.</param>
    /// <param name="warning">Takes warnings.</param>
    /// <param name="error">Takes errors.</param>
    /// <param name="progress">Takes progress.</param>
    /// <param name="information">Takes status lines.</param>
    /// <param name="verbose">Takes what the agent and the engine under it do (-Verbose, verbosity 1).</param>
    /// <param name="debug">Takes every step (-Debug, verbosity 2).</param>
    public static void Route(AgentEvent e, Action<string> warning, Action<ErrorRecord> error, Action<ProgressRecord> progress, Action<AgentEvent> information,
        Action<string> verbose, Action<string> debug)
    {
        e = Printable(e);
        switch (e.Kind)
        {
            case AgentEventKind.Verbose:
                verbose(e.ToString());
                break;
            case AgentEventKind.Debug:
                debug(e.ToString());
                break;
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

    /// <summary>
    /// The event with control characters escaped (<c>\n</c>, <c>\e</c>, <c>\x00</c>...) in everything printed: job ids,
    /// queue names and messages carry values from specs and the store, which must not rewrite the terminal.
    /// </summary>
    public static AgentEvent Printable(AgentEvent e) => e with
    {
        Message = Engine.Text.Printable.EscapeControls(e.Message),
        JobId = e.JobId is null ? null : Engine.Text.Printable.EscapeControls(e.JobId),
        Queue = e.Queue is null ? null : Engine.Text.Printable.EscapeControls(e.Queue),
        Activity = e.Activity is null ? null : Engine.Text.Printable.EscapeControls(e.Activity),
    };

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
