using System.Text.RegularExpressions;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Code;

/// <summary>
/// Fetches a job's git source with the git command line (an argument vector, no shell): a uri spec's clone at its
/// version, or a W&amp;B job's repository at its commit, by W&amp;B's sequence.
/// </summary>
public static partial class GitCheckout
{
    /// <summary>
    /// The agent's opt-in to W&amp;B jobs whose git remote is a repository on the agent's own host (an absolute path
    /// or <c>file://</c>): <c>1</c>/<c>true</c> allows them. Off by default, as in W&amp;B, so that a job cannot
    /// make the agent read an arbitrary repository of its host.
    /// </summary>
    public const string AllowLocalVariable = "WANDB_LAUNCH_ALLOW_LOCAL_GIT";

    /// <summary>Whether <paramref name="environment"/> opts in to local repositories (<see cref="AllowLocalVariable"/>).</summary>
    public static bool AllowsLocal(Func<string, string?> environment) =>
        environment(AllowLocalVariable)?.Trim().ToLowerInvariant() is "1" or "true" or "yes";

    // W&B's git_reference._SCP_LIKE_REMOTE (re.ASCII: \w is [A-Za-z0-9_]).
    [GeneratedRegex(@"^[A-Za-z0-9_.+\-]+@[A-Za-z0-9_.\-]+:.+", RegexOptions.Singleline)]
    private static partial Regex ScpLikeRemote();

    /// <summary>
    /// Refuses a remote W&amp;B refuses (only <c>https://</c>, <c>ssh://</c> and <c>user@host:path</c>; never one
    /// starting with '-'), except a local repository (absolute path or <c>file://</c>) when <paramref name="allowLocal"/>.
    /// Returns whether the remote is local.
    /// </summary>
    public static bool CheckRemote(string remote, bool allowLocal)
    {
        var stripped = remote.Trim();
        var allowed = $"only https://, ssh:// and git@host:path remotes are allowed (a repository on the agent's host needs {AllowLocalVariable}=1 in the agent's environment)";
        if (stripped.Length == 0 || stripped.StartsWith('-') || remote.Any(char.IsControl))
        {
            throw new JobFailedException(FailureStage.Agent, $"Refusing to fetch git remote '{remote}': {allowed}.");
        }
        if (stripped.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || stripped.StartsWith("ssh://", StringComparison.OrdinalIgnoreCase) ||
            ScpLikeRemote().IsMatch(stripped))
        {
            return false;
        }
        var local = stripped.StartsWith("file://", StringComparison.OrdinalIgnoreCase) || (Path.IsPathFullyQualified(stripped) && !stripped.StartsWith(@"\\", StringComparison.Ordinal));
        if (local && allowLocal) return true;
        throw new JobFailedException(FailureStage.Agent, $"Refusing to fetch git remote '{remote}': {allowed}.");
    }

    /// <summary>
    /// W&amp;B's <c>GitReference.fetch</c> into <paramref name="directory"/> (which must not exist): <c>git init</c>,
    /// <c>git remote add origin -- &lt;remote&gt;</c>, <c>git -c protocol.file.allow=never -c protocol.ext.allow=never
    /// fetch origin</c>, <c>checkout -B &lt;ref&gt;</c> of <c>origin/&lt;ref&gt;</c> when that branch exists, else of
    /// the ref (a commit or tag), then <c>submodule update --init --recursive</c> with the same protocol limits. A
    /// local repository (allowed by <see cref="AllowLocalVariable"/>) is fetched with <c>protocol.file.allow=always</c>.
    /// Failures are at stage agent, where W&amp;B's agent reports them.
    /// </summary>
    public static async Task FetchAsync(string remote, string reference, string directory, bool allowLocal, string traceId, JobLog log, CancellationToken cancellationToken)
    {
        var local = CheckRemote(remote, allowLocal);
        try
        {
            SpecNames.GitVersion(reference, "source.git.commit");
        }
        catch (Errors.LaunchException e)
        {
            throw new JobFailedException(FailureStage.Agent, e.Message, e);
        }
        string[] protocols = ["-c", $"protocol.file.allow={(local ? "always" : "never")}", "-c", "protocol.ext.allow=never"];
        const string stage = FailureStage.Agent;
        FileSystem.PrivateFiles.EnsureDirectory(directory, tightenExisting: false);
        log.Agent($"git fetch {remote} (commit {reference})");
        await RunGitAsync(["init", "--quiet", directory], null, traceId, log, stage, cancellationToken).ConfigureAwait(false);
        await RunGitAsync(["remote", "add", "origin", "--", remote], directory, traceId, log, stage, cancellationToken).ConfigureAwait(false);
        var fetch = await RunGitAsync([.. protocols, "fetch", "--quiet", "origin"], directory, traceId, log, null, cancellationToken).ConfigureAwait(false);
        if (fetch.ExitCode != 0)
        {
            throw new JobFailedException(stage, $"Unable to fetch from git remote repository {remote}: {fetch.Error}");
        }
        var branch = await RunGitAsync(["show-ref", "--verify", "--quiet", $"refs/remotes/origin/{reference}"], directory, traceId, log, null, cancellationToken).ConfigureAwait(false);
        var target = branch.ExitCode == 0 ? $"origin/{reference}" : reference;
        var checkout = await RunGitAsync(["-c", "advice.detachedHead=false", "checkout", "--quiet", "-B", reference, target, "--"], directory, traceId, log, null, cancellationToken).ConfigureAwait(false);
        if (checkout.ExitCode != 0)
        {
            throw new JobFailedException(stage, $"The commit {reference} does not exist in the git remote repository {remote} (git checkout: {checkout.Error}).");
        }
        var submodules = await RunGitAsync([.. protocols, "submodule", "update", "--init", "--recursive"], directory, traceId, log, null, cancellationToken).ConfigureAwait(false);
        if (submodules.ExitCode != 0)
        {
            throw new JobFailedException(stage, $"Unable to update submodules for git repository {remote}: {submodules.Error}");
        }
    }

    /// <summary>
    /// Applies a job's <c>diff.patch</c> to its checkout with <c>git apply</c> (W&amp;B runs <c>patch -s -p1</c>):
    /// git apply refuses a patch that leads outside the tree or through a symbolic link, and applies all of it or none.
    /// </summary>
    public static async Task ApplyPatchAsync(string patchFile, string directory, string traceId, JobLog log, CancellationToken cancellationToken)
    {
        log.Agent("git apply diff.patch");
        var apply = await RunGitAsync(["apply", "--whitespace=nowarn", "-p1", "--", patchFile], directory, traceId, log, null, cancellationToken).ConfigureAwait(false);
        if (apply.ExitCode != 0)
        {
            throw new JobFailedException(FailureStage.Agent, $"Failed to apply diff.patch associated with the job: {apply.Error}");
        }
    }

    // The job's id goes to git as WANDB_LAUNCH_TRACE_ID, so that a later agent can find and end a clone left behind by a dead one.
    public static async Task<string> CloneAsync(string uri, string? version, string directory, string traceId, JobLog log, CancellationToken cancellationToken)
    {
        if (!string.IsNullOrEmpty(version))
        {
            // Read back from the store, so checked again: a version starting with '-' would reach git as an option.
            try
            {
                SpecNames.GitVersion(version, "git.version");
            }
            catch (Errors.LaunchException e)
            {
                throw new JobFailedException(FailureStage.Build, e.Message, e);
            }
        }
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        FileSystem.PrivateFiles.EnsureDirectory(Path.GetDirectoryName(directory)!, tightenExisting: false);
        log.Agent($"git clone {uri}{(version is null ? "" : $" (version {version})")}");
        await RunGitAsync(["clone", "--quiet", "--", uri, directory], null, traceId, log, FailureStage.Build, cancellationToken).ConfigureAwait(false);
        if (!string.IsNullOrEmpty(version))
        {
            await RunGitAsync(["-c", "advice.detachedHead=false", "checkout", "--quiet", version, "--"], directory, traceId, log, FailureStage.Build, cancellationToken).ConfigureAwait(false);
        }
        return directory;
    }

    private readonly record struct GitResult(int ExitCode, string Error);

    /// <summary>Runs git, its output written to the job's log; a non-zero exit fails the job at <paramref name="failStage"/>, or is returned when it is null.</summary>
    private static async Task<GitResult> RunGitAsync(string[] arguments, string? workingDirectory, string traceId, JobLog log, string? failStage, CancellationToken cancellationToken)
    {
        GitCommand.Result result;
        try
        {
            result = await GitCommand.RunAsync(arguments, workingDirectory ?? Environment.CurrentDirectory, traceId, cancellationToken).ConfigureAwait(false);
        }
        catch (Errors.LaunchException e) when (e.ErrorId == "GitNotFound")
        {
            throw new JobFailedException(failStage ?? FailureStage.Agent, $"Cannot run git to fetch the job's code: {e.InnerException?.Message}. Install git on the agent's host.", e);
        }
        var error = result.Error.Trim();
        foreach (var line in (result.Output + "\n" + error).Split('\n', StringSplitOptions.RemoveEmptyEntries)) log.Agent("git: " + line);
        if (result.ExitCode != 0 && failStage is not null)
        {
            throw new JobFailedException(failStage, $"git {arguments[0]} failed (exit code {result.ExitCode}): {error}");
        }
        return new GitResult(result.ExitCode, error);
    }
}
