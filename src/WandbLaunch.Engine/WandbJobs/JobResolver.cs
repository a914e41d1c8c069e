using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Code;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.FileSystem;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.WandbJobs;

/// <summary>
/// Resolves a spec's <c>job</c> as W&amp;B's agent does (<c>LaunchProject._fetch_job</c> and the public <c>Job</c>):
/// fetches the job artifact (type <c>job</c>) by alias or version, downloads it (digest-checked, cached), reads
/// <c>wandb-job.json</c>, prepares the code in <c>&lt;run directory&gt;/code</c> (a git fetch at the commit, or its
/// copy from the <see cref="GitRepositoryCache"/>, plus <c>diff.patch</c>; or the code artifact), copies <c>requirements.frozen.txt</c> in, and lowers the spec
/// (<see cref="ResolvedJob.Spec"/>). Every failure is a <see cref="JobFailedException"/> at stage agent, where
/// W&amp;B's agent reports a job it cannot fetch; what was written for the attempt is removed.
/// </summary>
public sealed class JobResolver
{
    public const string JobType = "job";

    public const string CodeType = "code";

    /// <summary>How a job names its code artifact by id (W&amp;B's <c>util.parse_artifact_string</c>).</summary>
    public const string ArtifactIdPrefix = "wandb-artifact://_id/";

    private const long MaxJobFileBytes = Documents.DocumentLimits.MaxCharacters;

    private readonly IArtifactStore _store;
    private readonly ArtifactFiles _files;
    private readonly bool _allowLocalGit;
    private readonly GitRepositoryCache? _repositories;

    /// <param name="store">Where the backend keeps artifacts.</param>
    /// <param name="files">The digest-checked download and its cache.</param>
    /// <param name="allowLocalGit">The agent's opt-in to local git remotes (<see cref="GitCheckout.AllowLocalVariable"/>).</param>
    /// <param name="repositories">The cache of repo jobs' checkouts; null fetches every time.</param>
    public JobResolver(IArtifactStore store, ArtifactFiles files, bool allowLocalGit, GitRepositoryCache? repositories = null)
    {
        _store = store;
        _files = files;
        _allowLocalGit = allowLocalGit;
        _repositories = repositories;
    }

    /// <summary>Resolves <paramref name="spec"/>'s job for run <paramref name="runId"/> below <paramref name="workDirectory"/>.</summary>
    public async Task<ResolvedJob> ResolveAsync(LaunchSpec spec, string workDirectory, string runId, string traceId, JobLog log, CancellationToken cancellationToken)
    {
        var name = spec.JobArtifactName ?? throw new JobFailedException(FailureStage.Agent, "The spec names no job.");
        var requested = Failing(() => ArtifactPath.Parse(name));
        log.Agent($"fetching job {requested}");
        var version = await FetchJobAsync(requested, cancellationToken).ConfigureAwait(false);
        string runDirectory = Failing(() => CodeDirectory.RunDirectory(workDirectory, runId));
        var jobDirectory = Failing(() => ContainedPath.Join(runDirectory, "job", "job directory"));
        var codeDirectory = Failing(() => CodeDirectory.CloneDirectory(workDirectory, runId));
        Remove(jobDirectory);
        Remove(codeDirectory);
        try
        {
            await DownloadAsync(version, jobDirectory, log, cancellationToken).ConfigureAwait(false);
            var definition = ReadDefinition(jobDirectory, requested.ToString());
            log.Agent($"job {version} ({version.Id}): source {JobDefinition.SourceTypeName(definition.SourceType)}");
            string? code = null;
            ArtifactVersion? codeArtifact = null;
            switch (definition.SourceType)
            {
                case JobSourceType.Repo:
                    code = codeDirectory;
                    if (_repositories is null)
                    {
                        await GitCheckout.FetchAsync(definition.GitRemote!, definition.GitCommit!, code, _allowLocalGit, traceId, log, cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        await _repositories.FetchAsync(definition.GitRemote!, definition.GitCommit!, code, _allowLocalGit, traceId, log, cancellationToken).ConfigureAwait(false);
                    }
                    var patch = Path.Combine(jobDirectory, JobDefinition.DiffFileName);
                    if (File.Exists(patch)) await GitCheckout.ApplyPatchAsync(patch, code, traceId, log, cancellationToken).ConfigureAwait(false);
                    CopyFrozenRequirements(jobDirectory, code);
                    break;
                case JobSourceType.Artifact:
                    code = codeDirectory;
                    codeArtifact = await FetchCodeAsync(definition.CodeArtifact!, requested, cancellationToken).ConfigureAwait(false);
                    log.Agent($"downloading code artifact {codeArtifact} ({codeArtifact.Id})");
                    // In W&B's order: the frozen requirements first, so that a code artifact's own copy wins.
                    PrivateFiles.EnsureDirectory(code, tightenExisting: false);
                    CopyFrozenRequirements(jobDirectory, code);
                    await DownloadAsync(codeArtifact, code, log, cancellationToken).ConfigureAwait(false);
                    break;
            }
            if (definition.Notebook && code is not null && definition.EntryPoint is { Count: > 0 } notebookEntry)
            {
                var notebook = Failing(() => ContainedPath.Join(code, notebookEntry[^1], "the notebook entry point"));
                var script = NotebookScript.Convert(notebook, requested.ToString());
                log.Agent($"converted the notebook {notebookEntry[^1]} to {Path.GetRelativePath(code, script)}");
                definition = definition with { EntryPoint = [.. notebookEntry.SkipLast(1), Path.GetRelativePath(code, script).Replace('\\', '/')] };
            }
            return new ResolvedJob
            {
                Requested = requested,
                Version = version,
                Definition = definition,
                CodeDirectory = code,
                CodeArtifact = codeArtifact,
                Spec = Lower(spec, definition, code),
            };
        }
        catch
        {
            Remove(codeDirectory);
            throw;
        }
        finally
        {
            Remove(jobDirectory);
        }
    }

    /// <summary>
    /// The spec as the rest of the pipeline runs it: the prepared code as <c>uri</c> (or the job's image as
    /// <c>docker.docker_image</c>), the entry point and args of the overrides else of the job, <c>python_version</c>
    /// = the job's runtime (as W&amp;B sets it), the job's <c>build_context</c>. <c>job</c> stays, for WANDB_ARTIFACTS.
    /// </summary>
    public static LaunchSpec Lower(LaunchSpec spec, JobDefinition definition, string? codeDirectory)
    {
        var lowered = spec.Clone();
        if (definition.SourceType == JobSourceType.Image)
        {
            lowered.DockerImage = definition.Image;
        }
        else
        {
            lowered.Uri = codeDirectory;
            lowered.GitVersion = null;
            if (definition.Runtime is { Length: > 0 } runtime) lowered.PythonVersion = runtime;
            if (definition.BuildContext is { Length: > 0 } context) lowered.BuildContext = context;
        }
        var overrides = lowered.Overrides;
        if (overrides.EntryPoint is not { Count: > 0 } && definition.EntryPoint is { Count: > 0 } entryPoint) overrides.EntryPoint = entryPoint;
        if (overrides.Args is not { Count: > 0 } && definition.Args is { Count: > 0 } args) overrides.Args = args;
        return lowered;
    }

    private async Task<ArtifactVersion> FetchJobAsync(ArtifactPath requested, CancellationToken cancellationToken)
    {
        ArtifactVersion version;
        try
        {
            version = await _store.GetAsync(requested, cancellationToken).ConfigureAwait(false);
        }
        catch (LaunchException e) when (!e.IsTransient)
        {
            throw new JobFailedException(FailureStage.Agent, $"Error accessing job {requested}: {e.Message}", e);
        }
        if (!string.Equals(version.Type, JobType, StringComparison.Ordinal))
        {
            throw new JobFailedException(FailureStage.Agent,
                $"The artifact {requested} ({version}) is of type '{version.Type}', not '{JobType}': a spec's job names a W&B job artifact.");
        }
        if (version.State == "DELETED") throw new JobFailedException(FailureStage.Agent, $"The job {requested} ({version}) was deleted.");
        return version;
    }

    /// <summary>The code artifact (W&amp;B's <c>Job._get_code_artifact</c>): by id, or by name in the job's project; type code, not deleted.</summary>
    /// <summary>The code artifact a job names (by <c>wandb-artifact://_id/&lt;id&gt;</c> or name), checked as when the job runs.</summary>
    public Task<ArtifactVersion> CodeArtifactAsync(string reference, ArtifactPath job, CancellationToken cancellationToken) =>
        FetchCodeAsync(reference, job, cancellationToken);

    private async Task<ArtifactVersion> FetchCodeAsync(string reference, ArtifactPath job, CancellationToken cancellationToken)
    {
        ArtifactVersion? code;
        try
        {
            if (reference.StartsWith(ArtifactIdPrefix, StringComparison.Ordinal))
            {
                var id = reference[ArtifactIdPrefix.Length..];
                code = id.Length == 0 ? null : await _store.GetByIdAsync(id, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var path = reference.Contains('/') ? reference : $"{job.Entity}/{job.Project}/{reference}";
                code = await _store.GetAsync(ArtifactPath.Parse(path, "source.artifact"), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (LaunchException e) when (!e.IsTransient)
        {
            throw new JobFailedException(FailureStage.Agent, $"The code artifact {reference} of job {job} cannot be fetched: {e.Message}", e);
        }
        if (code is null) throw new JobFailedException(FailureStage.Agent, $"No code artifact found: job {job} names {reference}, which does not exist.");
        if (code.State == "DELETED") throw new JobFailedException(FailureStage.Agent, $"Job {job} references deleted code artifact {code}.");
        if (!string.Equals(code.Type, CodeType, StringComparison.Ordinal))
        {
            throw new JobFailedException(FailureStage.Agent, $"Job {job} names {reference} as its code, but that artifact ({code}) is of type '{code.Type}', not '{CodeType}'.");
        }
        return code;
    }

    private async Task DownloadAsync(ArtifactVersion version, string directory, JobLog log, CancellationToken cancellationToken)
    {
        try
        {
            await _files.DownloadAsync(_store, version, directory, cancellationToken, note => log.Agent("warning: " + note)).ConfigureAwait(false);
        }
        catch (LaunchException e) when (!e.IsTransient)
        {
            throw new JobFailedException(FailureStage.Agent, e.Message, e);
        }
        catch (IOException e)
        {
            throw new JobFailedException(FailureStage.Agent, $"Cannot write the files of {version} to {directory}: {e.Message}", e);
        }
    }

    private static JobDefinition ReadDefinition(string jobDirectory, string job)
    {
        var path = Path.Combine(jobDirectory, JobDefinition.FileName);
        if (!File.Exists(path)) throw new JobFailedException(FailureStage.Agent, $"The job {job} has no {JobDefinition.FileName}, so it cannot be run.");
        if (new FileInfo(path).Length > MaxJobFileBytes)
        {
            throw new JobFailedException(FailureStage.Agent, $"The {JobDefinition.FileName} of job {job} is larger than {MaxJobFileBytes} bytes.");
        }
        return Failing(() => JobDefinition.Parse(File.ReadAllText(path), job));
    }

    /// <summary>W&amp;B copies the job's <c>requirements.frozen.txt</c> into the code (its generated Dockerfile installs it).</summary>
    private static void CopyFrozenRequirements(string jobDirectory, string codeDirectory)
    {
        var frozen = Path.Combine(jobDirectory, JobDefinition.FrozenRequirementsFileName);
        if (!File.Exists(frozen)) return;
        var target = Failing(() => ContainedPath.Join(codeDirectory, JobDefinition.FrozenRequirementsFileName, JobDefinition.FrozenRequirementsFileName));
        if (File.Exists(target) || new FileInfo(target).LinkTarget is not null) File.Delete(target);
        File.Copy(frozen, target);
    }

    private static T Failing<T>(Func<T> step)
    {
        try
        {
            return step();
        }
        catch (LaunchException e)
        {
            throw new JobFailedException(FailureStage.Agent, e.Message, e);
        }
    }

    private static void Remove(string directory)
    {
        try
        {
            DirectoryTree.Delete(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
