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

    /// <summary>
    /// Leave a Kubernetes job's additional services (the spec's additional_services) on the cluster when the job ends,
    /// as W&amp;B's agent does. By default the agent deletes them, by their labels, when the job ends.
    /// </summary>
    [Parameter]
    public SwitchParameter KeepAdditionalServices { get; set; }

    /// <summary>Runs the agent as a PowerShell background job (Get-Job, Receive-Job, Stop-Job, Remove-Job work on it).</summary>
    [Parameter]
    public SwitchParameter AsJob { get; set; }

    private readonly AgentConsole _console;

    /// <summary>Creates the cmdlet (PowerShell does).</summary>
    public StartWandbLaunchAgentCommand() => _console = new AgentConsole(this, text => WriteVerbose(text));

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
            var opts = AgentFactory.Options(config, Name, PollingInterval, backend, AgentConsole.Credential(RegistryCredential), LeaveJobsRunning, _console.DiagnosticsLevel(config.Verbosity), StopJobsOnExit,
                KeepAdditionalServices, cloudJobPollingInterval: IsBound(nameof(CloudJobPollingInterval)) ? TimeSpan.FromSeconds(CloudJobPollingInterval) : null);
            var maxRecords = AsJob ? LaunchAgentJob.MaxRecordsFrom(opts.Environment) : LaunchAgentJob.DefaultMaxRecords;
            var events = new AgentEventQueue();
            var launchAgent = new LaunchAgent(backend, opts, events);
            // Everything is checked before the agent registers, so a bad invocation fails here, not in the background.
            Await(launchAgent.ResolveQueuesAsync(StopToken));
            return (launchAgent, (Options: opts, Events: events, MaxRecords: maxRecords));
        });
        _console.WriteConfigWarnings(options.Options.Config);
        var target = $"agent {options.Options.Name} for {string.Join(", ", options.Options.Config.Queues)} in {backend.Location}";
        if (!ShouldProcess(target, "Start launch agent"))
        {
            options.Events.Dispose();
            return;
        }
        if (AsJob)
        {
            _console.StartBackground(new LaunchAgentJob(MyInvocation.Line, options.Options.Name, agent, options.Events) { MaxRecords = options.MaxRecords });
            return;
        }
        _console.Run(agent, options.Events, StopToken);
    }
}
