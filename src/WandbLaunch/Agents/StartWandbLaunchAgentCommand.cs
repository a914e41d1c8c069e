using System.Management.Automation;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Agents;

/// <summary>
/// <para type="synopsis">Starts a launch agent that takes jobs from queues and runs them (W&amp;B's `wandb launch-agent`).</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "WandbLaunchAgent", SupportsShouldProcess = true)]
[OutputType(typeof(LaunchAgentJob))]
public sealed class StartWandbLaunchAgentCommand : WandbLaunchCmdlet
{
    /// <summary>Queues to poll (W&amp;B's -q); replaces the config file's queues.</summary>
    [Parameter(Position = 0)]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string[]? Queue { get; set; }

    /// <summary>Most jobs at once; -1 is unlimited (W&amp;B's -j). Overrides max_jobs and WANDB_LAUNCH_MAX_JOBS.</summary>
    [Parameter]
    [ValidateRange(-1, int.MaxValue)]
    public int MaxJobs { get; set; }

    /// <summary>The entity that owns the queues (W&amp;B's -e). Overrides entity and WANDB_ENTITY.</summary>
    [Parameter]
    public string? Entity { get; set; }

    /// <summary>The agent config file (W&amp;B's -c). Default: ~/.config/wandb/launch-config.yaml, if it exists.</summary>
    [Parameter]
    [Alias("Config")]
    public string? ConfigPath { get; set; }

    /// <summary>A name for the agent. Default: host name and process id.</summary>
    [Parameter]
    public string? Name { get; set; }

    /// <summary>
    /// Longest wait in seconds between queue checks when idle (default 5). New jobs in the local store wake the
    /// agent at once, so this only bounds how late it notices what writes nothing (a dead agent's lease running out).
    /// On a W&amp;B server it has no effect: the agent polls at W&amp;B's cadence there (every 10 s when idle, as W&amp;B's
    /// agent does, and from every 0.5 s right after work), so that it sends no more requests than W&amp;B's own.
    /// </summary>
    [Parameter]
    [ValidateRange(0.01, 3600)]
    public double PollingInterval { get; set; } = 5;

    /// <summary>
    /// Read every running SageMaker training job and Vertex AI CustomJob every this many seconds, as W&amp;B's agent reads
    /// every job each 10 s (-CloudJobPollingInterval 10 gives W&amp;B's cadence). Without it each job is read 5 s after it
    /// starts or changes, then less often up to every 30 s while nothing changes: about a third of the requests.
    /// </summary>
    [Parameter]
    [ValidateRange(1, 3600)]
    public double CloudJobPollingInterval { get; set; }

    /// <summary>
    /// User name and password for the registry in builder.destination. Without it the agent uses the Docker config
    /// file (~/.docker/config.json: auths, credsStore, credHelpers), as docker does.
    /// </summary>
    [Parameter]
    [Credential]
    public PSCredential? RegistryCredential { get; set; }

    /// <summary>
    /// When the agent stops (Ctrl+C, Stop-Job, Stop-WandbLaunchAgent), jobs running in a container keep running too (jobs
    /// on Kubernetes, SageMaker and Vertex AI always do, unless -StopJobsOnExit) and are left to the next agent serving
    /// their queue, which re-attaches to them (as when an agent is restarted or upgraded); jobs that have not started
    /// yet go back on their queue; local-process jobs, which cannot run without the agent, are stopped.
    /// </summary>
    [Parameter]
    public SwitchParameter LeaveJobsRunning { get; set; }

    /// <summary>
    /// When the agent stops, stop the jobs on Kubernetes, SageMaker and Vertex AI too. By default they keep running and
    /// the next agent re-attaches to them, as W&amp;B's agent leaves its jobs when it exits.
    /// </summary>
    [Parameter]
    public SwitchParameter StopJobsOnExit { get; set; }

    /// <summary>Runs the agent as a PowerShell background job (Get-Job, Receive-Job, Stop-Job, Remove-Job work on it).</summary>
    [Parameter]
    public SwitchParameter AsJob { get; set; }

    /// <inheritdoc />
    private protected override void EndProcessingCore()
    {
        var backend = Backend;
        var (agent, options) = RunOrTerminate(() =>
        {
            var config = AgentConfigResolver.Resolve(
                ConfigPath is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(ConfigPath),
                Environment.GetEnvironmentVariable,
                new AgentConfigResolver.Overrides
                {
                    Queues = Queue,
                    Entity = Entity,
                    MaxJobs = IsBound(nameof(MaxJobs)) ? MaxJobs : null,
                });
            var credential = RegistryCredential is null
                ? null
                : new Engine.Registries.RegistryCredential(RegistryCredential.UserName, RegistryCredential.GetNetworkCredential().Password) { Source = "-RegistryCredential" };
            var opts = AgentFactory.Options(config, Name, PollingInterval, backend, credential, LeaveJobsRunning, DiagnosticsLevel(config.Verbosity), StopJobsOnExit,
                IsBound(nameof(CloudJobPollingInterval)) ? TimeSpan.FromSeconds(CloudJobPollingInterval) : null);
            var maxRecords = AsJob ? LaunchAgentJob.MaxRecordsFrom(opts.Environment) : LaunchAgentJob.DefaultMaxRecords;
            var events = new AgentEventQueue();
            var launchAgent = new LaunchAgent(backend, opts, events);
            // Everything is checked before the agent registers, so a bad invocation fails here, not in the background.
            Await(launchAgent.ResolveQueuesAsync(StopToken));
            return (launchAgent, (Options: opts, Events: events, MaxRecords: maxRecords));
        });
        // Once, at start, as W&B's agent warns while it reads its config (agent/config.py).
        foreach (var warning in options.Options.Config.Warnings.Where(w => w.Severity == ConfigIssueSeverity.Warning)) WriteWarning(warning.ToString());
        var target = $"agent {options.Options.Name} for {string.Join(", ", options.Options.Config.Queues)} in {backend.Location}";
        if (!ShouldProcess(target, "Start launch agent"))
        {
            options.Events.Dispose();
            return;
        }
        if (AsJob)
        {
            var job = new LaunchAgentJob(MyInvocation.Line, options.Options.Name, agent, options.Events)
            {
                MaxRecords = options.MaxRecords,
            };
            JobManager.NewJob(new JobInvocationInfo(new JobDefinition(typeof(LaunchAgentJobSourceAdapter), MyInvocation.Line, options.Options.Name),
                new Dictionary<string, object> { ["NewJob"] = job }));
            job.StartJob();
            WriteObject(job);
            return;
        }
        RunInForeground(agent, options.Events);
    }

    /// <summary>Diagnostics shown by the host rather than the verbose/debug streams, whose preference would hide them: asked for by the config's verbosity only.</summary>
    private bool _diagnosticsFromConfig;

    /// <summary>
    /// How much the agent reports: -Debug or -Verbose when given (-Verbose:$false turns it off), else W&amp;B's
    /// <c>verbosity</c> in launch-config.yaml (1 verbose, 2 debug), else the session's $VerbosePreference / $DebugPreference.
    /// </summary>
    private Engine.Diagnostics.DiagnosticLevel? DiagnosticsLevel(int verbosity)
    {
        var bound = MyInvocation.BoundParameters;
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

        bool Wants(string preference) => GetVariableValue(preference) is ActionPreference p && p is not (ActionPreference.SilentlyContinue or ActionPreference.Ignore);
    }

    private void RunInForeground(LaunchAgent agent, AgentEventQueue events)
    {
        using var _ = events;
        // SIGTERM, SIGHUP and SIGINT stop the agent as Ctrl+C does (see TerminationSignals).
        using var signals = TerminationSignals.Subscribe(agent, interrupt: true);
        var run = Task.Run(async () =>
        {
            try
            {
                await agent.RunAsync(StopToken).ConfigureAwait(false);
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
            ThrowTerminatingError(LaunchErrors.ToRecord(e));
        }
        ExitOnSignal(signals);
        if (agent.Stopped is { IsFailure: true } stopped)
        {
            ThrowTerminatingError(LaunchErrors.ToRecord(stopped.ToException(agent.Id)));
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
        AgentEventRecords.Route(e, WriteWarning, WriteError, WriteProgress, status =>
            // Tagged PSHOST so it shows like Write-Host in a terminal, yet stays capturable with 6>.
            WriteInformation(new InformationRecord(new HostInformationMessage { Message = status.ToString() }, "WandbLaunchAgent") { Tags = { "PSHOST", "WandbLaunchAgent", status.Kind.ToString() } }),
            message =>
            {
                if (_diagnosticsFromConfig) Host.UI.WriteVerboseLine(message);
                else WriteVerbose(message);
            },
            message =>
            {
                if (_diagnosticsFromConfig) Host.UI.WriteDebugLine(message);
                else WriteDebug(message);
            });
}
