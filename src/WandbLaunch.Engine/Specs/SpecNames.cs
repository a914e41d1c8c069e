using System.Globalization;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Specs;

/// <summary>
/// The rules for every spec value that becomes a path segment, a container or Kubernetes object name, a label or an
/// object-store key: checked at Submit, so nothing that could lead out of the agent's directories is ever stored.
/// (The agent checks the paths again when it joins them: a store written by an older version is not trusted.)
/// </summary>
public static class SpecNames
{
    /// <summary>
    /// Run ids (and sweep ids): W&amp;B makes 8 of [a-z0-9]; a user may set longer ones. Names and labels are made from
    /// a run id by <see cref="Identifiers.RunNames"/>, which bounds them whatever the id's length.
    /// </summary>
    public const int MaxRunIdLength = 64;

    public const int MaxEntityLength = 64;

    /// <summary>W&amp;B's own limit for project names.</summary>
    public const int MaxProjectLength = 128;

    public const int MaxRunNameLength = 128;

    /// <summary>Artifact (job) names and aliases, each part.</summary>
    public const int MaxArtifactPartLength = 128;

    public const int MaxRelativePathLength = 1024;

    /// <summary>Git's own limit for a ref name component is 255 bytes.</summary>
    public const int MaxGitVersionLength = 255;

    private const string ProjectForbidden = "/\\#?%:";

    /// <summary>Checks every name and relative path in a launch spec; throws the first refusal.</summary>
    public static void Check(LaunchSpec spec)
    {
        if (spec.RunId is { Length: > 0 } runId) RunId(runId, "run_id");
        if (spec.SweepId is { Length: > 0 } sweepId) RunId(sweepId, "sweep_id", "InvalidSweepId");
        if (spec.Entity is { Length: > 0 } entity) Entity(entity, "entity");
        if (spec.Project is { Length: > 0 } project) Project(project, "project");
        if (spec.Name is { Length: > 0 } name) RunName(name, "name");
        if (spec.Author is { Length: > 0 } author) RunName(author, "author", "InvalidAuthor");
        if (spec.JobArtifactName is { } job) JobName(job, "job");
        if (spec.BuildContext is { Length: > 0 } context) RelativePath(context, "build_context", "InvalidBuildContext");
        if (spec.GitVersion is { Length: > 0 } version) GitVersion(version, "git.version");
        if (spec.Overrides.WorkingDir is { Length: > 0 } workingDir) RelativePath(workingDir, "overrides.working_dir", "InvalidWorkingDir");
        if (spec.Overrides.Dockerfile is { Length: > 0 } dockerfile) RelativePath(dockerfile, "overrides.dockerfile", "InvalidDockerfilePath");
        if (spec.Overrides.Artifacts is { } artifacts)
        {
            foreach (var (artifact, _) in artifacts) ArtifactName(artifact, "overrides.artifacts");
        }
    }

    /// <summary>
    /// Checks a job read back from the store before the agent uses its names (a run directory, object names, label
    /// selectors, object-store keys): a store an older version wrote may hold anything.
    /// </summary>
    public static void CheckStored(string runId, LaunchSpec spec)
    {
        RunId(runId, "run_id");
        Check(spec);
    }

    /// <summary>
    /// A run id: 1–64 of ASCII letters, digits, '-' and '_', starting with a letter or digit (W&amp;B's own ids and the
    /// ids users give wandb.init; never '.', '/', '\' or a space, so never a path of its own). Where it becomes a name
    /// or a label, <see cref="Identifiers.RunNames.Of"/> gives its lowercase DNS-safe form.
    /// </summary>
    public static string RunId(string value, string field, string errorId = "InvalidRunId")
    {
        if (value.Length is 0 or > MaxRunIdLength || !char.IsAsciiLetterOrDigit(value[0]) || !value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            throw Refuse(errorId, field, value,
                $"an id has 1 to {MaxRunIdLength} characters: letters a-z and A-Z, digits, '-' and '_', starting with a letter or digit (W&B makes ids like 'a1b2c3d4')");
        }
        return value;
    }

    /// <summary>An entity (a W&amp;B user or team): 1–64 of letters, digits, '-', '_' and '.', starting with a letter or digit.</summary>
    public static string Entity(string value, string field)
    {
        if (value.Length is 0 or > MaxEntityLength || !char.IsAsciiLetterOrDigit(value[0]) || !value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            throw Refuse("InvalidEntityName", field, value,
                $"an entity has 1 to {MaxEntityLength} characters: letters, digits, '-', '_' and '.', starting with a letter or digit");
        }
        return value;
    }

    /// <summary>A project: W&amp;B's rule (1–128 characters, none of / \ # ? % :), and no control character, no leading or trailing space, not '.' or '..'.</summary>
    public static string Project(string value, string field)
    {
        if (!IsValidProject(value))
        {
            throw Refuse("InvalidProjectName", field, value,
                $"a project name has 1 to {MaxProjectLength} characters, none of {string.Join(' ', ProjectForbidden.ToCharArray())}, no control character, no leading or trailing space, and is not '.' or '..'");
        }
        return value;
    }

    public static bool IsValidProject(string value) =>
        value.Length is > 0 and <= MaxProjectLength && value.IndexOfAny(ProjectForbidden.ToCharArray()) < 0 && !value.Any(char.IsControl) &&
        value.Trim().Length == value.Length && value is not ("." or "..");

    /// <summary>A run's display name (or its author): 1–128 characters, no control character.</summary>
    public static string RunName(string value, string field, string errorId = "InvalidRunName")
    {
        if (value.Length is 0 or > MaxRunNameLength || value.Any(char.IsControl))
        {
            throw Refuse(errorId, field, value, $"a run name has 1 to {MaxRunNameLength} characters and no control character (newline, tab, escape, NUL)");
        }
        return value;
    }

    /// <summary>A job: <c>entity/project/name[:alias]</c>, the name and alias W&amp;B artifact names (letters, digits, '-', '_', '.').</summary>
    public static string JobName(string value, string field)
    {
        var parts = value.Split('/');
        var allowed = $"a job is named entity/project/name[:alias]: the entity and project as for runs, the name and alias 1 to {MaxArtifactPartLength} of letters, digits, '-', '_' and '.', starting with a letter or digit";
        if (parts.Length != 3) throw Refuse("InvalidJobName", field, value, allowed);
        var colon = parts[2].IndexOf(':');
        var name = colon < 0 ? parts[2] : parts[2][..colon];
        var alias = colon < 0 ? null : parts[2][(colon + 1)..];
        if (!IsArtifactPart(name) || (alias is not null && !IsArtifactPart(alias))) throw Refuse("InvalidJobName", field, value, allowed);
        try
        {
            Entity(parts[0], field);
            Project(parts[1], field);
        }
        catch (LaunchException)
        {
            throw Refuse("InvalidJobName", field, value, allowed);
        }
        return value;
    }

    /// <summary>
    /// An artifact a job uses (a key of <c>overrides.artifacts</c>): <c>name[:alias]</c> or
    /// <c>entity/project/name[:alias]</c>, the parts as in <see cref="JobName"/>.
    /// </summary>
    public static string ArtifactName(string value, string field)
    {
        var parts = value.Split('/');
        var last = parts[^1].Split(':', 2);
        var valid = parts.Length is 1 or 3 && IsArtifactPart(last[0]) && (last.Length == 1 || IsArtifactPart(last[1]));
        if (valid && parts.Length == 3)
        {
            try
            {
                Entity(parts[0], field);
                Project(parts[1], field);
            }
            catch (LaunchException)
            {
                valid = false;
            }
        }
        if (!valid)
        {
            throw Refuse("InvalidArtifactName", field, value,
                $"an artifact is named name[:alias] or entity/project/name[:alias]: the name and alias 1 to {MaxArtifactPartLength} of letters, digits, '-', '_' and '.', starting with a letter or digit");
        }
        return value;
    }

    /// <summary>
    /// A git version (branch, tag or commit): 1–255 characters, no control character or space, not starting with '-'
    /// (git would read it as an option).
    /// </summary>
    public static string GitVersion(string value, string field)
    {
        if (value.Length is 0 or > MaxGitVersionLength || value[0] == '-' || value.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
        {
            throw Refuse("InvalidGitVersion", field, value,
                $"a git version is a branch, tag or commit of 1 to {MaxGitVersionLength} characters, with no space or control character, not starting with '-'");
        }
        return value;
    }

    /// <summary>A path relative to the job's code: 1–1024 characters, not absolute, no '..' part, no control character.</summary>
    public static string RelativePath(string value, string field, string errorId)
    {
        var parts = value.Split('/', '\\');
        if (value.Length is 0 or > MaxRelativePathLength || value.Any(char.IsControl) || Path.IsPathRooted(value) || value[0] is '/' or '\\' ||
            (value.Length >= 2 && value[1] == ':') || parts.Contains(".."))
        {
            throw Refuse(errorId, field, value,
                $"{field} is a path relative to the job's code: 1 to {MaxRelativePathLength} characters, not absolute, no '..' part and no control character");
        }
        return value;
    }


    private static bool IsArtifactPart(string part) =>
        part.Length is > 0 and <= MaxArtifactPartLength && char.IsAsciiLetterOrDigit(part[0]) && part.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>The refusal: the field, the value quoted and escaped, and what is allowed.</summary>
    /// <param name="errorId">The error id.</param>
    /// <param name="field">The spec key (run_id, overrides.working_dir), or what the value is when it is not one ("queue name").</param>
    /// <param name="value">The refused value.</param>
    /// <param name="allowed">What is allowed, as a sentence fragment.</param>
    private static LaunchException Refuse(string errorId, string field, string value, string allowed) =>
        LaunchException.Invalid(errorId,
            $"The {(field.Contains(' ') ? field : $"spec's {field}")} {Printable.Quote(value)} is not allowed: {char.ToUpperInvariant(allowed[0])}{allowed[1..]}.", value);
}
