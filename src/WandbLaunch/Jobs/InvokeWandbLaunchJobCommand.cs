using System.Management.Automation;
using WandbLaunch.Agents;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Services;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Jobs;

/// <summary>
/// <para type="synopsis">Runs a launch job at once on a resource, without a queue, and waits for it to end (W&amp;B's `wandb launch` without -q).</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "WandbLaunchJob", SupportsShouldProcess = true, DefaultParameterSetName = UriSet)]
[OutputType(typeof(LaunchJob), typeof(LaunchAgentJob))]
public sealed class InvokeWandbLaunchJobCommand : LaunchSpecCmdlet
{
    private readonly AgentConsole _console;

    /// <summary>Creates the cmdlet (PowerShell does).</summary>
    public InvokeWandbLaunchJobCommand() => _console = new AgentConsole(this, text => WriteVerbose(text));

    /// <summary>
    /// Where the job runs (W&amp;B's -r): local-container (the default, as in W&amp;B), local-process, kubernetes, sagemaker or
    /// gcp-vertex (vertex). Without it, the spec's resource key, else local-container.
    /// </summary>
    [Parameter]
    [ValidateSet(LaunchResource.LocalContainer, LaunchResource.LocalProcess, LaunchResource.Kubernetes, LaunchResource.SageMaker, LaunchResource.GcpVertex, LaunchResource.VertexArgsKey, IgnoreCase = true)]
    public string? Resource { get; set; }

    /// <summary>
    /// The launch config whose builder, registry and environment blocks apply, and whose settings the run uses as an
    /// agent's would (default: ~/.config/wandb/launch-config.yaml, if it exists; W&amp;B's direct launch reads that file too).
    /// W&amp;B's -c is the launch spec: here that is -Spec.
    /// </summary>
    [Parameter]
    public string? ConfigPath { get; set; }

    /// <summary>
    /// User name and password for the registry in builder.destination. Without it the Docker config file
    /// (~/.docker/config.json) is used, as by Start-WandbLaunchAgent.
    /// </summary>
    [Parameter]
    [Credential]
    public PSCredential? RegistryCredential { get; set; }

    /// <summary>
    /// Run as a PowerShell background job (W&amp;B's --async) and return it at once; Receive-Job gives the launch job
    /// when it has ended, Stop-Job stops it.
    /// </summary>
    [Parameter]
    public SwitchParameter AsJob { get; set; }

    /// <inheritdoc />
    private protected override void EndProcessingCore()
    {
        // On a W&B connection: recorded in the local store, while the run reports to the server (DirectLaunchBackend).
        var backend = LaunchSession.DirectLaunches;
        if (backend is DirectLaunchBackend direct)
        {
            WriteVerbose($"queue-less launch on the W&B server {direct.Server.Location}: recorded in the local store {direct.Location}; nothing is queued on the server, the run reports to it");
        }
        var launch = new DirectLaunch(backend);
        var whatIf = IsWhatIf;
        var (request, config) = RunOrTerminate(() =>
        {
            var options = Options();
            var config = DirectLaunch.AgentConfig(ConfigPath is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(ConfigPath), options,
                Environment.GetEnvironmentVariable);
            // Checked (and rendered) before anything is recorded, so a refused request leaves nothing behind.
            return (Await(launch.CheckAsync(options, Resource, config, whatIf, StopToken)), config);
        });
        _console.WriteConfigWarnings(config);
        if (!ShouldProcess($"{request.Queue.Resource} in {backend.Location}: {request.Job.Source}", "Run launch job without a queue"))
        {
            if (whatIf)
            {
                Host.UI.WriteLine($"What would run ({request.Rendered.Resource}): {request.Rendered.Summary}");
                Host.UI.WriteLine(request.Rendered.Text);
            }
            return;
        }
        var (job, agent, events, maxRecords) = RunOrTerminate(() =>
        {
            var recorded = Await(launch.RecordAsync(request, StopToken));
            var options = AgentFactory.Options(config, null, null, backend, AgentConsole.Credential(RegistryCredential), diagnostics: _console.DiagnosticsLevel(config.Verbosity), stopJobsOnExit: true,
                direct: DirectLaunch.AgentTarget(recorded));
            var queue = new AgentEventQueue();
            return (recorded, new LaunchAgent(backend, options, queue), queue, AsJob ? LaunchAgentJob.MaxRecordsFrom(options.Environment) : LaunchAgentJob.DefaultMaxRecords);
        });
        WriteVerbose($"recorded launch job {job.Id} (run id {job.RunId}) in {backend.Location}");
        if (AsJob)
        {
            var name = $"WandbLaunchJob {job.Id}";
            var jobId = job.Id;
            var background = new LaunchAgentJob(MyInvocation.Line, name, agent, events, "WandbLaunchJob")
            {
                MaxRecords = maxRecords,
                LaunchJobId = job.Id,
                Completion = async () =>
                {
                    var (ended, error) = await launch.EndAsync(jobId, CancellationToken.None).ConfigureAwait(false);
                    return (ended, error is null ? null : LaunchErrors.ToRecord(error));
                },
            };
            _console.StartBackground(background);
            return;
        }
        _console.Run(agent, events, StopToken);
        var (end, failure) = RunOrTerminate(() => Await(launch.EndAsync(job.Id, StopToken)));
        WriteObject(end);
        if (failure is not null) WriteError(LaunchErrors.ToRecord(failure));
    }
}
