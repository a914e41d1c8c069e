using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.FileSystem;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Identifiers;

namespace WandbLaunch.Engine.Code;

/// <summary>Where a uri job's code is on the agent's host: its local directory in place, or a fresh clone of its git source.</summary>
public static class CodeDirectory
{
    public static async Task<string> ResolveAsync(LaunchSpec spec, string workDirectory, string runId, string traceId, JobLog log, CancellationToken cancellationToken)
    {
        if (spec.Uri is not { } uri)
        {
            throw new JobFailedException(FailureStage.Agent, "The job has no uri, so there is no code to run or build.");
        }
        var version = spec.GitVersion;
        string directory;
        if (SourceUri.Classify(uri) == SourceUri.Kind.Git)
        {
            string clone;
            try
            {
                clone = CloneDirectory(workDirectory, runId);
            }
            catch (LaunchException e)
            {
                throw new JobFailedException(FailureStage.Agent, e.Message, e);
            }
            directory = await GitCheckout.CloneAsync(uri, version, clone, traceId, log, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            directory = uri;
        }
        if (!Directory.Exists(directory))
        {
            throw new JobFailedException(FailureStage.Agent, $"The job's code directory '{directory}' does not exist on the agent's host.");
        }
        return directory;
    }

    /// <summary>
    /// Where the agent keeps a run's files (its git clone): <c>&lt;work directory&gt;/&lt;run name&gt;</c>, the run id's
    /// <see cref="Identifiers.RunNames"/> form, one directory of [a-z0-9-] whatever a stored id holds ('..', '/etc');
    /// a planted link there is still refused with <c>PathOutsideDirectory</c>.
    /// </summary>
    public static string RunDirectory(string workDirectory, string runId) => ContainedPath.Join(workDirectory, RunNames.Of(runId), "run id");

    /// <summary>Where a git source is cloned: <c>&lt;run directory&gt;/code</c>.</summary>
    public static string CloneDirectory(string workDirectory, string runId) => ContainedPath.Join(RunDirectory(workDirectory, runId), "code", "clone directory");

    /// <summary>
    /// Deletes a run's files once its attempt has ended (a later attempt clones again). Read-only files (git's
    /// objects on Windows) are made writable first; links are removed, never followed. A failure, or a run id that
    /// leads out of the work directory, is told to <paramref name="note"/>, not thrown.
    /// </summary>
    public static void RemoveRunDirectory(string workDirectory, string runId, Action<string> note)
    {
        string directory;
        try
        {
            directory = RunDirectory(workDirectory, runId);
        }
        catch (LaunchException e)
        {
            note($"did not delete the run's files: {e.Message}");
            return;
        }
        try
        {
            DirectoryTree.Delete(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            note($"could not delete the run's files in {directory}: {e.Message}");
        }
    }
}
