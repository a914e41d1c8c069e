using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Identifiers;

namespace WandbLaunch.Engine.Runners.Kubernetes;

/// <summary>
/// A Secret or ConfigMap that lives as long as one run's work on the cluster (the API-key Secret of a run, the
/// Docker config ConfigMap of a kaniko build), labelled with the run's id. Creating one replaces an object of the
/// same name left by an earlier attempt of the same run (an agent that died, a preempted attempt); an object of that
/// name that is not the run's is never touched.
/// </summary>
public static class RunScopedObject
{
    /// <summary>Creates <paramref name="body"/> (a v1 Secret or ConfigMap with metadata.name and metadata.namespace).</summary>
    /// <param name="access">The cluster.</param>
    /// <param name="body">The object; its <c>kind</c> says which.</param>
    /// <param name="runId">The run it belongs to (its <c>wandb.ai/run-id</c> label).</param>
    /// <param name="stage">The <see cref="FailureStage"/> a refusal fails the job at.</param>
    /// <param name="log">The job's log.</param>
    /// <param name="cancellationToken">Cancels the calls.</param>
    public static async Task CreateAsync(KubeAccess access, JsonObject body, string runId, string stage, JobLog log, CancellationToken cancellationToken)
    {
        var kind = Kind.Of(body);
        var name = body["metadata"]!["name"]!.GetValue<string>();
        var @namespace = body["metadata"]!["namespace"]!.GetValue<string>();
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await access.CallAsync("create", kind.Plural, @namespace, c => kind.CreateAsync(c, body, @namespace, cancellationToken)).ConfigureAwait(false);
                return;
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict && attempt == 0)
            {
                var labels = await access.CallAsync("get", kind.Plural, @namespace, c => kind.LabelsAsync(c, name, @namespace, cancellationToken)).ConfigureAwait(false);
                if (labels?.TryGetValue(JobManifest.RunIdLabel, out var owner) != true || owner != RunNames.Of(runId))
                {
                    throw new JobFailedException(stage,
                        $"A {kind.Name} named {name} already exists in namespace {@namespace} and was not made by WandbLaunch for run {runId}; delete or rename it.");
                }
                log.Agent($"replacing {kind.Name} {@namespace}/{name} left by an earlier attempt of this run");
                await DeleteQuietlyAsync(access, kind.Name, @namespace, name, log.Agent).ConfigureAwait(false);
            }
            catch (HttpOperationException e)
            {
                throw KubeAccess.RefusedToCreate(e, $"{kind.Name} {@namespace}/{name}", stage);
            }
            catch (LaunchException e) when (stage == FailureStage.Build)
            {
                throw new JobFailedException(stage, e.Message, e);
            }
        }
    }

    /// <summary>Deletes a Secret or ConfigMap and says so; a failure is told to <paramref name="note"/>, not thrown.</summary>
    /// <param name="access">The cluster.</param>
    /// <param name="kind"><c>Secret</c> or <c>ConfigMap</c>.</param>
    /// <param name="namespace">Its namespace.</param>
    /// <param name="name">Its name.</param>
    /// <param name="note">Told what was done (the job's log).</param>
    /// <returns>Whether it was deleted (false when it was gone already or could not be deleted).</returns>
    public static async Task<bool> DeleteQuietlyAsync(KubeAccess access, string kind, string @namespace, string name, Action<string> note)
    {
        var k = Kind.Named(kind);
        try
        {
            await access.CallAsync("delete", k.Plural, @namespace, c => k.DeleteAsync(c, name, @namespace)).ConfigureAwait(false);
            note($"deleted {k.Name} {@namespace}/{name}");
            return true;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            note($"could not delete {k.Name} {@namespace}/{name}: {e.Message}");
            return false;
        }
    }

    private sealed record Kind(
        string Name,
        string Plural,
        Func<IKubernetes, JsonObject, string, CancellationToken, Task> CreateAsync,
        Func<IKubernetes, string, string, CancellationToken, Task<IDictionary<string, string>?>> LabelsAsync,
        Func<IKubernetes, string, string, Task> DeleteAsync)
    {
        private static readonly Kind Secret = new("Secret", "secrets",
            (c, body, ns, ct) => c.CoreV1.CreateNamespacedSecretAsync(KubeWorkload.ToTyped<V1Secret>(body), ns, cancellationToken: ct),
            async (c, name, ns, ct) => (await c.CoreV1.ReadNamespacedSecretAsync(name, ns, cancellationToken: ct).ConfigureAwait(false)).Metadata?.Labels,
            (c, name, ns) => c.CoreV1.DeleteNamespacedSecretAsync(name, ns));

        private static readonly Kind ConfigMap = new("ConfigMap", "configmaps",
            (c, body, ns, ct) => c.CoreV1.CreateNamespacedConfigMapAsync(KubeWorkload.ToTyped<V1ConfigMap>(body), ns, cancellationToken: ct),
            async (c, name, ns, ct) => (await c.CoreV1.ReadNamespacedConfigMapAsync(name, ns, cancellationToken: ct).ConfigureAwait(false)).Metadata?.Labels,
            (c, name, ns) => c.CoreV1.DeleteNamespacedConfigMapAsync(name, ns));

        public static Kind Of(JsonObject body) => Named(body["kind"]?.GetValue<string>() ?? "");

        public static Kind Named(string kind) => kind switch
        {
            "Secret" => Secret,
            "ConfigMap" => ConfigMap,
            _ => throw new ArgumentException($"Only Secrets and ConfigMaps are run-scoped objects, not '{kind}'.", nameof(kind)),
        };
    }
}
