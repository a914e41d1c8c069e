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
            ? await GitCheckout.CloneAsync(uri, version, Path.Combine(workDirectory, runId, "code"), traceId, log, cancellationToken).ConfigureAwait(false)
            : uri;
        if (!Directory.Exists(directory))
        {
            throw new JobFailedException(FailureStage.Agent, $"The job's code directory '{directory}' does not exist on the agent's host.");
        }
        return directory;
    }
}
