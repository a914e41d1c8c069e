using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.WandbJobs;

namespace WandbLaunch.Engine.Services;

/// <summary>
/// Submits launch requests to a queue (W&amp;B's <c>wandb launch -q</c>) and previews them: maps
/// <see cref="SubmitOptions"/> to a launch spec, checks it against the queue, and refuses a job the queue's runner
/// could never run (a docker image on local-process...) before anything is stored (JobCannotRun). Used by
/// Submit-WandbLaunchJob and Get-WandbLaunchJobManifest.
/// </summary>
public sealed class JobSubmission
{
    private readonly ILaunchBackend _backend;
    private readonly Func<string, string?> _environment;

    /// <param name="backend">Where the queue is and the job is stored.</param>
    /// <param name="environment">The environment a preview renders with (an agent here would see the same).</param>
    public JobSubmission(ILaunchBackend backend, Func<string, string?>? environment = null)
    {
        _backend = backend;
        _environment = environment ?? Environment.GetEnvironmentVariable;
    }

    /// <summary>Checks and stores a launch request: the pending job.</summary>
    public async Task<LaunchJob> SubmitAsync(SubmitOptions options, CancellationToken cancellationToken) =>
        await SubmitAsync(await CheckAsync(options, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Stores a request checked by <see cref="CheckAsync"/> or <see cref="PreviewAsync"/>: the pending job. On a
    /// backend that runs jobs rather than uris (<see cref="ILaunchBackend.SubmitUriAsJob"/>), a uri is made a W&amp;B
    /// job first (<see cref="CreatedJob"/>), and the spec pushed names that job's version instead of the uri, as
    /// <c>wandb launch -u</c> does.
    /// </summary>
    public async Task<LaunchJob> SubmitAsync(SubmissionPreview checkedRequest, CancellationToken cancellationToken)
    {
        var request = checkedRequest.Request;
        var create = checkedRequest.JobToCreate;
        if (checkedRequest.BuildFirst is { } build)
        {
            var spec = LaunchSpec.Parse(request.Spec.DeepClone());
            var logPath = build.BuildLogPath ?? Path.Combine(Path.GetTempPath(), $"wandblaunch-build-{Guid.NewGuid():N}.log");
            var image = await new UriImageBuild(_environment).BuildAsync(spec, checkedRequest.Queue, build.AgentConfigPath, logPath, cancellationToken).ConfigureAwait(false);
            BuiltImage = image;
            // W&B: run._log_job_artifact_with_image(image, override args).
            create = new JobCreateRequest { Source = JobCreateSource.Image, Path = image, Entity = spec.Entity, Project = spec.Project, Name = build.JobName };
        }
        if (create is not null)
        {
            var created = await new JobCreator(_backend, _environment).CreateAsync(create, cancellationToken).ConfigureAwait(false);
            CreatedJob = created;
            var spec = LaunchSpec.Parse(request.Spec.DeepClone());
            spec.Uri = null;
            spec.GitVersion = null;
            spec.BuildContext = null;
            if (checkedRequest.BuildFirst is not null) spec.Overrides.Dockerfile = null;
            spec.JobArtifactName = $"{created.Job.Entity}/{created.Job.Project}/{created.Job.Name}:{created.Job.Version}";
            request = new PushRequest { Spec = spec.ToJsonObject(), Priority = request.Priority, TemplateValues = request.TemplateValues };
        }
        return await _backend.PushAsync(checkedRequest.Key, request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The image the last <c>-Build</c> submit built (or found already built).</summary>
    public string? BuiltImage { get; private set; }

    /// <summary>The W&amp;B job the last <see cref="SubmitAsync(SubmissionPreview, CancellationToken)"/> created from a uri, if it did.</summary>
    public JobCreateResult? CreatedJob { get; private set; }

    /// <summary>
    /// Checks a launch request as a submit does, without storing it. The rendering (with default agent settings,
    /// without hashing local code for an image tag) only serves the check.
    /// </summary>
    public Task<SubmissionPreview> CheckAsync(SubmitOptions options, CancellationToken cancellationToken) =>
        RenderAsync(options, new LaunchAgentConfig(), predictImage: false, cancellationToken);

    /// <summary>
    /// Checks a launch request and renders exactly what an agent with the agent config at <paramref name="configPath"/>
    /// (default: ~/.config/wandb/launch-config.yaml, if it exists) would run, without storing or contacting anything.
    /// </summary>
    public Task<SubmissionPreview> PreviewAsync(SubmitOptions options, string? configPath, CancellationToken cancellationToken) =>
        RenderAsync(options, AgentConfigResolver.Resolve(configPath, _environment, new AgentConfigResolver.Overrides()), predictImage: true, cancellationToken);

    private async Task<SubmissionPreview> RenderAsync(SubmitOptions options, LaunchAgentConfig config, bool predictImage, CancellationToken cancellationToken)
    {
        var key = QueueOf(options);
        DirectQueues.RefuseReserved(key.Project, "submit a launch job to a queue");
        var queue = await _backend.GetQueueAsync(key, cancellationToken).ConfigureAwait(false) ?? throw QueueNotFoundException.For(key);
        return await RenderAsync(options, key, queue, config, predictImage, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Checks a launch request against a queue that need not be stored yet (a queue-less launch's own queue, made only
    /// once the request passed), rendering it with <paramref name="config"/>.
    /// </summary>
    internal Task<SubmissionPreview> CheckForQueueAsync(SubmitOptions options, QueueKey key, LaunchQueue queue, LaunchAgentConfig config, bool predictImage, CancellationToken cancellationToken) =>
        RenderAsync(options, key, queue, config, predictImage, cancellationToken);

    /// <summary>The <c>resource</c> key of the spec the options give (-Spec), if any: W&amp;B's direct launch runs there unless -r names one.</summary>
    internal static string? GivenResource(SubmitOptions options) =>
        GivenSpec(options) is JsonObject given ? LaunchSpec.Parse(given.DeepClone()).Resource : null;

    private async Task<SubmissionPreview> RenderAsync(SubmitOptions options, QueueKey key, LaunchQueue queue, LaunchAgentConfig config, bool predictImage, CancellationToken cancellationToken)
    {
        var built = BuildSpec(options, queue.Resource);
        // An empty author is W&B's `wandb launch`, which sets none (no WANDB_USERNAME for the job).
        built.Author = built.Author is null ? await _backend.DefaultAuthorAsync(cancellationToken).ConfigureAwait(false) : built.Author.Length == 0 ? null : built.Author;
        var request = new PushRequest
        {
            Spec = built.ToJsonObject(),
            Priority = options.Priority,
            TemplateValues = options.TemplateValues,
        };
        if (options.Job is { } jobName)
        {
            // W&B's CLI fetches the job after pushing; here a missing job or alias is refused before anything is stored.
            var version = await _backend.Artifacts.GetAsync(ArtifactPath.Parse(jobName, "-Job"), cancellationToken).ConfigureAwait(false);
            if (version.Type != JobCreator.JobType)
            {
                throw LaunchException.Invalid("NotAJobArtifact", $"The artifact {jobName} is of type '{version.Type}', not a job.", jobName);
            }
        }
        var job = JobPreview.ForPush(queue, request);
        // Rendering refuses (JobCannotRun) what the queue's runner could never run.
        // A preview shows a W&B job the agent would not build in its base image; the check for a submit reads no job.
        var wandbJob = predictImage ? await DescribeJobAsync(job.GetSpec(), cancellationToken).ConfigureAwait(false) : null;
        var rendered = JobPreview.Render(job, config, _environment, predictImage, wandbJob: wandbJob, backend: _backend);
        var spec = LaunchSpec.Parse(request.Spec.DeepClone());
        if (options.Build)
        {
            UriImageBuild.Check(spec, queue, options);
            // Where the image job will be made, checked before the build rather than after it.
            new JobArtifactQuery(_backend, _environment).Scope(spec.Entity, spec.Project);
            return new SubmissionPreview(key, queue, request, job, rendered, buildFirst: options);
        }
        return new SubmissionPreview(key, queue, request, job, rendered, JobToCreate(options, spec));
    }

    /// <summary>Placeholder for the code an agent prepares for a W&amp;B job, in a preview (nothing is fetched).</summary>
    public const string PreviewCodeDirectory = "<the job's code, prepared by the agent>";

    /// <summary>
    /// The spec's repo or artifact W&amp;B job as far as a preview needs it, without fetching its code: its version,
    /// <c>wandb-job.json</c> and code artifact, and the spec lowered as the agent lowers it; null for other specs.
    /// </summary>
    private async Task<ResolvedJob?> DescribeJobAsync(LaunchSpec spec, CancellationToken cancellationToken)
    {
        if (spec.JobArtifactName is not { } name) return null;
        var requested = ArtifactPath.Parse(name, "-Job");
        var details = await new JobArtifactQuery(_backend, _environment).InspectAsync(requested, cancellationToken).ConfigureAwait(false);
        var definition = details.Definition;
        if (definition.SourceType == JobSourceType.Image) return null;
        ArtifactVersion? codeArtifact = null;
        if (definition.SourceType == JobSourceType.Artifact)
        {
            var resolver = new JobResolver(_backend.Artifacts, ArtifactFiles.FromEnvironment(_environment), Code.GitCheckout.AllowsLocal(_environment));
            try
            {
                codeArtifact = await resolver.CodeArtifactAsync(definition.CodeArtifact!, requested, cancellationToken).ConfigureAwait(false);
            }
            catch (JobFailedException e)
            {
                throw new LaunchException("JobCannotRun", LaunchErrorCategory.InvalidOperation, $"An agent could not run this job (it would fail at stage {e.Stage}): {e.Message}", name);
            }
        }
        return new ResolvedJob
        {
            Requested = requested,
            Version = details.Version,
            Definition = definition,
            CodeDirectory = PreviewCodeDirectory,
            CodeArtifact = codeArtifact,
            Spec = JobResolver.Lower(spec, definition, PreviewCodeDirectory),
        };
    }

    /// <summary>The job <c>wandb launch -u</c> would create from the spec's uri, on a backend that runs jobs; null when the spec is pushed as it is.</summary>
    private JobCreateRequest? JobToCreate(SubmitOptions options, LaunchSpec spec)
    {
        if (spec.Uri is not { } uri)
        {
            if (options.BaseImage is not null || options.JobName is not null || options.BuildContext is not null)
            {
                throw LaunchException.Invalid("UriOptionWithoutUri", "-BaseImage, -BuildContext and -JobName describe the job made from -Uri; give -Uri, or create the job with New-WandbLaunchJobArtifact.");
            }
            return null;
        }
        if (!_backend.SubmitUriAsJob)
        {
            if (options.BaseImage is not null || options.JobName is not null)
            {
                throw new LaunchException("UriJobNotSupported", LaunchErrorCategory.InvalidOperation,
                    $"-BaseImage and -JobName describe the W&B job made from -Uri, but the backend at {_backend.Location} keeps -Uri as a uri spec (its agents run the code in place). " +
                    "Create the job with New-WandbLaunchJobArtifact (-BaseImage, -Name) and submit it with -Job.", _backend.Location);
            }
            return null;
        }
        var entryPoint = spec.Overrides.EntryPoint;
        if (entryPoint is not { Count: > 0 })
        {
            throw LaunchException.Invalid("UriNeedsEntryPoint", "Cannot provide a uri without an entry point. Please provide an entry point with -EntryPoint (W&B's -E): a W&B server runs the uri as a job, which needs one.", uri);
        }
        return new JobCreateRequest
        {
            Source = SourceUri.Classify(uri) == SourceUri.Kind.Git ? JobCreateSource.Git : JobCreateSource.Code,
            Path = uri,
            Entity = spec.Entity,
            Project = spec.Project,
            Name = options.JobName,
            EntryPoint = entryPoint,
            GitHash = spec.GitVersion,
            BuildContext = spec.BuildContext,
            BaseImage = options.BaseImage,
            Dockerfile = spec.Overrides.Dockerfile,
        };
    }

    private QueueKey QueueOf(SubmitOptions options)
    {
        if (options.Queue is { } key) return key;
        var name = options.QueueName ?? throw LaunchException.Invalid("InvalidQueueArgument", "A launch request needs a queue.");
        return new QueueKey(options.Entity ?? _backend.DefaultEntity, LaunchDefaults.Project, QueueNames.Validate(name));
    }

    /// <summary>The launch spec the options describe: the given spec, with every option given overriding its key.</summary>
    private LaunchSpec BuildSpec(SubmitOptions options, string resource)
    {
        var given = GivenSpec(options);
        var spec = given is null ? LaunchSpec.Empty() : LaunchSpec.Parse(given);
        if (options.Uri is { } uri)
        {
            if (SourceUri.Classify(uri) == SourceUri.Kind.LocalDirectory && !Directory.Exists(uri))
            {
                throw LaunchException.NotFound("SourceDirectoryNotFound", $"The directory '{uri}' does not exist.", uri);
            }
            spec.Uri = uri;
        }
        if (options.GitVersion is not null) spec.GitVersion = options.GitVersion;
        if (options.DockerImage is not null) spec.DockerImage = options.DockerImage;
        if (options.Job is not null)
        {
            ArtifactPath.Parse(options.Job, "-Job");
            spec.JobArtifactName = options.Job;
        }
        if (options.Dockerfile is not null) spec.Overrides.Dockerfile = options.Dockerfile;
        if (options.BuildContext is not null) spec.BuildContext = options.BuildContext;
        if (options.EntryPoint is not null) spec.Overrides.EntryPoint = EntryPointWords(options.EntryPoint);
        if (options.Arguments is not null) spec.Overrides.Args = options.Arguments;
        if (options.RunConfig is not null)
        {
            spec.Overrides.RunConfig = options.RunConfig as JsonObject
                ?? throw LaunchException.Invalid("InvalidLaunchSpec", $"The spec's overrides.run_config must be a mapping; it is {JsonTree.KindOf(options.RunConfig)} {JsonTree.Show(options.RunConfig)}.", "overrides.run_config");
        }
        if (options.ResourceArgs is not null)
        {
            var args = options.ResourceArgs.DeepClone() as JsonObject
                ?? throw LaunchException.Invalid("InvalidResourceArgs", "-ResourceArgs must be a mapping (JSON/YAML text or a hashtable).", options.ResourceArgs);
            if (args.Count > 0 && args.All(p => LaunchResource.All.Contains(p.Key) || p.Key == LaunchResource.VertexArgsKey)) spec.ResourceArgs = args;
            else spec.SetResourceArgs(resource, args);
        }
        if (options.Resource is not null) spec.Resource = options.Resource;
        if (options.Name is not null) spec.Name = options.Name;
        if (options.Entity is not null) spec.Entity = options.Entity;
        spec.Entity ??= _backend.DefaultEntity;
        if (options.Project is not null) spec.Project = options.Project;
        // W&B's set_project_entity_defaults (utils.py): -p, else the spec's, else the middle of a job path (get_project_from_job).
        // A job name that is not one is refused as such (InvalidJobName) when the spec is checked, not as a bad project.
        if (spec.Project is null && spec.JobArtifactName is { } job)
        {
            spec.Project = ArtifactPath.Parse(job, "job").Project;
        }
        else if (spec.Project is null && spec.Uri is { } specUri && JobGitSource.ProjectOf(specUri) is { } fromRepository)
        {
            spec.Project = fromRepository;
        }
        spec.Author ??= options.Author;
        return spec;
    }

    /// <summary>The whole spec -Spec gives (a document or a file), as a mapping; null when none is given.</summary>
    internal static JsonObject? GivenSpec(SubmitOptions options)
    {
        var given = options.SpecFile is { } file ? StructuredText.ParseFile(file, "InvalidLaunchSpec").Root ?? throw NotMapping() : options.Spec;
        return given switch
        {
            null => null,
            JsonObject mapping => mapping,
            _ => throw NotMapping(),
        };
    }

    private static LaunchException NotMapping() =>
        LaunchException.Invalid("InvalidLaunchSpec", "-Spec must be a launch spec mapping (JSON or YAML object, a file holding one, or a hashtable).", null);

    /// <summary>
    /// An entry point given as one string is a command line, split as W&amp;B's <c>wandb launch -E</c> splits it
    /// (<c>cli/cli.py</c>: <c>shlex.split(entry_point)</c>); two or more strings are the words themselves.
    /// </summary>
    internal static IReadOnlyList<string> EntryPointWords(IReadOnlyList<string> entryPoint)
    {
        if (entryPoint.Count != 1) return entryPoint;
        try
        {
            return Text.PosixShell.Split(entryPoint[0]);
        }
        catch (FormatException e)
        {
            throw LaunchException.Invalid("InvalidEntryPoint",
                $"The entry point '{entryPoint[0]}' cannot be split into words: {e.Message}. Give it as one command line with balanced quotes, or as its words (-EntryPoint python, train.py).",
                entryPoint[0]);
        }
    }
}
