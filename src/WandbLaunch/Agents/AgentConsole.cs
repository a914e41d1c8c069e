using System.Management.Automation;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Agents;

/// <summary>
/// An agent run in the foreground of a cmdlet (Start-WandbLaunchAgent, Invoke-WandbLaunchJob): how much it reports,
/// its events written to the cmdlet's streams as they come, Ctrl+C and termination signals.
/// </summary>
internal sealed class AgentConsole(PSCmdlet cmdlet, Action<string> writeVerbose)
{
    /// <summary>Diagnostics shown by the host rather than the verbose/debug streams, whose preference would hide them: asked for by the config's verbosity only.</summary>
    private bool _diagnosticsFromConfig;

    /// <summary>
    /// How much the agent reports: -Debug or -Verbose when given (-Verbose:$false turns it off), else W&amp;B's
    /// <c>verbosity</c> in launch-config.yaml (1 verbose, 2 debug), else the session's $VerbosePreference / $DebugPreference.
    /// </summary>
    public Engine.Diagnostics.DiagnosticLevel? DiagnosticsLevel(int verbosity)
    {
        var bound = cmdlet.MyInvocation.BoundParameters;
        Engine.Diagnostics.DiagnosticLevel? explicitLevel =
            bound.TryGetValue("Debug", out var debug) && ((SwitchParameter)debug).IsPresent ? Engine.Diagnostics.DiagnosticLevel.Debug
            : bound.TryGetValue("Verbose", out var verbose) && ((SwitchParameter)verbose).IsPresent ? Engine.Diagnostics.DiagnosticLevel.Verbose
            : null;
        var explicitOff = explicitLevel is null && bound.ContainsKey("Verbose");
        var level = AgentOptions.DiagnosticsFor(verbosity, explicitLevel, explicitOff);
        _diagnosticsFromConfig = explicitLevel is null && level is not null;
        if (level is null && !explicitOff)
        {
            level = Wants("DebugPreference") ? Engine.Diagnostics.DiagnosticLevel.Debug : Wants("VerbosePreference") ? Engine.Diagnostics.DiagnosticLevel.Verbose : null;
        }
        return level;

        bool Wants(string preference) => cmdlet.GetVariableValue(preference) is ActionPreference p && p is not (ActionPreference.SilentlyContinue or ActionPreference.Ignore);
    }

    /// <summary>Writes the config's warnings, once, as W&amp;B's agent warns while it reads its config (<c>agent/config.py</c>).</summary>
    public void WriteConfigWarnings(LaunchAgentConfig config)
    {
        foreach (var warning in config.Warnings.Where(w => w.Severity == ConfigIssueSeverity.Warning)) cmdlet.WriteWarning(warning.ToString());
    }

    /// <summary>-RegistryCredential as the engine takes it, or null.</summary>
    public static Engine.Registries.RegistryCredential? Credential(PSCredential? credential) => credential is null
        ? null
        : new Engine.Registries.RegistryCredential(credential.UserName, credential.GetNetworkCredential().Password) { Source = "-RegistryCredential" };

    /// <summary>Starts <paramref name="job"/> as a PowerShell background job (Get-Job, Receive-Job, Stop-Job) and writes it.</summary>
    public void StartBackground(LaunchAgentJob job)
    {
        cmdlet.JobManager.NewJob(new JobInvocationInfo(new JobDefinition(typeof(LaunchAgentJobSourceAdapter), cmdlet.MyInvocation.Line, job.Name),
            new Dictionary<string, object> { ["NewJob"] = job }));
        job.StartJob();
        cmdlet.WriteObject(job);
    }

    /// <summary>
    /// Runs the agent until it stops, writing its events on the pipeline thread. Ctrl+C (<paramref name="stopToken"/>)
    /// stops it cleanly (its jobs stopped or left as it decides) before the pipeline stops; an agent that stopped
    /// because something failed is a terminating error.
    /// </summary>
    public void Run(LaunchAgent agent, AgentEventQueue events, CancellationToken stopToken)
    {
        using var _ = events;
        // SIGTERM, SIGHUP and SIGINT stop the agent as Ctrl+C does (see TerminationSignals).
        using var signals = TerminationSignals.Subscribe(agent, interrupt: true);
        var run = Task.Run(async () =>
        {
            try
            {
                await agent.RunAsync(stopToken).ConfigureAwait(false);
            }
            finally
            {
                events.Complete();
            }
        });
        try
        {
            foreach (var e in events.Read(CancellationToken.None)) Write(e);
            run.GetAwaiter().GetResult();
        }
        catch (PipelineStoppedException)
        {
            // Ctrl+C: the agent was cancelled by StopProcessing; let it stop its jobs and deregister before returning.
            // (pwsh also stops the pipeline on SIGHUP, ending its session: the signal's exit code still applies.)
            run.Wait(TimeSpan.FromSeconds(60));
            ExitOnSignal(signals);
            throw;
        }
        catch (LaunchException e)
        {
            cmdlet.ThrowTerminatingError(LaunchErrors.ToRecord(e));
        }
        ExitOnSignal(signals);
        if (agent.Stopped is { IsFailure: true } stopped)
        {
            cmdlet.ThrowTerminatingError(LaunchErrors.ToRecord(stopped.ToException(agent.Id)));
        }
    }

    /// <summary>After SIGTERM or SIGHUP, once the agent has stopped and said so, the process ends as the signal's default action would have ended it.</summary>
    private static void ExitOnSignal(TerminationSignals.Subscription signals)
    {
        if (signals.ExitCode is not { } code) return;
        signals.Complete();
        Environment.Exit(code);
    }

    private void Write(AgentEvent e) =>
        AgentEventRecords.Route(e, cmdlet.WriteWarning, cmdlet.WriteError, cmdlet.WriteProgress, status =>
            // Tagged PSHOST so it shows like Write-Host in a terminal, yet stays capturable with 6>.
            cmdlet.WriteInformation(new InformationRecord(new HostInformationMessage { Message = status.ToString() }, "WandbLaunchAgent") { Tags = { "PSHOST", "WandbLaunchAgent", status.Kind.ToString() } }),
            message =>
            {
                if (_diagnosticsFromConfig) cmdlet.Host.UI.WriteVerboseLine(message);
                else writeVerbose(message);
            },
            message =>
            {
                if (_diagnosticsFromConfig) cmdlet.Host.UI.WriteDebugLine(message);
                else cmdlet.WriteDebug(message);
            });
}
