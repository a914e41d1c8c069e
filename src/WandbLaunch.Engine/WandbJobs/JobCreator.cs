using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.FileSystem;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.WandbJobs;

/// <summary>
/// Creates W&amp;B jobs as <c>wandb job create git|code|image</c> does (W&amp;B: <c>sdk/launch/create_job.py</c>,
/// <c>sdk/internal/job_builder.py</c>): the same names, defaults, <c>wandb-job.json</c>, files, aliases and
/// <c>{"_partial": true}</c> metadata, written through the backend's artifact store, so it works on any backend
/// that keeps artifacts. Everything is checked (and a git source fetched) before anything is stored.
/// </summary>
public sealed partial class JobCreator
{
    public const string JobType = "job";

    public const string CodeType = "code";

    public const string DefaultEntryPoint = "main.py";

    /// <summary>The top-level entries of a code directory W&amp;B leaves out of the code artifact.</summary>
    public static readonly IReadOnlyList<string> CodeExcludedPaths = ["wandb", ".git"];

    private const int MaxArtifactNameLength = 128;

    private readonly ILaunchBackend _backend;
    private readonly Func<string, string?> _environment;
    private readonly JobCodeLimits _limits;

    public JobCreator(ILaunchBackend backend, Func<string, string?>? environment = null, JobCodeLimits? limits = null)
    {
        _backend = backend;
        _environment = environment ?? Environment.GetEnvironmentVariable;
        _limits = limits ?? JobCodeLimits.Default;
    }

    [GeneratedRegex(@"[^a-zA-Z0-9_\-.]")]
    private static partial Regex UnsafeArtifactChars();

    [GeneratedRegex(@"^3\.\d+$")]
    private static partial Regex MinorPython3();

    [GeneratedRegex(@"^[a-zA-Z0-9_\-.]+$")]
    private static partial Regex ImageTagLike();

    [GeneratedRegex(@"^v\d+$")]
    private static partial Regex VersionAlias();

    /// <summary>
    /// W&amp;B's <c>make_artifact_name_safe</c>: characters outside <c>A-Za-z0-9_-.</c> become '_', and a name longer
    /// than 128 characters keeps its first 63 and last 63 with <c>..</c> between.
    /// </summary>
    public static string MakeArtifactNameSafe(string name)
    {
        var cleaned = UnsafeArtifactChars().Replace(name, "_");
        return cleaned.Length <= MaxArtifactNameLength ? cleaned : cleaned[..63] + ".." + cleaned[^63..];
    }

    /// <summary>W&amp;B's code artifact name: <c>code-&lt;name&gt;</c>, else <c>code-&lt;safe(dir/entry file)&gt;</c> with './' and the outer '/' dropped.</summary>
    public static string CodeArtifactName(string directoryAsGiven, string entryFile, string? name)
    {
        if (name is not null) return MakeArtifactNameSafe("code-" + name);
        // os.path.join: an absolute second part replaces the first.
        var joined = entryFile.StartsWith('/') ? entryFile : directoryAsGiven.EndsWith('/') ? directoryAsGiven + entryFile : directoryAsGiven + "/" + entryFile;
        var clean = joined.Replace("./", "", StringComparison.Ordinal);
        if (clean.StartsWith('/')) clean = clean[1..];
        if (clean.EndsWith('/')) clean = clean[..^1];
        return "code-" + MakeArtifactNameSafe(clean);
    }

    /// <summary>W&amp;B's job name for a code job: the code artifact's name with every "code" replaced by "job" (W&amp;B's own str.replace).</summary>
    public static string CodeJobName(string codeArtifactName) => codeArtifactName.Replace("code", "job", StringComparison.Ordinal);

    /// <summary>W&amp;B's job name for a git job made by <c>wandb job create</c>: <c>job-&lt;remote&gt;_</c> (such a job has no program path).</summary>
    public static string GitJobName(string remote) => MakeArtifactNameSafe($"job-{remote}_");

    /// <summary>W&amp;B's job name for an image job, and the alias it takes from the image's tag (null when the tag does not look like one).</summary>
    public static (string Name, string? TagAlias) ImageJobName(string image)
    {
        var raw = image;
        string? alias = null;
        if (image.Contains(':'))
        {
            var tag = image.Split(':')[^1];
            if (ImageTagLike().IsMatch(tag))
            {
                raw = raw.Replace($":{tag}", "", StringComparison.Ordinal);
                alias = tag;
            }
        }
        return (MakeArtifactNameSafe($"job-{raw}"), alias);
    }

    /// <summary>W&amp;B's cleaning of a Python version: the micro part dropped (<c>3.10.4</c> → <c>3.10</c>).</summary>
    public static string CleanPythonVersion(string version)
    {
        var parts = version.Split('.');
        return parts.Length > 2 ? string.Join('.', parts.Take(2)) : version;
    }

    /// <summary>Creates (or finds unchanged) the job the request describes.</summary>
    public async Task<JobCreateResult> CreateAsync(JobCreateRequest request, CancellationToken cancellationToken)
    {
        var warnings = new List<string>();
        var (entity, project) = new JobArtifactQuery(_backend, _environment).Scope(request.Entity, request.Project);
        if (request.Name is { } name) CheckName(name);
        if (request.Runtime is { } runtime && !MinorPython3().IsMatch(runtime))
        {
            throw LaunchException.Invalid("InvalidJobRuntime",
                $"Runtime (-Runtime) must be a minor version of Python 3, e.g. 3.10 or 3.11, received {Printable.Quote(runtime)}.", runtime);
        }
        var aliases = new List<string>();
        foreach (var alias in request.Aliases)
        {
            CheckAlias(alias);
            if (!aliases.Contains(alias)) aliases.Add(alias);
        }
        if (request.BuildContext is { } context) SpecNames.RelativePath(context, "-BuildContext", "InvalidBuildContext");
        if (request.Dockerfile is { } dockerfile) SpecNames.RelativePath(dockerfile, "-Dockerfile", "InvalidDockerfilePath");
        if (request.BaseImage is { } baseImage)
        {
            if (request.Source == JobCreateSource.Image)
            {
                throw LaunchException.Invalid("BaseImageForImageJob", "Cannot provide -BaseImage (W&B's --base-image/-B) for an image job.", baseImage);
            }
            CheckImage(baseImage, "-BaseImage");
        }
        if (request.Description is { } description && (description.Length > 4096 || description.Contains('\0')))
        {
            throw LaunchException.Invalid("InvalidJobDescription", "A job description has at most 4096 characters and no NUL character.", description);
        }

        IReadOnlyList<string>? entryPoint = null;
        if (request.Source != JobCreateSource.Image)
        {
            entryPoint = EntryPointOf(request, warnings);
        }
        else
        {
            if (request.Runtime is not null) warnings.Add("Setting runtime is not supported for image jobs, ignoring runtime.");
            if (request.EntryPoint is not null) warnings.Add("Setting an entrypoint is not currently supported for image jobs, ignoring entrypoint argument.");
        }

        var scratch = Directory.CreateTempSubdirectory("wandb-job-").FullName;
        try
        {
            JobDefinition definition;
            string jobName;
            string requirements = "";
            ArtifactVersion? code = null;
            var version = request.BuildContext is not null || request.Dockerfile is not null ? JobDefinition.VersionWithBuildFields : JobDefinition.DefaultVersion;
            switch (request.Source)
            {
                case JobCreateSource.Code:
                {
                    var files = CodeFiles(request.Path, warnings);
                    requirements = Requirements(request.Path, warnings);
                    var entryFile = entryPoint![^1];
                    var codeName = CodeArtifactName(request.PathAsGiven ?? request.Path, entryFile, request.Name);
                    jobName = request.Name ?? CodeJobName(codeName);
                    CheckName(jobName);
                    var codeCommit = await _backend.Artifacts.CommitAsync(new NewArtifact
                    {
                        Entity = entity,
                        Project = project,
                        Name = codeName,
                        Type = CodeType,
                        Files = files,
                        Description = "Code artifact for job",
                        Metadata = new JsonObject { ["codePath"] = request.PathAsGiven ?? request.Path, ["entrypoint"] = entryFile },
                    }, cancellationToken).ConfigureAwait(false);
                    code = codeCommit.Version;
                    definition = new JobDefinition
                    {
                        Version = version,
                        SourceType = JobSourceType.Artifact,
                        CodeArtifact = $"wandb-artifact://_id/{code.Id}",
                        EntryPoint = entryPoint,
                        Runtime = request.Runtime ?? NoRuntime(warnings, "code"),
                    };
                    break;
                }
                case JobCreateSource.Git:
                {
                    if (entryPoint!.Any(e => e.Contains("..", StringComparison.Ordinal)))
                    {
                        throw LaunchException.Invalid("InvalidEntryPoint", "Entrypoint cannot contain backward path traversal ('..').", string.Join(' ', entryPoint!));
                    }
                    var local = JobGitSource.Check(request.Path, Code.GitCheckout.AllowsLocal(_environment));
                    var fetched = await JobGitSource.FetchAsync(request.Path, request.GitHash, local, cancellationToken).ConfigureAwait(false);
                    warnings.AddRange(fetched.Warnings);
                    jobName = request.Name ?? GitJobName(request.Path);
                    CheckName(jobName);
                    definition = new JobDefinition
                    {
                        Version = version,
                        SourceType = JobSourceType.Repo,
                        GitRemote = request.Path,
                        GitCommit = fetched.Commit,
                        EntryPoint = entryPoint,
                        Runtime = request.Runtime ?? GitRuntime(fetched, warnings),
                    };
                    break;
                }
                default:
                {
                    CheckImage(request.Path, "-Image");
                    var (imageJobName, tagAlias) = ImageJobName(request.Path);
                    jobName = request.Name ?? imageJobName;
                    CheckName(jobName);
                    if (tagAlias is not null && !aliases.Contains(tagAlias))
                    {
                        if (IsAliasUsable(tagAlias)) aliases.Add(tagAlias);
                        else warnings.Add($"The image's tag {Printable.Quote(tagAlias)} is not given as an alias: an alias is 1 to 128 of letters, digits, '-', '_' and '.', starting with a letter or digit, and not of the form v<number>.");
                    }
                    definition = new JobDefinition
                    {
                        Version = version,
                        SourceType = JobSourceType.Image,
                        Image = request.Path,
                        // W&B writes the runtime it was given (or "") although it says it ignores it.
                        Runtime = request.Runtime ?? "",
                    };
                    break;
                }
            }
            definition = definition with
            {
                BuildContext = request.BuildContext,
                Dockerfile = request.Dockerfile,
                BaseImage = request.BaseImage,
                InputTypes = EmptyTypedDict(),
                OutputTypes = EmptyTypedDict(),
            };
            var jobFile = Path.Join(scratch, JobDefinition.FileName);
            var requirementsFile = Path.Join(scratch, JobDefinition.FrozenRequirementsFileName);
            await File.WriteAllTextAsync(jobFile, definition.ToJson(), new UTF8Encoding(false), cancellationToken).ConfigureAwait(false);
            await File.WriteAllTextAsync(requirementsFile, requirements, new UTF8Encoding(false), cancellationToken).ConfigureAwait(false);
            var commit = await _backend.Artifacts.CommitAsync(new NewArtifact
            {
                Entity = entity,
                Project = project,
                Name = jobName,
                Type = JobType,
                Files = new Dictionary<string, string>
                {
                    [JobDefinition.FileName] = jobFile,
                    [JobDefinition.FrozenRequirementsFileName] = requirementsFile,
                },
                Aliases = aliases.Where(a => a != ArtifactPath.Latest).ToList(),
                Description = request.Description,
                Metadata = new JsonObject { ["_partial"] = true },
            }, cancellationToken).ConfigureAwait(false);
            if (!aliases.Contains(ArtifactPath.Latest)) aliases.Add(ArtifactPath.Latest);
            return new JobCreateResult(commit.Version, commit.Kind, definition, aliases, code, warnings);
        }
        finally
        {
            try
            {
                Directory.Delete(scratch, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static IReadOnlyList<string> EntryPointOf(JobCreateRequest request, List<string> warnings)
    {
        IReadOnlyList<string> entryPoint;
        if (request.EntryPoint is null || request.EntryPoint.Count == 0)
        {
            warnings.Add($"No entrypoint provided for {(request.Source == JobCreateSource.Git ? "git" : "code")} job, defaulting to {DefaultEntryPoint}.");
            entryPoint = [DefaultEntryPoint];
        }
        else
        {
            // W&B takes one string and splits it on spaces.
            entryPoint = request.EntryPoint.Count == 1 ? request.EntryPoint[0].Split(' ') : request.EntryPoint;
        }
        if (entryPoint.Any(e => e.Length == 0 || e.Contains('\0')) || entryPoint.Count > 1024 || entryPoint.Sum(e => e.Length) > 65536)
        {
            throw LaunchException.Invalid("InvalidEntryPoint",
                $"The entry point {Printable.Quote(string.Join(' ', entryPoint))} has an empty part (two spaces in a row) or a NUL character, or is too long; give it as one string ('python train.py') or as its words.", string.Join(' ', entryPoint));
        }
        if (entryPoint.Count == 1 && entryPoint[0].EndsWith(".py", StringComparison.Ordinal))
        {
            warnings.Add($"Entrypoint {entryPoint[0]} is a python file without an executable, you may want to use `python {entryPoint[0]}` as the entrypoint instead.");
        }
        return entryPoint;
    }

    /// <summary>
    /// The files of a code directory, path in the artifact → file on the host. The top-level <c>wandb</c> and
    /// <c>.git</c> are left out (W&amp;B). Links are never followed out of the directory: a link to a file inside it
    /// is uploaded with that file's content (W&amp;B uploads what a link points at); a link to a directory (W&amp;B
    /// does not descend into those either), or one that leads outside the directory or nowhere, is left out with a
    /// warning.
    /// </summary>
    private Dictionary<string, string> CodeFiles(string directory, List<string> warnings)
    {
        if (!Path.IsPathFullyQualified(directory))
        {
            throw LaunchException.Invalid("InvalidCodeDirectory", $"The code directory {Printable.Quote(directory)} is not a full path.", directory);
        }
        if (!Directory.Exists(directory))
        {
            throw LaunchException.NotFound("CodeDirectoryNotFound", $"The code directory {Printable.Quote(directory)} does not exist or is not a directory.", directory);
        }
        var root = ContainedPath.Resolve(directory);
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        long bytes = 0;
        var skipped = new List<string>();
        try
        {
            foreach (var entry in CodeEntries(root))
            {
                AddCodeFile(entry);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LaunchException("CodeDirectoryUnreadable", LaunchErrorCategory.ReadError, $"The code directory {Printable.Quote(directory)} cannot be read: {e.Message}", directory, e);
        }
        if (skipped.Count > 0)
        {
            warnings.Add($"Left out of the code artifact: {string.Join(", ", skipped.Take(20))}{(skipped.Count > 20 ? $" and {skipped.Count - 20} more" : "")}.");
        }
        return files;

        void AddCodeFile(DirectoryWalk.Entry entry)
        {
            string source;
            switch (entry.Kind)
            {
                case DirectoryWalk.EntryKind.Directory:
                    return;
                case DirectoryWalk.EntryKind.SymbolicLink:
                    string target;
                    try
                    {
                        target = ContainedPath.Resolve(entry.FullPath);
                    }
                    catch (LaunchException)
                    {
                        skipped.Add($"{Printable.Escape(entry.RelativePath)} (a link loop)");
                        return;
                    }
                    if (!ContainedPath.IsInside(root, target, allowRoot: false))
                    {
                        skipped.Add($"{Printable.Escape(entry.RelativePath)} (a link out of the directory)");
                        return;
                    }
                    if (Directory.Exists(target))
                    {
                        skipped.Add($"{Printable.Escape(entry.RelativePath)} (a link to a directory)");
                        return;
                    }
                    if (!File.Exists(target))
                    {
                        skipped.Add($"{Printable.Escape(entry.RelativePath)} (a link to nothing)");
                        return;
                    }
                    source = target;
                    break;
                default:
                    source = entry.FullPath;
                    break;
            }
            try
            {
                ArtifactManifestJson.CheckPath(entry.RelativePath, directory);
            }
            catch (LaunchException)
            {
                skipped.Add($"{Printable.Escape(entry.RelativePath)} (a name an artifact cannot hold)");
                return;
            }
            bytes += new FileInfo(source).Length;
            files[entry.RelativePath] = source;
            if (files.Count > _limits.MaxFiles || bytes > _limits.MaxBytes)
            {
                throw new LaunchException("CodeDirectoryTooLarge", LaunchErrorCategory.InvalidArgument,
                    $"The code directory {Printable.Quote(directory)} has more than {_limits.MaxFiles} files or {_limits.MaxBytes} bytes (without wandb/ and .git/), the most a code job uploads. Give a directory with only the job's code.",
                    directory);
            }
        }
    }

    /// <summary>The entries of a code directory without its top-level <c>wandb</c> and <c>.git</c>, which are not walked at all; links are reported, never entered.</summary>
    private static IEnumerable<DirectoryWalk.Entry> CodeEntries(string root)
    {
        var children = new DirectoryInfo(root).EnumerateFileSystemInfos("*", new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = false })
            .Where(c => !CodeExcludedPaths.Contains(c.Name))
            .OrderBy(c => c.Name, StringComparer.Ordinal)
            .ToList();
        foreach (var child in children)
        {
            if (child.Attributes.HasFlag(FileAttributes.ReparsePoint) && child.LinkTarget is { } target)
            {
                yield return new DirectoryWalk.Entry(child.FullName, child.Name, DirectoryWalk.EntryKind.SymbolicLink, target);
            }
            else if (child is DirectoryInfo)
            {
                foreach (var entry in DirectoryWalk.Enumerate(child.FullName)) yield return entry with { RelativePath = child.Name + "/" + entry.RelativePath };
            }
            else
            {
                yield return new DirectoryWalk.Entry(child.FullName, child.Name, DirectoryWalk.EntryKind.File, null);
            }
        }
    }


    /// <summary>The directory's requirements.txt as W&amp;B reads it for requirements.frozen.txt: its lines joined with '\n'.</summary>
    private static string Requirements(string directory, List<string> warnings)
    {
        var path = Path.Join(directory, "requirements.txt");
        var lines = new List<string>();
        if (File.Exists(path) && ContainedPath.IsInside(ContainedPath.Resolve(directory), ContainedPath.Resolve(path), allowRoot: false))
        {
            var text = File.ReadAllText(path);
            lines.AddRange(text.Split('\n').Select(l => l.TrimEnd('\r')));
            if (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        }
        if (!lines.Any(l => l.Contains("wandb", StringComparison.Ordinal))) warnings.Add("wandb is not present in requirements.txt.");
        return string.Join('\n', lines);
    }

    private static string? GitRuntime(JobGitSource.Fetched fetched, List<string> warnings)
    {
        string? raw = null;
        string? file = null;
        if (fetched.RuntimeTxt is { } runtime)
        {
            raw = runtime.Trim();
            file = "runtime.txt";
        }
        else if (fetched.PythonVersionFile is { } pythonVersion)
        {
            raw = pythonVersion.Trim().Split('\n').FirstOrDefault()?.Trim() ?? "";
            file = ".python-version";
        }
        if (raw is null) return NoRuntime(warnings, "git");
        var cleaned = CleanPythonVersion(raw);
        if (!MinorPython3().IsMatch(cleaned))
        {
            throw LaunchException.InvalidData("InvalidJobRuntime",
                $"The repository's {file} gives the Python version {Printable.Quote(raw)}; a job's runtime is 3.N (a micro version is dropped). Give -Runtime 3.N.", raw);
        }
        return cleaned;
    }

    // W&B falls back to the Python that runs its CLI; there is none here, so the job has no runtime and an agent
    // builds on its own default Python.
    private static string? NoRuntime(List<string> warnings, string kind)
    {
        warnings.Add($"No Python version for the {kind} job (-Runtime not given{(kind == "git" ? ", no runtime.txt or .python-version in the repository" : "")}): the job has no runtime, so an agent builds it with its default Python.");
        return null;
    }

    private static void CheckName(string name)
    {
        var safe = MakeArtifactNameSafe(name);
        if (name != safe)
        {
            throw LaunchException.Invalid("InvalidJobArtifactName",
                $"Artifact names may only contain alphanumeric characters, dashes, underscores, and dots (at most 128 characters). Did you mean: {safe}", name);
        }
        if (name.Length == 0 || !char.IsAsciiLetterOrDigit(name[0]))
        {
            throw LaunchException.Invalid("InvalidJobArtifactName",
                $"The job name {Printable.Quote(name)} must start with a letter or digit, so that entity/project/name:alias can name it.", name);
        }
    }

    private static bool IsAliasUsable(string alias) =>
        alias.Length is > 0 and <= MaxArtifactNameLength && char.IsAsciiLetterOrDigit(alias[0]) && MakeArtifactNameSafe(alias) == alias && !VersionAlias().IsMatch(alias);

    private static void CheckAlias(string alias)
    {
        if (!IsAliasUsable(alias))
        {
            throw LaunchException.Invalid("InvalidJobAlias",
                $"The alias {Printable.Quote(alias)} is refused: an alias is 1 to 128 of letters, digits, '-', '_' and '.', starting with a letter or digit (so that entity/project/name:alias can name it), and not of the form v<number>, which names a version.", alias);
        }
    }

    private static void CheckImage(string image, string field)
    {
        if (image.Length is 0 or > 1024 || image.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)) || image.StartsWith('-'))
        {
            throw LaunchException.Invalid("InvalidImageName",
                $"{field} {Printable.Quote(image)} is not an image name: 1 to 1024 characters, no space or control character, not starting with '-'.", image);
        }
    }

    private static JsonObject EmptyTypedDict() => new() { ["wb_type"] = "typedDict", ["params"] = new JsonObject { ["type_map"] = new JsonObject() } };

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
