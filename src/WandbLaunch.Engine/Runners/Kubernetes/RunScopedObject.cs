using System.Net;
using System.Text.Json.Nodes;
using k8s.Autorest;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Identifiers;

namespace WandbLaunch.Engine.Runners.Kubernetes;

/// <summary>
/// An object that lives as long as one run's work on the cluster (the API-key Secret of a run, the Docker config
/// ConfigMap of a kaniko build, a run's additional services), labelled with the run's id. Creating one replaces an
/// object of the same name left by an earlier attempt of the same run (an agent that died, a preempted attempt); an
/// object of that name that is not the run's is never touched.
/// </summary>
public static class RunScopedObject
{
    private static readonly TimeSpan NameReleaseWait = TimeSpan.FromSeconds(60);

    /// <summary>Creates <paramref name="body"/> (a v1 Secret or ConfigMap with metadata.name and metadata.namespace).</summary>
    /// <param name="access">The cluster.</param>
    /// <param name="body">The object; its <c>kind</c> says which.</param>
    /// <param name="runId">The run it belongs to (its <c>wandb.ai/run-id</c> label).</param>
    /// <param name="stage">The <see cref="FailureStage"/> a refusal fails the job at.</param>
    /// <param name="log">The job's log.</param>
    /// <param name="cancellationToken">Cancels the calls.</param>
    public static Task CreateAsync(KubeAccess access, JsonObject body, string runId, string stage, JobLog log, CancellationToken cancellationToken)
    {
        var kind = body["kind"]?.GetValue<string>() ?? "";
        if (kind is not ("Secret" or "ConfigMap")) throw new ArgumentException($"Only Secrets and ConfigMaps are run-scoped objects, not '{kind}'.", nameof(body));
        var name = body["metadata"]!["name"]!.GetValue<string>();
        var @namespace = body["metadata"]!["namespace"]!.GetValue<string>();
        var api = KubeObjectApi.Named(kind);
        return CreateAsync(access, api, api.Typed(body), name, @namespace, runId, $"{kind} {@namespace}/{name}", stage, log.Agent,
            isEarlierAttempt: _ => true,
            notThisRuns: _ => $"A {kind} named {name} already exists in namespace {@namespace} and was not made by WandbLaunch for run {runId}; delete or rename it.",
            cancellationToken);
    }

    /// <summary>
    /// Creates <paramref name="typed"/>; when its name is taken by this run's object (its run-id label, and
    /// <paramref name="isEarlierAttempt"/>), that one is deleted, its name awaited and the create tried once more.
    /// </summary>
    /// <param name="access">The cluster.</param>
    /// <param name="api">The calls for the object's kind.</param>
    /// <param name="typed">The object, typed for <paramref name="api"/>.</param>
    /// <param name="name">Its metadata.name.</param>
    /// <param name="namespace">Its namespace.</param>
    /// <param name="runId">The run it belongs to (its <c>wandb.ai/run-id</c> label).</param>
    /// <param name="description">How the object is named in the log and in errors.</param>
    /// <param name="stage">The <see cref="FailureStage"/> a refusal fails the job at.</param>
    /// <param name="note">Told what was replaced (the job's log).</param>
    /// <param name="isEarlierAttempt">Whether an existing object of this run's is one this code made (it is then replaced).</param>
    /// <param name="notThisRuns">The failure message for a name held by anything else, given the holder's run id label.</param>
    /// <param name="cancellationToken">Cancels the calls.</param>
    /// <exception cref="JobFailedException">The name is held by something else, the cluster refused the object, or the old one did not go.</exception>
    internal static async Task CreateAsync(KubeAccess access, KubeObjectApi api, object typed, string name, string @namespace, string runId, string description,
        string stage, Action<string> note, Func<JsonObject, bool> isEarlierAttempt, Func<string?, string> notThisRuns, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await access.CallAsync("create", api.Plural, @namespace, c => api.Create(c, typed, @namespace, cancellationToken)).ConfigureAwait(false);
                return;
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict && attempt == 0)
            {
                var existing = await api.ReadOrNullAsync(access, name, @namespace, cancellationToken).ConfigureAwait(false);
                var owner = JsonTree.TryGetString(existing?["metadata"]?["labels"]?[JobManifest.RunIdLabel], out var r) ? r : null;
                if (existing is not null && (owner != RunNames.Of(runId) || !isEarlierAttempt(existing)))
                {
                    throw new JobFailedException(stage, notThisRuns(owner));
                }
                note($"replacing {description} left by an earlier attempt of this run");
                await DeleteAndWaitAsync(access, api, name, @namespace, description, stage, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpOperationException e)
            {
                throw KubeAccess.RefusedToCreate(e, description, stage);
            }
            catch (LaunchException e) when (stage == FailureStage.Build)
            {
                throw new JobFailedException(stage, e.Message, e);
            }
        }
    }

    private static async Task DeleteAndWaitAsync(KubeAccess access, KubeObjectApi api, string name, string @namespace, string description, string stage, CancellationToken cancellationToken)
    {
        try
        {
            await access.CallAsync("delete", api.Plural, @namespace, c => api.Delete(c, name, @namespace)).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
        }
        var deadline = DateTime.UtcNow + NameReleaseWait;
        while (await api.ReadOrNullAsync(access, name, @namespace, cancellationToken).ConfigureAwait(false) is not null)
        {
            if (DateTime.UtcNow > deadline) throw new JobFailedException(stage, $"{description} of an earlier attempt of this run was still being deleted after {NameReleaseWait.TotalSeconds:0} s.");
            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Deletes an object and says so; a failure is told to <paramref name="note"/>, not thrown.</summary>
    /// <param name="access">The cluster.</param>
    /// <param name="kind">Its kind (<c>Secret</c>, <c>ConfigMap</c>, an additional service's).</param>
    /// <param name="namespace">Its namespace.</param>
    /// <param name="name">Its name.</param>
    /// <param name="note">Told what was done (the job's log).</param>
    /// <returns>Whether it was deleted (false when it was gone already or could not be deleted).</returns>
    public static async Task<bool> DeleteQuietlyAsync(KubeAccess access, string kind, string @namespace, string name, Action<string> note)
    {
        var api = KubeObjectApi.Named(kind);
        try
        {
            await access.CallAsync("delete", api.Plural, @namespace, c => api.Delete(c, name, @namespace)).ConfigureAwait(false);
            note($"deleted {kind} {@namespace}/{name}");
            return true;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            note($"could not delete {kind} {@namespace}/{name}: {e.Message}");
            return false;
        }
    }
}
