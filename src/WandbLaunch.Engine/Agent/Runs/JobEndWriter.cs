using WandbLaunch.Engine.Code;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Agent.Runs;

/// <summary>
/// The one place a launch job's end is written to the backend — its outcome (state, reason, stage), its return to the
/// queue, or its release to the next agent — for the launch jobs the agent runs and the orphans it cannot re-attach.
/// It writes the job's log line, the store record, removes the run's work folder, counts it for the end summary
/// and reports it, in that order; what it stores and reports never carries a secret.
/// </summary>
internal sealed class JobEndWriter(AgentContext agent)
{
    /// <param name="job">The launch job.</param>
    /// <param name="end">How it ends.</param>
    /// <param name="log">Its log, when the agent has it open.</param>
    /// <param name="retry">
    /// Retry the write while the store is busy or full (for a launch job the agent runs). An orphan's end is not
    /// retried here: the agent's loop backs off and claims it again.
    /// </param>
    /// <param name="cancellationToken">Cancels an orphan's write (a running launch job's end is always written).</param>
    public async Task WriteAsync(LaunchJob job, JobEnd end, JobLog? log, bool retry = true, CancellationToken cancellationToken = default)
    {
        var id = agent.Id!;
        var backend = agent.Backend;
        switch (end)
        {
            case JobEnd.Finish finish:
            {
                // Whatever message a runner or an exception built: no secret, no raw control characters (lines are kept).
                var secrets = agent.SecretsOf(job);
                var outcome = finish.Outcome with
                {
                    Message = Printed(secrets.RedactOrNull(finish.Outcome.Message)),
                    ErrorLog = Printed(secrets.RedactOrNull(finish.Outcome.ErrorLog)),
                };
                log?.Agent(Describe(outcome));
                await Write(() => backend.FinishAsync(job.Id, id, outcome, cancellationToken)).ConfigureAwait(false);
                RemoveRunDirectory(job, log);
                if (outcome.State == LaunchJobState.Finished) agent.CountFinished();
                else agent.CountFailed();
                AgentContext.Verbose($"wrote the end of {job.Id}: {outcome.State}" + (outcome.Stage is { } stage ? $" (stage {stage})" : ""));
                agent.Report(finish.Event is null && outcome.State == LaunchJobState.Failed ? AgentEventKind.Warning : AgentEventKind.Job,
                    $"{job.Id} [{job.Queue}] {finish.Event ?? Describe(outcome)}", job.Id, job.Queue);
                break;
            }
            case JobEnd.Requeue requeue:
            {
                var reason = Printed(agent.SecretsOf(job).Redact(requeue.Reason))!;
                log?.Agent(reason);
                await Write(() => backend.RequeueAsync(job.Id, id, reason, cancellationToken)).ConfigureAwait(false);
                RemoveRunDirectory(job, log);
                AgentContext.Verbose($"put {job.Id} back on queue {job.Queue}");
                agent.Report(requeue.Kind, $"{job.Id} [{job.Queue}] {requeue.Event}", job.Id, job.Queue);
                break;
            }
            case JobEnd.Release release:
            {
                log?.Agent($"agent {id} stopped following the job, because {release.Why}; {release.Description} keeps running, and the next agent serving queue {job.Queue} re-attaches to it");
                await Write(() => backend.ReleaseAsync(job.Id, id, cancellationToken)).ConfigureAwait(false);
                RemoveRunDirectory(job, log);
                agent.CountLeft();
                AgentContext.Verbose($"released {job.Id}: it keeps running ({release.Description})");
                agent.Report(AgentEventKind.Job, $"{job.Id} [{job.Queue}] left running ({release.Description}) for the next agent", job.Id, job.Queue);
                break;
            }
            case JobEnd.Lost:
                AgentContext.Verbose($"{job.Id} was taken over by another agent; its end is that agent's to write");
                break;
        }

        Task Write(Func<Task> write) => retry ? agent.Persist(write) : write();
    }

    private void RemoveRunDirectory(LaunchJob job, JobLog? log) =>
        CodeDirectory.RemoveRunDirectory(agent.Options.WorkDirectory, job.RunId, log is null ? _ => { } : log.Agent);

    public static string Describe(JobOutcome outcome) => outcome.State switch
    {
        LaunchJobState.Finished => "finished" + (outcome.ExitCode is { } c ? $" (exit code {c})" : ""),
        LaunchJobState.Failed => $"failed ({outcome.Stage}): {FirstLine(outcome.Message)}",
        LaunchJobState.Stopped => "stopped: " + outcome.Message,
        _ => outcome.State.ToString().ToLowerInvariant(),
    };

    private static string FirstLine(string? text) => text?.Split('\n')[0] ?? "";

    public static string? Printed(string? message) => message is null ? null : Text.Printable.EscapeControls(message, keepTab: true, keepNewlines: true);
}
