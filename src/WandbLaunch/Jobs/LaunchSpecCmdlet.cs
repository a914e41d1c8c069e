using System.Collections;
using System.Management.Automation;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Services;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.Jobs;

/// <summary>
/// The parameters that describe a launch request (W&amp;B's `wandb launch` flags), shared by Submit-WandbLaunchJob,
/// Get-WandbLaunchJobManifest (through <see cref="QueuedLaunchSpecCmdlet"/>) and Invoke-WandbLaunchJob, bound into <see cref="SubmitOptions"/> (paths resolved, PowerShell values converted);
/// <see cref="JobSubmission"/> turns them into a launch spec.
/// </summary>
public abstract class LaunchSpecCmdlet : WandbLaunchCmdlet
{
    private protected const string UriSet = "Uri";
    private protected const string DockerImageSet = "DockerImage";
    private protected const string SpecSet = "Spec";
    private protected const string JobSet = "Job";

    /// <summary>The code to run: a git URL (https://, ssh://, git@host:path) or a local directory (W&amp;B's -u).</summary>
    [Parameter(Mandatory = true, ParameterSetName = UriSet)]
    [ValidateNotNullOrEmpty]
    public string? Uri { get; set; }

    /// <summary>The git branch, tag or commit to check out (W&amp;B's -g).</summary>
    [Parameter(ParameterSetName = UriSet)]
    [Alias("Version")]
    public string? GitVersion { get; set; }

    /// <summary>
    /// The command to run: its words (-EntryPoint python, train.py), or one command line split into words as W&amp;B's
    /// -E splits it (-EntryPoint 'python train.py --lr 0.1'; quote a word holding blanks inside it).
    /// </summary>
    [Parameter(ParameterSetName = UriSet)]
    [Parameter(ParameterSetName = DockerImageSet)]
    [Parameter(ParameterSetName = JobSet)]
    public string[]? EntryPoint { get; set; }

    /// <summary>
    /// A W&amp;B job to run: entity/project/name[:alias or vN], latest when no alias (W&amp;B's -j; spec 'job'). It must
    /// exist (New-WandbLaunchJobArtifact, Get-WandbLaunchJobArtifact).
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = JobSet)]
    [ValidateNotNullOrEmpty]
    public string? Job { get; set; }

    /// <summary>The Dockerfile to build with, relative to the build context (W&amp;B's -D; overrides.dockerfile).</summary>
    [Parameter]
    public string? Dockerfile { get; set; }

    /// <summary>With -Uri: the build context below the code (W&amp;B's --build-context).</summary>
    [Parameter(ParameterSetName = UriSet)]
    public string? BuildContext { get; set; }

    /// <summary>
    /// With -Uri, on a W&amp;B server: the image the job's code runs in, without a build (W&amp;B's -B/--base-image, stored in
    /// the job made from -Uri). The local store keeps -Uri as a uri spec and refuses it (UriJobNotSupported).
    /// </summary>
    [Parameter(ParameterSetName = UriSet)]
    public string? BaseImage { get; set; }

    /// <summary>With -Uri, on a W&amp;B server: the name of the job made from -Uri (W&amp;B's -J/--job-name).</summary>
    [Parameter(ParameterSetName = UriSet)]
    public string? JobName { get; set; }

    /// <summary>A prebuilt image to run (W&amp;B's -d).</summary>
    [Parameter(Mandatory = true, ParameterSetName = DockerImageSet)]
    [ValidateNotNullOrEmpty]
    public string? DockerImage { get; set; }

    /// <summary>A whole launch spec: JSON or YAML text, a file path, or a hashtable (W&amp;B's -c). Other parameters override its keys.</summary>
    [Parameter(Mandatory = true, ParameterSetName = SpecSet)]
    [ValidateNotNull]
    public object? Spec { get; set; }

    /// <summary>Arguments appended to the entry point (overrides.args), passed as-is, never through a shell.</summary>
    [Parameter]
    [Alias("Args")]
    public string[]? Arguments { get; set; }

    /// <summary>The run config (overrides.run_config), given to the job as WANDB_CONFIG.</summary>
    [Parameter]
    public IDictionary? RunConfig { get; set; }

    /// <summary>Resource arguments for the queue's resource, merged over the queue's configuration (W&amp;B's -R).</summary>
    [Parameter]
    public object? ResourceArgs { get; set; }

    /// <summary>The run name (W&amp;B's --name).</summary>
    [Parameter]
    public string? Name { get; set; }

    /// <summary>The entity of the run, and of the queue when there is one and -Queue is a name (W&amp;B's -e).</summary>
    [Parameter]
    public string? Entity { get; set; }

    /// <summary>The project the run logs to (W&amp;B's -p).</summary>
    [Parameter]
    public string? Project { get; set; }

    /// <summary>The launch request the parameters describe, for <see cref="JobSubmission"/>.</summary>
    private protected virtual SubmitOptions Options()
    {
        var specFile = ParameterSetName == SpecSet ? SpecFile() : null;
        return new SubmitOptions
        {
            Spec = ParameterSetName == SpecSet && specFile is null ? PowerShellValues.ToDocument(Spec, "InvalidLaunchSpec") : null,
            SpecFile = specFile,
            Uri = Uri is null || Uri.Contains("://") || Uri.Contains('@') ? Uri : SessionState.Path.GetUnresolvedProviderPathFromPSPath(Uri),
            GitVersion = GitVersion,
            DockerImage = DockerImage,
            Job = Job,
            Dockerfile = Dockerfile,
            BuildContext = BuildContext,
            BaseImage = BaseImage,
            JobName = JobName,
            EntryPoint = EntryPoint,
            Arguments = Arguments,
            RunConfig = RunConfig is null ? null : PowerShellValues.ToJson(RunConfig, "InvalidRunConfig"),
            ResourceArgs = ResourceArgs is null ? null : PowerShellValues.ToDocument(ResourceArgs, "InvalidResourceArgs"),
            Name = Name,
            Entity = Entity,
            Project = Project,
        };
    }

    /// <summary>The file -Spec names, when it is a one-line text naming an existing file rather than a document.</summary>
    private string? SpecFile()
    {
        var value = Spec is PSObject pso && pso.BaseObject is string s ? s : Spec;
        if (value is not string text || text.TrimStart().StartsWith('{') || text.Contains('\n')) return null;
        var path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(text);
        return File.Exists(path) ? path : null;
    }
}
