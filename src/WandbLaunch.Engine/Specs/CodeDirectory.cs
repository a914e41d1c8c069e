using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Specs;

/// <summary>Where a uri job's code is on the agent's host: its local directory in place, or a fresh clone of its git source.</summary>
public static class CodeDirectory
{
    public static async Task<string> ResolveAsync(JsonObject spec, string workDirectory, string runId, string traceId, JobLog log, CancellationToken cancellationToken)
    {
        if (!JsonTree.TryGetString(spec["uri"], out var uri))
        {
            throw new JobFailedException(FailureStage.Agent, "The job has no uri, so there is no code to run or build.");
        }
        var version = JsonTree.TryGetString((spec["git"] as JsonObject)?["version"], out var v) ? v : null;
        var directory = SourceUri.Classify(uri) == SourceUri.Kind.Git
            ? await GitCheckout.CloneAsync(uri, version, Path.Combine(RunDirectory(workDirectory, runId), "code"), traceId, log, cancellationToken).ConfigureAwait(false)
            : uri;
        if (!Directory.Exists(directory))
        {
            throw new JobFailedException(FailureStage.Agent, $"The job's code directory '{directory}' does not exist on the agent's host.");
        }
        return directory;
    }

    /// <summary>Where the agent keeps a run's files (its git clone): <c>&lt;work directory&gt;/&lt;run id&gt;</c>.</summary>
    public static string RunDirectory(string workDirectory, string runId) => Path.Combine(workDirectory, runId);

    /// <summary>
    /// Deletes a run's files once its attempt has ended (a later attempt clones again). Read-only files (git's
    /// objects on Windows) are made writable first. A failure is told to <paramref name="note"/>, not thrown.
    /// </summary>
    public static void RemoveRunDirectory(string workDirectory, string runId, Action<string> note)
    {
        var directory = RunDirectory(workDirectory, runId);
        if (!Directory.Exists(directory)) return;
        try
        {
            foreach (var file in Directory.EnumerateFiles(directory, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
            {
                var attributes = File.GetAttributes(file);
                if (attributes.HasFlag(FileAttributes.ReadOnly)) File.SetAttributes(file, attributes & ~FileAttributes.ReadOnly);
            }
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            note($"could not delete the run's files in {directory}: {e.Message}");
        }
    }
}
