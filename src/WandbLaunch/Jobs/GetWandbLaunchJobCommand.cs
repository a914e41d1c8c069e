using System.Management.Automation;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Services;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Jobs;

/// <summary>
/// <para type="synopsis">Gets launch jobs (queue items) with their state, priority, attempts, agent, run id, times and failure.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "WandbLaunchJob", DefaultParameterSetName = QueueSet)]
[OutputType(typeof(LaunchJob))]
public sealed class GetWandbLaunchJobCommand : WandbLaunchCmdlet
{
    private const string QueueSet = "Queue";
    private const string IdSet = "Id";
    private const string JobSet = "Job";

    /// <summary>Only jobs on these queues. Queues from Get-WandbLaunchQueue bind by name.</summary>
    [Parameter(Position = 0, ParameterSetName = QueueSet, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string[]? Queue { get; set; }

    /// <summary>The entity of the queues. Default: WANDB_ENTITY, else the local user name.</summary>
    [Parameter(ParameterSetName = QueueSet, ValueFromPipelineByPropertyName = true)]
    public string? Entity { get; set; }

    /// <summary>
    /// The project of the queues. Default: model-registry. wandblaunch-direct selects the queue-less launches of
    /// Invoke-WandbLaunchJob (without -Queue, all of them); on a W&amp;B server connection those are recorded in the local store.
    /// </summary>
    [Parameter(ParameterSetName = QueueSet, ValueFromPipelineByPropertyName = true)]
    public string? Project { get; set; }

    /// <summary>Job ids. Jobs from the pipeline bind by their Id property (to refresh them).</summary>
    [Parameter(Mandatory = true, ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [Alias("JobId")]
    public string[] Id { get; set; } = [];

    /// <summary>
    /// Jobs from the pipeline, read again by id. Binding them by value keeps PowerShell from choosing the (default)
    /// -Queue set through their Queue property, which would list every job of their queue instead.
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = JobSet, ValueFromPipeline = true, DontShow = true)]
    public LaunchJob[] InputObject { get; set; } = [];

    /// <summary>Only jobs in these states: Pending, Leased, Starting, Running, Finished, Failed, Stopped, Preempted.</summary>
    [Parameter]
    public LaunchJobState[]? State { get; set; }

    /// <summary>Only the newest N jobs (per queue when -Queue is given).</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int Newest { get; set; }

    /// <inheritdoc />
    private protected override void ProcessRecordCore()
    {
        TryRun(() =>
        {
            int? limit = IsBound(nameof(Newest)) ? Newest : null;
            var lookup = new JobLookup(Backend, LaunchSession.DirectLaunches);
            if (ParameterSetName is IdSet or JobSet)
            {
                var ids = ParameterSetName == JobSet ? InputObject.Select(j => j.Id).ToArray() : Id;
                var found = Await(lookup.GetJobsAsync(new JobQuery { Ids = ids, States = State, Limit = limit }, directOnly: false, StopToken));
                foreach (var missing in ids.Where(id => found.All(j => j.Id != id) && State is null))
                {
                    WriteError(LaunchErrors.ToRecord(Engine.Errors.LaunchException.NotFound("JobNotFound",
                        $"There is no job with id '{missing}'. Get-WandbLaunchJob lists the jobs.", missing)));
                }
                WriteObject(found, enumerateCollection: true);
                return;
            }
            var direct = DirectQueues.IsDirect(Project);
            if (Queue is null || Queue.Length == 0)
            {
                WriteObject(Await(lookup.GetJobsAsync(new JobQuery { States = State, Limit = limit }, direct, StopToken)), enumerateCollection: true);
                return;
            }
            foreach (var name in Queue)
            {
                var key = new QueueKey(Entity ?? Backend.DefaultEntity, Project ?? LaunchDefaults.Project, name);
                TryRun(() => WriteObject(Await(lookup.GetJobsAsync(new JobQuery { Queue = key, States = State, Limit = limit }, direct, StopToken)), enumerateCollection: true));
            }
        });
    }
}
