using System.Management.Automation;
using WandbLaunch.Engine.WandbJobs;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.JobArtifacts;

/// <summary>
/// <para type="synopsis">Creates a W&amp;B job (an artifact of type job) from a local directory, a git repository or an image (W&amp;B's `wandb job create`).</para>
/// </summary>
[Cmdlet(VerbsCommon.New, "WandbLaunchJobArtifact", SupportsShouldProcess = true, DefaultParameterSetName = CodeSet)]
[OutputType(typeof(WandbJobArtifact))]
public sealed class NewWandbLaunchJobArtifactCommand : WandbLaunchCmdlet
{
    private const string CodeSet = "Code";
    private const string GitSet = "Git";
    private const string ImageSet = "Image";

    /// <summary>A local directory: uploaded (without its top-level wandb/ and .git/) as a code artifact the job points at (W&amp;B's `code PATH`).</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = CodeSet)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>A git repository: an https://, ssh:// or user@host:path remote, fetched for the commit the job pins (W&amp;B's `git PATH`).</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = GitSet)]
    [ValidateNotNullOrEmpty]
    public string GitUri { get; set; } = "";

    /// <summary>A container image the job runs as it is (W&amp;B's `image PATH`); its tag becomes an alias.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ImageSet)]
    [ValidateNotNullOrEmpty]
    public string Image { get; set; } = "";

    /// <summary>The entity (W&amp;B's -e); default: WANDB_ENTITY, else the connection's default entity.</summary>
    [Parameter]
    [Alias("e")]
    public string? Entity { get; set; }

    /// <summary>The project (W&amp;B's -p); default: WANDB_PROJECT. One of the two is required.</summary>
    [Parameter]
    [Alias("p")]
    public string? Project { get; set; }

    /// <summary>The job's name (W&amp;B's -n): letters, digits, '-', '_' and '.'. Default: W&amp;B's name from the source (job-&lt;directory&gt;_&lt;entry file&gt;, job-&lt;remote&gt;_, job-&lt;image&gt;).</summary>
    [Parameter]
    [Alias("n")]
    public string? Name { get; set; }

    /// <summary>The job's description (W&amp;B's -d).</summary>
    [Parameter]
    [Alias("d")]
    public string? Description { get; set; }

    /// <summary>Aliases for the new version besides latest (W&amp;B's -a).</summary>
    [Parameter]
    [Alias("a")]
    public string[]? Alias { get; set; }

    /// <summary>The command the job runs (W&amp;B's -E): one string split on spaces ('python train.py'), or its words. Default: main.py, with a warning. Ignored, with a warning, for image jobs.</summary>
    [Parameter]
    public string[]? EntryPoint { get; set; }

    /// <summary>The branch, tag or commit of the git repository (W&amp;B's -g); default: main, else master.</summary>
    [Parameter(ParameterSetName = GitSet)]
    [Alias("g")]
    public string? GitHash { get; set; }

    /// <summary>The Python version, 3.N (W&amp;B's -r). Git jobs default to the repository's runtime.txt, then .python-version. Ignored, with a warning, for image jobs.</summary>
    [Parameter]
    [Alias("r")]
    public string? Runtime { get; set; }

    /// <summary>The build context below the job's code (W&amp;B's -b), stored in the job.</summary>
    [Parameter]
    [Alias("b")]
    public string? BuildContext { get; set; }

    /// <summary>An image the job's code runs in, without a build (W&amp;B's -B); refused for image jobs (BaseImageForImageJob).</summary>
    [Parameter]
    public string? BaseImage { get; set; }

    /// <summary>The Dockerfile, relative to the build context (W&amp;B's -D), stored in the job.</summary>
    [Parameter]
    public string? Dockerfile { get; set; }

    /// <inheritdoc />
    private protected override void ProcessRecordCore()
    {
        TryRun(() =>
        {
            var (source, path) = ParameterSetName switch
            {
                GitSet => (JobCreateSource.Git, GitUri),
                ImageSet => (JobCreateSource.Image, Image),
                _ => (JobCreateSource.Code, SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path)),
            };
            var request = new JobCreateRequest
            {
                Source = source,
                Path = path,
                PathAsGiven = source == JobCreateSource.Code ? Path : null,
                Entity = Entity,
                Project = Project,
                Name = Name,
                Description = Description,
                Aliases = Alias ?? [],
                EntryPoint = EntryPoint,
                GitHash = GitHash,
                Runtime = Runtime,
                BuildContext = BuildContext,
                BaseImage = BaseImage,
                Dockerfile = Dockerfile,
            };
            if (!ShouldProcess($"{ParameterSetName.ToLowerInvariant()} {path} in {Backend.Location}", "Create W&B job")) return;
            var result = Await(new JobCreator(Backend).CreateAsync(request, StopToken));
            foreach (var warning in result.Warnings) WriteWarning(warning);
            WriteVerbose(result.Message);
            WriteObject(new WandbJobArtifact(result.Job, result.Definition, null, result.Kind.ToString(), result.Code));
        });
    }
}
