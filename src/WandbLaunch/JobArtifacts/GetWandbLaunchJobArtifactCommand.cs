using System.Management.Automation;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.WandbJobs;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.JobArtifacts;

/// <summary>
/// <para type="synopsis">Gets W&amp;B jobs (artifacts of type job): a project's jobs, one job's versions, or one version with its wandb-job.json (W&amp;B's `wandb job list` and `wandb job describe`).</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "WandbLaunchJobArtifact", DefaultParameterSetName = ListSet)]
[OutputType(typeof(WandbJobArtifact))]
public sealed class GetWandbLaunchJobArtifactCommand : WandbLaunchCmdlet
{
    private const string ListSet = "List";
    private const string PathSet = "Path";

    /// <summary>One job's name: lists its versions, newest first.</summary>
    [Parameter(Position = 0, ParameterSetName = ListSet, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(JobArtifactNameCompleter))]
    public string? Name { get; set; }

    /// <summary>Every version of every job, instead of each job's latest.</summary>
    [Parameter(ParameterSetName = ListSet)]
    public SwitchParameter All { get; set; }

    /// <summary>The entity (W&amp;B's -e); default: WANDB_ENTITY, else the connection's default entity.</summary>
    [Parameter(ParameterSetName = ListSet, ValueFromPipelineByPropertyName = true)]
    [Alias("e")]
    public string? Entity { get; set; }

    /// <summary>The project (W&amp;B's -p); default: WANDB_PROJECT.</summary>
    [Parameter(ParameterSetName = ListSet, ValueFromPipelineByPropertyName = true)]
    [Alias("p")]
    public string? Project { get; set; }

    /// <summary>One version to inspect, entity/project/name[:alias or vN] (latest when no alias): read with its wandb-job.json.</summary>
    [Parameter(Mandatory = true, ParameterSetName = PathSet)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <inheritdoc />
    private protected override void ProcessRecordCore()
    {
        TryRun(() =>
        {
            var query = new JobArtifactQuery(Backend);
            if (ParameterSetName == PathSet)
            {
                var details = Await(query.InspectAsync(ArtifactPath.Parse(Path, "-Path"), StopToken));
                WriteObject(new WandbJobArtifact(details.Version, details.Definition, details.Manifest, null, null));
                return;
            }
            var versions = Await(query.ListAsync(Entity, Project, Name, All, StopToken));
            if (Name is not null && versions.Count == 0)
            {
                var (entity, project) = query.Scope(Entity, Project);
                throw LaunchException.NotFound("ArtifactNotFound", $"The project {entity}/{project} has no job {Engine.Text.Printable.Quote(Name)}.", Name);
            }
            foreach (var version in versions) WriteObject(new WandbJobArtifact(version, null, null, null, null));
        });
    }
}
