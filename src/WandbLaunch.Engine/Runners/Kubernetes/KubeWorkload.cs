using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Runners.Kubernetes;

/// <summary>
/// Where a job's workload lives: a batch/v1 Job, or a custom resource reached through the custom objects API
/// (<c>/apis/&lt;group&gt;/&lt;version&gt;/namespaces/&lt;ns&gt;/&lt;plural&gt;</c>). The handle recorded in the store is
/// <c>&lt;namespace&gt;/&lt;name&gt;/&lt;apiVersion&gt;/&lt;kind&gt;</c> (an apiVersion has a '/' of its own: the kind is the last
/// segment, the apiVersion what lies between the name and the kind).
/// </summary>
public sealed record KubeWorkload(string Namespace, string Name, string ApiVersion, string Kind, string Plural)
{
    public bool IsBatchJob => ApiVersion == "batch/v1" && Kind == "Job";

    public string Group => ApiVersion.Contains('/') ? ApiVersion[..ApiVersion.LastIndexOf('/')] : "";

    public string Version => ApiVersion[(ApiVersion.LastIndexOf('/') + 1)..];

    public string Handle => $"{Namespace}/{Name}/{ApiVersion}/{Kind}";

    /// <summary>The resource name for messages and RBAC hints: jobs.batch, pytorchjobs.kubeflow.org.</summary>
    public string Resource => IsBatchJob ? "jobs.batch" : Group.Length == 0 ? Plural : $"{Plural}.{Group}";

    public override string ToString() => $"{Kind} {Namespace}/{Name}";

    public static KubeWorkload From(JobManifest.Rendered rendered) =>
        new(rendered.Namespace, rendered.Name, rendered.ApiVersion, rendered.Kind, rendered.Plural);

    /// <summary>Reads a handle; <paramref name="plural"/> is the queue's <c>plural</c> key, when it gave one.</summary>
    public static KubeWorkload Parse(string handle, string? plural = null)
    {
        var parts = handle.Split('/');
        if (parts.Length < 4 || parts.Any(p => p.Length == 0))
        {
            throw LaunchException.InvalidData("InvalidKubeHandle",
                $"'{handle}' is not a Kubernetes job handle (<namespace>/<name>/<apiVersion>/<kind>).", handle);
        }
        var kind = parts[^1];
        var apiVersion = string.Join('/', parts[2..^1]);
        return new KubeWorkload(parts[0], parts[1], apiVersion, kind, plural ?? kind.ToLowerInvariant() + "s");
    }

    // ---- the calls the runner makes for a workload, whichever API serves it

    internal static JsonObject ToJson(object value) =>
        value switch
        {
            JsonObject o => o,
            JsonElement e => JsonNode.Parse(e.GetRawText()) as JsonObject ?? new JsonObject(),
            _ => JsonNode.Parse(KubernetesJson.Serialize(value)) as JsonObject ?? new JsonObject(),
        };

    /// <summary>Creates the workload from its manifest; returns what the server stored.</summary>
    internal async Task<JsonObject> CreateAsync(KubeAccess access, JsonObject manifest, Action<string> dropped, CancellationToken cancellationToken)
    {
        if (IsBatchJob)
        {
            var job = ToTyped<V1Job>(manifest);
            foreach (var path in Dropped(manifest, ToJson(job), "")) dropped(path);
            var created = await access.CallAsync("create", Resource, Namespace,
                c => c.BatchV1.CreateNamespacedJobAsync(job, Namespace, cancellationToken: cancellationToken)).ConfigureAwait(false);
            return ToJson(created);
        }
        var result = await access.CallAsync("create", Resource, Namespace,
            c => c.CustomObjects.CreateNamespacedCustomObjectAsync(manifest, Group, Version, Namespace, Plural, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return ToJson(result);
    }

    /// <summary>The workload as the server has it, or null when there is none.</summary>
    internal async Task<JsonObject?> GetAsync(KubeAccess access, CancellationToken cancellationToken)
    {
        try
        {
            if (IsBatchJob)
            {
                return ToJson(await access.CallAsync("get", Resource, Namespace,
                    c => c.BatchV1.ReadNamespacedJobAsync(Name, Namespace, cancellationToken: cancellationToken)).ConfigureAwait(false));
            }
            return ToJson(await access.CallAsync("get", Resource, Namespace,
                c => c.CustomObjects.GetNamespacedCustomObjectAsync(Group, Version, Namespace, Plural, Name, cancellationToken)).ConfigureAwait(false));
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private static readonly TimeSpan NameReleaseWait = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Deletes an earlier attempt's workload of this name (its pods first; not again when it is already being
    /// deleted) and waits until the name is free, so that this attempt can be created under it.
    /// </summary>
    /// <param name="access">The cluster.</param>
    /// <param name="alreadyDeleting">The workload has a deletionTimestamp: only wait.</param>
    /// <param name="stage">The <see cref="FailureStage"/> a name still taken after 60 s fails the job at.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    internal async Task ReleaseNameAsync(KubeAccess access, bool alreadyDeleting, string stage, CancellationToken cancellationToken)
    {
        if (!alreadyDeleting) await DeleteAsync(access, "Foreground", cancellationToken).ConfigureAwait(false);
        var deadline = DateTime.UtcNow + NameReleaseWait;
        var delay = TimeSpan.FromMilliseconds(100);
        while (await GetAsync(access, cancellationToken).ConfigureAwait(false) is not null)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new JobFailedException(stage, $"{this} of an earlier attempt of this run was still being deleted after {NameReleaseWait.TotalSeconds:0} s.");
            }
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromMilliseconds(Math.Min(2000, delay.TotalMilliseconds * 2));
        }
    }

    /// <summary>
    /// Deletes the workload, its pods first (Foreground propagation), and tells <paramref name="note"/> what happened
    /// (with <paramref name="why"/> when given); a failure is told, not thrown.
    /// </summary>
    internal async Task DeleteQuietlyAsync(KubeAccess access, Action<string> note, string? why = null)
    {
        try
        {
            if (await DeleteAsync(access, "Foreground", CancellationToken.None).ConfigureAwait(false))
            {
                note($"deleted {this} (propagation Foreground: its pods first){(why is null ? "" : $" because {why}")}");
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            note($"could not delete {this}{(why is null ? "" : $" ({why})")}: {e.Message}");
        }
    }

    /// <summary>Deletes the workload (and, with Foreground propagation, its pods first). False when it was already gone.</summary>
    internal async Task<bool> DeleteAsync(KubeAccess access, string propagationPolicy, CancellationToken cancellationToken)
    {
        var options = new V1DeleteOptions { PropagationPolicy = propagationPolicy };
        try
        {
            if (IsBatchJob)
            {
                await access.CallAsync("delete", Resource, Namespace,
                    c => c.BatchV1.DeleteNamespacedJobAsync(Name, Namespace, options, propagationPolicy: propagationPolicy, cancellationToken: cancellationToken)).ConfigureAwait(false);
            }
            else
            {
                await access.CallAsync("delete", Resource, Namespace,
                    c => c.CustomObjects.DeleteNamespacedCustomObjectAsync(Group, Version, Namespace, Plural, Name, options, propagationPolicy: propagationPolicy, cancellationToken: cancellationToken)).ConfigureAwait(false);
            }
            return true;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    private string NameSelector => $"metadata.name={Name}";

    /// <summary>Lists the workload by name: the object (or null) and the list's resourceVersion to watch from.</summary>
    internal async Task<(IReadOnlyList<JsonObject> Items, string ResourceVersion)> ListAsync(KubeAccess access, CancellationToken cancellationToken)
    {
        if (IsBatchJob)
        {
            var list = await access.CallAsync("list", Resource, Namespace,
                c => c.BatchV1.ListNamespacedJobAsync(Namespace, fieldSelector: NameSelector, cancellationToken: cancellationToken)).ConfigureAwait(false);
            return (list.Items.Select(ToJson).ToList(), list.Metadata?.ResourceVersion ?? "");
        }
        var result = ToJson(await access.CallAsync("list", Resource, Namespace,
            c => c.CustomObjects.ListNamespacedCustomObjectAsync(Group, Version, Namespace, Plural, fieldSelector: NameSelector, cancellationToken: cancellationToken)).ConfigureAwait(false));
        var items = (result["items"] as JsonArray ?? []).OfType<JsonObject>().Select(i => (JsonObject)i.DeepClone()).ToList();
        return (items, JsonTree.TryGetString(result["metadata"]?["resourceVersion"], out var rv) ? rv : "");
    }

    /// <summary>Watches the workload by name from a resourceVersion.</summary>
    internal async IAsyncEnumerable<(WatchEventType Type, JsonObject Object)> WatchAsync(KubeAccess access, string resourceVersion, Action<Exception> onError,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (IsBatchJob)
        {
            var events = access.Client.BatchV1.WatchListNamespacedJobAsync(Namespace, allowWatchBookmarks: true, fieldSelector: NameSelector,
                resourceVersion: resourceVersion, timeoutSeconds: WatchTimeoutSeconds, onError: onError, cancellationToken: cancellationToken);
            await foreach (var (type, job) in events.ConfigureAwait(false)) yield return (type, ToJson(job));
        }
        else
        {
            var events = access.Client.CustomObjects.WatchListNamespacedCustomObjectAsync(Group, Version, Namespace, Plural, allowWatchBookmarks: true,
                fieldSelector: NameSelector, resourceVersion: resourceVersion, timeoutSeconds: WatchTimeoutSeconds, onError: onError, cancellationToken: cancellationToken);
            await foreach (var (type, obj) in events.ConfigureAwait(false)) yield return (type, ToJson(obj));
        }
    }

    /// <summary>How long one watch request lasts before the server ends it and the runner watches again from where it was.</summary>
    internal const int WatchTimeoutSeconds = 300;

    internal static T ToTyped<T>(JsonObject manifest)
    {
        try
        {
            return KubernetesJson.Deserialize<T>(manifest.ToJsonString());
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            var kind = manifest["kind"]?.ToString() ?? typeof(T).Name;
            throw new Jobs.JobFailedException(Jobs.FailureStage.Run,
                $"The Kubernetes {kind} manifest is not valid: {(e is JsonException { Path: { } path } ? $"at {path}: " : "")}{e.Message}");
        }
    }

    /// <summary>Paths of fields in <paramref name="given"/> that the typed model dropped (misspelt or unknown fields).</summary>
    internal static IEnumerable<string> Dropped(JsonNode? given, JsonNode? kept, string at)
    {
        switch (given)
        {
            case JsonObject obj:
                var keptObj = kept as JsonObject;
                foreach (var (key, value) in obj)
                {
                    var path = DocumentPath.Key(at, key);
                    if (keptObj is null || !keptObj.ContainsKey(key))
                    {
                        if (value is not null) yield return path;
                        continue;
                    }
                    foreach (var p in Dropped(value, keptObj[key], path)) yield return p;
                }
                break;
            case JsonArray arr when kept is JsonArray keptArr:
                for (var i = 0; i < arr.Count && i < keptArr.Count; i++)
                {
                    foreach (var p in Dropped(arr[i], keptArr[i], DocumentPath.Index(at, i))) yield return p;
                }
                break;
        }
    }
}
