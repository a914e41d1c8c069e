using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace WandbLaunch.Tests.KubeApi;

/// <summary>
/// The server's objects, one resourceVersion counter for all of them (as etcd's revision), the event history
/// watches are served from (compactable, to force 410 Gone), open watches, pod logs, and the controllers a
/// cluster would run: the job controller creating a Job's pod, and the garbage collector deleting dependents.
/// </summary>
public sealed partial class KubeApiServer
{
    private readonly object _gate = new();
    private readonly Dictionary<(ApiResource Resource, string Namespace, string Name), JsonObject> _objects = new();
    private readonly List<(long Version, ApiResource Resource, string Namespace, string Type, JsonObject Snapshot)> _history = new();
    private readonly List<Watch> _watches = new();
    private readonly Dictionary<(string Namespace, string Pod), PodLog> _logs = new();
    private readonly HashSet<string> _namespaces = new(StringComparer.Ordinal) { "default" };
    private readonly HashSet<string> _forbidden = new(StringComparer.Ordinal);
    private readonly List<ApiResource> _resources =
    [
        ApiResource.Pods, ApiResource.Secrets, ApiResource.ConfigMaps, ApiResource.Jobs, ApiResource.Services, ApiResource.Endpoints,
        ApiResource.PersistentVolumeClaims, ApiResource.Deployments, ApiResource.StatefulSets, ApiResource.NetworkPolicies,
    ];
    private readonly List<RecordedRequest> _requests = new();
    private readonly List<RecordedDeletion> _deletions = new();
    private long _version = 1000;
    private long _compactedThrough;

    private sealed class Watch(ApiResource resource, string @namespace, Func<JsonObject, bool> selects)
    {
        public ApiResource Resource { get; } = resource;

        public string Namespace { get; } = @namespace;

        public Func<JsonObject, bool> Selects { get; } = selects;

        public Channel<string> Lines { get; } = Channel.CreateUnbounded<string>();
    }

    private sealed class PodLog
    {
        public List<(DateTimeOffset Time, string Line)> Lines { get; } = new();

        public bool Ended { get; set; }

        public TaskCompletionSource Changed { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Pulse()
        {
            var changed = Changed;
            Changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            changed.TrySetResult();
        }
    }

    // ---- primitives (callers hold _gate)

    private static string NameOf(JsonObject obj) => obj["metadata"]?["name"]?.GetValue<string>() ?? "";

    private JsonObject? Find(ApiResource resource, string @namespace, string name) =>
        _objects.TryGetValue((resource, @namespace, name), out var obj) ? obj : null;

    /// <summary>Stores an object (ADDED or MODIFIED) with a new resourceVersion and tells the watches.</summary>
    private JsonObject Store(ApiResource resource, string @namespace, JsonObject obj)
    {
        var key = (resource, @namespace, NameOf(obj));
        var type = _objects.ContainsKey(key) ? "MODIFIED" : "ADDED";
        ((JsonObject)obj["metadata"]!)["resourceVersion"] = (++_version).ToString(System.Globalization.CultureInfo.InvariantCulture);
        _objects[key] = obj;
        Publish(resource, @namespace, type, obj);
        return obj;
    }

    private void Remove(ApiResource resource, string @namespace, string name)
    {
        if (!_objects.Remove((resource, @namespace, name), out var obj)) return;
        ((JsonObject)obj["metadata"]!)["resourceVersion"] = (++_version).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Publish(resource, @namespace, "DELETED", obj);
        if (resource == ApiResource.Pods && _logs.TryGetValue((@namespace, name), out var log))
        {
            log.Ended = true;
            log.Pulse();
        }
    }

    private void Publish(ApiResource resource, string @namespace, string type, JsonObject obj)
    {
        var snapshot = (JsonObject)obj.DeepClone();
        _history.Add((_version, resource, @namespace, type, snapshot));
        var line = Event(type, snapshot);
        foreach (var watch in _watches.Where(w => w.Resource == resource && w.Namespace == @namespace && w.Selects(snapshot)))
        {
            watch.Lines.Writer.TryWrite(line);
        }
    }

    private static string Event(string type, JsonNode obj) => new JsonObject { ["type"] = type, ["object"] = obj.DeepClone() }.ToJsonString();

    private static JsonObject Metadata(JsonObject obj)
    {
        if (obj["metadata"] is JsonObject metadata) return metadata;
        metadata = new JsonObject();
        obj["metadata"] = metadata;
        return metadata;
    }

    private static JsonObject Child(JsonObject parent, string key)
    {
        if (parent[key] is JsonObject child) return child;
        child = new JsonObject();
        parent[key] = child;
        return child;
    }

    private static string Now() => DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);

    private static string Random5() => Guid.NewGuid().ToString("N")[..5];

    // ---- watches

    /// <summary>Opens a watch: from a resourceVersion (history after it), or from now with the current objects as ADDED.</summary>
    private Watch? OpenWatch(ApiResource resource, string @namespace, Func<JsonObject, bool> selects, string? resourceVersion, out string? gone)
    {
        lock (_gate)
        {
            gone = null;
            var watch = new Watch(resource, @namespace, selects);
            if (string.IsNullOrEmpty(resourceVersion) || resourceVersion == "0")
            {
                foreach (var ((r, ns, _), obj) in _objects)
                {
                    if (r == resource && ns == @namespace && selects(obj)) watch.Lines.Writer.TryWrite(Event("ADDED", obj));
                }
            }
            else
            {
                if (!long.TryParse(resourceVersion, out var from)) throw ApiError.BadRequest($"invalid resource version: {resourceVersion}");
                if (from < _compactedThrough)
                {
                    gone = TooOld(from);
                    return null;
                }
                foreach (var e in _history.Where(e => e.Version > from && e.Resource == resource && e.Namespace == @namespace && selects(e.Snapshot)))
                {
                    watch.Lines.Writer.TryWrite(Event(e.Type, e.Snapshot));
                }
            }
            _watches.Add(watch);
            return watch;
        }
    }

    private void CloseWatch(Watch watch)
    {
        lock (_gate) _watches.Remove(watch);
        watch.Lines.Writer.TryComplete();
    }

    private string TooOld(long from) =>
        Event("ERROR", new ApiError(410, "Expired", $"too old resource version: {from} ({_compactedThrough})").ToStatus());

    // ---- controllers

    /// <summary>The job controller: a new Job gets its pod (Pending, labelled from the template, owned by the Job).</summary>
    private void RunJobController(string @namespace, JsonObject job)
    {
        var metadata = (JsonObject)job["metadata"]!;
        var template = (JsonObject)job["spec"]!["template"]!;
        var podName = $"{NameOf(job)}-{Random5()}";
        var pod = new JsonObject
        {
            ["kind"] = "Pod",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject
            {
                ["name"] = podName,
                ["namespace"] = @namespace,
                ["uid"] = Guid.NewGuid().ToString(),
                ["creationTimestamp"] = Now(),
                ["labels"] = template["metadata"]?["labels"]?.DeepClone() ?? new JsonObject(),
                ["ownerReferences"] = new JsonArray(Owner(ApiResource.Jobs, job)),
            },
            ["spec"] = template["spec"]!.DeepClone(),
            ["status"] = PendingStatus(),
        };
        Store(ApiResource.Pods, @namespace, pod);
        _logs[(@namespace, podName)] = new PodLog();
        var status = Child(job, "status");
        status["active"] = 1;
        status["ready"] = 0;
        status["startTime"] = Now();
        Store(ApiResource.Jobs, @namespace, job);
        _ = metadata;
    }

    private static JsonObject Owner(ApiResource resource, JsonObject owner) => new()
    {
        ["apiVersion"] = resource.ApiVersion,
        ["kind"] = resource.Kind,
        ["name"] = NameOf(owner),
        ["uid"] = owner["metadata"]!["uid"]!.GetValue<string>(),
        ["controller"] = true,
        ["blockOwnerDeletion"] = true,
    };

    private static JsonObject PendingStatus() => new()
    {
        ["phase"] = "Pending",
        ["conditions"] = new JsonArray(),
        ["qosClass"] = "BestEffort",
    };

    private IEnumerable<JsonObject> PodsOwnedBy(string @namespace, string uid) =>
        _objects.Where(p => p.Key.Resource == ApiResource.Pods && p.Key.Namespace == @namespace &&
                            (p.Value["metadata"]?["ownerReferences"] as JsonArray ?? []).Any(o => o?["uid"]?.GetValue<string>() == uid))
            .Select(p => p.Value).ToList();

    /// <summary>
    /// Deletes an object as the API server and garbage collector do: Foreground marks it (deletionTimestamp,
    /// finalizer foregroundDeletion), deletes its pods, then it; Background deletes it, then its pods; Orphan
    /// deletes it and leaves its pods without owner.
    /// </summary>
    private JsonObject? Delete(ApiResource resource, string @namespace, string name, string? propagationPolicy)
    {
        JsonObject obj;
        lock (_gate)
        {
            obj = Find(resource, @namespace, name) ?? throw ApiError.NotFound(resource, name);
            var policy = propagationPolicy ?? (resource == ApiResource.Jobs ? "Orphan" : "Background");
            if (policy is not ("Foreground" or "Background" or "Orphan"))
            {
                throw ApiError.BadRequest($"unknown propagationPolicy \"{policy}\"; allowed: Foreground, Background, Orphan");
            }
            _deletions.Add(new RecordedDeletion(resource.QualifiedName, @namespace, name, propagationPolicy));
            var uid = obj["metadata"]!["uid"]!.GetValue<string>();
            if (resource == ApiResource.Services)
            {
                // The endpoints controller removes a Service's Endpoints with it.
                Remove(ApiResource.Endpoints, @namespace, name);
            }
            if (resource == ApiResource.Secrets || resource == ApiResource.ConfigMaps || resource == ApiResource.Pods || resource == ApiResource.Services ||
                resource == ApiResource.Endpoints || resource == ApiResource.PersistentVolumeClaims || resource == ApiResource.NetworkPolicies)
            {
                Remove(resource, @namespace, name);
                return null;
            }
            switch (policy)
            {
                case "Foreground":
                    if (obj["metadata"]!["deletionTimestamp"] is not null) return (JsonObject)obj.DeepClone();
                    var metadata = (JsonObject)obj["metadata"]!;
                    metadata["deletionTimestamp"] = Now();
                    metadata["deletionGracePeriodSeconds"] = 0;
                    metadata["finalizers"] = new JsonArray("foregroundDeletion");
                    Store(resource, @namespace, obj);
                    _ = Task.Run(async () =>
                    {
                        await Task.Delay(50).ConfigureAwait(false);
                        lock (_gate)
                        {
                            foreach (var pod in PodsOwnedBy(@namespace, uid)) Remove(ApiResource.Pods, @namespace, NameOf(pod));
                        }
                        await Task.Delay(50).ConfigureAwait(false);
                        lock (_gate) Remove(resource, @namespace, name);
                    });
                    return (JsonObject)obj.DeepClone();
                case "Background":
                    Remove(resource, @namespace, name);
                    _ = Task.Run(async () =>
                    {
                        await Task.Delay(50).ConfigureAwait(false);
                        lock (_gate)
                        {
                            foreach (var pod in PodsOwnedBy(@namespace, uid)) Remove(ApiResource.Pods, @namespace, NameOf(pod));
                        }
                    });
                    return null;
                default:
                    Remove(resource, @namespace, name);
                    foreach (var pod in PodsOwnedBy(@namespace, uid))
                    {
                        ((JsonObject)pod["metadata"]!).Remove("ownerReferences");
                        Store(ApiResource.Pods, @namespace, pod);
                    }
                    return null;
            }
        }
    }
}
