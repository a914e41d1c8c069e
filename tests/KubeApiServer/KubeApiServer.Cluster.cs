using System.Text.Json.Nodes;

namespace WandbLaunch.Tests.KubeApi;

/// <summary>
/// What happens on the cluster, as tests make it happen: the kubelet starting and ending pods, the scheduler
/// failing to place one or preempting it, the job controller completing or failing a Job, containers writing
/// logs, an operator reporting a custom resource's status, someone else deleting a Job, and the API server
/// compacting its watch history. Each change goes through the store, so watches see it as they would on a cluster.
/// </summary>
public sealed partial class KubeApiServer
{
    // ---- reading

    public JsonObject? Get(ApiResource resource, string @namespace, string name)
    {
        lock (_gate) return Find(resource, @namespace, name)?.DeepClone() as JsonObject;
    }

    public JsonObject? Job(string @namespace, string name) => Get(ApiResource.Jobs, @namespace, name);

    public JsonObject? Secret(string @namespace, string name) => Get(ApiResource.Secrets, @namespace, name);

    public IReadOnlyList<JsonObject> All(ApiResource resource, string @namespace)
    {
        lock (_gate)
        {
            return _objects.Where(p => p.Key.Resource == resource && p.Key.Namespace == @namespace)
                .Select(p => (JsonObject)p.Value.DeepClone()).ToList();
        }
    }

    /// <summary>The pods the job controller made for a Job (or an operator for a custom resource).</summary>
    public IReadOnlyList<string> PodsOf(string @namespace, string owner)
    {
        lock (_gate)
        {
            return _objects.Where(p => p.Key.Resource == ApiResource.Pods && p.Key.Namespace == @namespace &&
                                       (p.Value["metadata"]?["ownerReferences"] as JsonArray ?? []).Any(o => o?["name"]?.GetValue<string>() == owner))
                .Select(p => p.Key.Name).OrderBy(n => n, StringComparer.Ordinal).ToList();
        }
    }

    /// <summary>Open watch requests (for tests that check watches end).</summary>
    public int OpenWatches
    {
        get
        {
            lock (_gate) return _watches.Count;
        }
    }

    // ---- pods

    private JsonObject Pod(string @namespace, string pod) => Find(ApiResource.Pods, @namespace, pod) ?? throw new InvalidOperationException($"no pod {@namespace}/{pod}");

    private static JsonArray Conditions(JsonObject pod) => (JsonArray)(Child(pod, "status")["conditions"] ??= new JsonArray());

    private static void SetCondition(JsonObject obj, string type, string status, string? reason = null, string? message = null)
    {
        var conditions = Conditions(obj);
        var existing = conditions.OfType<JsonObject>().FirstOrDefault(c => c["type"]?.GetValue<string>() == type);
        if (existing is null)
        {
            existing = new JsonObject { ["type"] = type };
            conditions.Add(existing);
        }
        existing["status"] = status;
        existing["lastTransitionTime"] = Now();
        if (reason is null) existing.Remove("reason");
        else existing["reason"] = reason;
        if (message is null) existing.Remove("message");
        else existing["message"] = message;
    }

    private static IEnumerable<string> ContainerNames(JsonObject pod) =>
        (pod["spec"]?["containers"] as JsonArray ?? []).Select(c => c?["name"]?.GetValue<string>() ?? "");

    private static JsonArray ContainerStatuses(JsonObject pod, Func<string, JsonObject> state, bool ready) =>
        new(ContainerNames(pod).Select(name => (JsonNode?)new JsonObject
        {
            ["name"] = name,
            ["image"] = (pod["spec"]!["containers"] as JsonArray)!.OfType<JsonObject>().First(c => c["name"]?.GetValue<string>() == name)["image"]?.DeepClone(),
            ["ready"] = ready,
            ["restartCount"] = 0,
            ["started"] = ready,
            ["state"] = state(name),
        }).ToArray());

    /// <summary>The kubelet: Running (scheduled, containers started), or Succeeded/Failed (containers ended with <paramref name="exitCode"/>).</summary>
    public void SetPodPhase(string @namespace, string pod, string phase, int exitCode = 0, string? terminationMessage = null)
    {
        lock (_gate)
        {
            var obj = Pod(@namespace, pod);
            var status = Child(obj, "status");
            status["phase"] = phase;
            switch (phase)
            {
                case "Running":
                    MountVolumes(@namespace, obj);
                    ((JsonObject)obj["spec"]!)["nodeName"] = "node-1";
                    status["hostIP"] = "10.0.0.11";
                    status["podIP"] = "10.244.1.7";
                    status["startTime"] = Now();
                    SetCondition(obj, "PodScheduled", "True");
                    SetCondition(obj, "Initialized", "True");
                    SetCondition(obj, "ContainersReady", "True");
                    SetCondition(obj, "Ready", "True");
                    status["containerStatuses"] = ContainerStatuses(obj, _ => new JsonObject { ["running"] = new JsonObject { ["startedAt"] = Now() } }, ready: true);
                    break;
                case "Succeeded" or "Failed":
                    SetCondition(obj, "Ready", "False", "PodCompleted");
                    SetCondition(obj, "ContainersReady", "False", "PodCompleted");
                    var first = ContainerNames(obj).First();
                    status["containerStatuses"] = ContainerStatuses(obj, name =>
                    {
                        var code = name == first ? exitCode : 0;
                        var terminated = new JsonObject
                        {
                            ["exitCode"] = code,
                            ["reason"] = code == 0 ? "Completed" : "Error",
                            ["startedAt"] = Now(),
                            ["finishedAt"] = Now(),
                        };
                        if (name == first && terminationMessage is not null) terminated["message"] = terminationMessage;
                        return new JsonObject { ["terminated"] = terminated };
                    }, ready: false);
                    if (_logs.TryGetValue((@namespace, pod), out var log))
                    {
                        log.Ended = true;
                        log.Pulse();
                    }
                    break;
                case "Pending":
                    break;
                default:
                    throw new ArgumentException($"unknown pod phase {phase}", nameof(phase));
            }
            Store(ApiResource.Pods, @namespace, obj);
        }
    }

    /// <summary>
    /// The kubelet mounts a pod's Secret and ConfigMap volumes before its containers start: a volume naming an object
    /// (or a key of it) that does not exist keeps the pod from starting (a real kubelet retries with FailedMount events).
    /// </summary>
    private void MountVolumes(string @namespace, JsonObject pod)
    {
        foreach (var volume in (pod["spec"]?["volumes"] as JsonArray ?? []).OfType<JsonObject>())
        {
            var (resource, source, nameKey) = volume["secret"] is JsonObject sec ? (ApiResource.Secrets, sec, "secretName")
                : volume["configMap"] is JsonObject cm ? (ApiResource.ConfigMaps, cm, "name")
                : (null, null, null);
            if (resource is null || source is null || source["optional"]?.GetValue<bool>() == true) continue;
            var name = source[nameKey!]?.GetValue<string>() ?? "";
            var found = Find(resource, @namespace, name)
                        ?? throw new InvalidOperationException($"kubelet: MountVolume.SetUp failed for volume \"{volume["name"]}\" : {resource.Kind.ToLowerInvariant()} \"{name}\" not found");
            foreach (var item in (source["items"] as JsonArray ?? []).OfType<JsonObject>())
            {
                var key = item["key"]?.GetValue<string>() ?? "";
                if (found["data"]?[key] is null && found["binaryData"]?[key] is null)
                {
                    throw new InvalidOperationException($"kubelet: MountVolume.SetUp failed for volume \"{volume["name"]}\" : references non-existent {resource.Kind.ToLowerInvariant()} key: {key}");
                }
            }
        }
    }

    /// <summary>Someone with access to the cluster creates a Secret (as <c>kubectl create secret</c> does).</summary>
    public void PutSecret(string @namespace, string name, IReadOnlyDictionary<string, string> stringData, string type = "Opaque")
    {
        var data = new JsonObject();
        foreach (var (key, value) in stringData) data[key] = value;
        Create(ApiResource.Secrets, @namespace, new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Secret",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = @namespace },
            ["type"] = type,
            ["stringData"] = data,
        });
    }

    public void AddPodCondition(string @namespace, string pod, string type, string status, string? reason = null, string? message = null)
    {
        lock (_gate)
        {
            var obj = Pod(@namespace, pod);
            SetCondition(obj, type, status, reason, message);
            Store(ApiResource.Pods, @namespace, obj);
        }
    }

    /// <summary>The scheduler cannot place the pod: PodScheduled False, reason Unschedulable.</summary>
    public void MarkUnschedulable(string @namespace, string pod, string message = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.") =>
        AddPodCondition(@namespace, pod, "PodScheduled", "False", "Unschedulable", message);

    /// <summary>A container waits (ErrImagePull, ImagePullBackOff, CrashLoopBackOff...).</summary>
    public void SetContainerWaiting(string @namespace, string pod, string reason, string message)
    {
        lock (_gate)
        {
            var obj = Pod(@namespace, pod);
            SetCondition(obj, "PodScheduled", "True");
            Child(obj, "status")["containerStatuses"] = ContainerStatuses(obj,
                _ => new JsonObject { ["waiting"] = new JsonObject { ["reason"] = reason, ["message"] = message } }, ready: false);
            Store(ApiResource.Pods, @namespace, obj);
        }
    }

    public void AppendPodLog(string @namespace, string pod, params string[] lines)
    {
        lock (_gate)
        {
            var log = _logs.TryGetValue((@namespace, pod), out var found) ? found : _logs[(@namespace, pod)] = new PodLog();
            foreach (var line in lines) log.Lines.Add((DateTimeOffset.UtcNow, line));
            log.Pulse();
        }
    }

    // ---- jobs

    private JsonObject JobObject(string @namespace, string job) => Find(ApiResource.Jobs, @namespace, job) ?? throw new InvalidOperationException($"no job {@namespace}/{job}");

    /// <summary>The job's pods succeed and the job controller marks the Job Complete.</summary>
    public void CompleteJob(string @namespace, string job)
    {
        foreach (var pod in PodsOf(@namespace, job)) SetPodPhase(@namespace, pod, "Succeeded");
        lock (_gate)
        {
            var obj = JobObject(@namespace, job);
            var status = Child(obj, "status");
            status["active"] = 0;
            status["ready"] = 0;
            status["succeeded"] = 1;
            status["completionTime"] = Now();
            SetCondition(obj, "SuccessCriteriaMet", "True", "CompletionsReached", "Reached expected number of succeeded pods");
            SetCondition(obj, "Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods");
            Store(ApiResource.Jobs, @namespace, obj);
        }
    }

    /// <summary>The job's pods fail with <paramref name="exitCode"/> and the job controller marks the Job Failed.</summary>
    public void FailJob(string @namespace, string job, int exitCode = 1, string? terminationMessage = null,
        string reason = "BackoffLimitExceeded", string message = "Job has reached the specified backoff limit")
    {
        foreach (var pod in PodsOf(@namespace, job))
        {
            lock (_gate)
            {
                if (Pod(@namespace, pod)["status"]?["phase"]?.GetValue<string>() is "Failed" or "Succeeded") continue;
            }
            SetPodPhase(@namespace, pod, "Failed", exitCode, terminationMessage);
        }
        lock (_gate)
        {
            var obj = JobObject(@namespace, job);
            var status = Child(obj, "status");
            status["active"] = 0;
            status["ready"] = 0;
            status["failed"] = 1;
            SetCondition(obj, "FailureTarget", "True", reason, message);
            SetCondition(obj, "Failed", "True", reason, message);
            Store(ApiResource.Jobs, @namespace, obj);
        }
    }

    /// <summary>
    /// The scheduler preempts the Job's pod for a higher-priority one: the pod gets DisruptionTarget, is killed
    /// (exit 137), and the Job, with no retries left, fails.
    /// </summary>
    public void PreemptJob(string @namespace, string job)
    {
        foreach (var pod in PodsOf(@namespace, job))
        {
            AddPodCondition(@namespace, pod, "DisruptionTarget", "True", "PreemptionByScheduler", "default-scheduler: preempting to accommodate a higher priority pod");
            SetPodPhase(@namespace, pod, "Failed", 137);
        }
        FailJob(@namespace, job, 137);
    }

    /// <summary>Someone else deletes the Job (kubectl delete job).</summary>
    public void DeleteJob(string @namespace, string job, string propagationPolicy = "Background") =>
        Delete(ApiResource.Jobs, @namespace, job, propagationPolicy);

    // ---- custom resources

    private ApiResource Custom(string group, string version, string plural)
    {
        lock (_gate) return _resources.First(r => r.Group == group && r.Version == version && r.Plural == plural);
    }

    /// <summary>The operator creates a pod for every pod template of the custom resource, owned by it.</summary>
    public IReadOnlyList<string> StartPodsFor(string group, string version, string plural, string @namespace, string name)
    {
        var resource = Custom(group, version, plural);
        var names = new List<string>();
        lock (_gate)
        {
            var owner = Find(resource, @namespace, name) ?? throw new InvalidOperationException($"no {plural} {@namespace}/{name}");
            foreach (var template in Templates(owner))
            {
                var podName = $"{name}-{names.Count}";
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
                        ["ownerReferences"] = new JsonArray(Owner(resource, owner)),
                    },
                    ["spec"] = template["spec"]!.DeepClone(),
                    ["status"] = PendingStatus(),
                };
                Store(ApiResource.Pods, @namespace, pod);
                _logs[(@namespace, podName)] = new PodLog();
                names.Add(podName);
            }
        }
        return names;
    }

    private static IEnumerable<JsonObject> Templates(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj when obj["spec"] is JsonObject spec && spec["containers"] is JsonArray:
                yield return obj;
                break;
            case JsonObject obj:
                foreach (var (_, value) in obj)
                {
                    foreach (var t in Templates(value)) yield return t;
                }
                break;
            case JsonArray arr:
                foreach (var item in arr)
                {
                    foreach (var t in Templates(item)) yield return t;
                }
                break;
        }
    }

    /// <summary>The operator reports the custom resource's status.</summary>
    public void SetCustomObjectStatus(string group, string version, string plural, string @namespace, string name, JsonObject status)
    {
        var resource = Custom(group, version, plural);
        lock (_gate)
        {
            var obj = Find(resource, @namespace, name) ?? throw new InvalidOperationException($"no {plural} {@namespace}/{name}");
            obj["status"] = status.DeepClone();
            Store(resource, @namespace, obj);
        }
    }

    // ---- deployments, statefulsets, services

    /// <summary>What the API server sets on a new Deployment or StatefulSet: replicas wanted, none ready.</summary>
    private static void ReplicaStatus(JsonObject workload, int ready)
    {
        var wanted = workload["spec"]?["replicas"]?.GetValue<int>() ?? 1;
        ((JsonObject)workload["spec"]!)["replicas"] = wanted;
        var status = new JsonObject { ["observedGeneration"] = 1, ["replicas"] = wanted };
        if (ready > 0)
        {
            status["readyReplicas"] = ready;
            status["availableReplicas"] = ready;
        }
        workload["status"] = status;
    }

    /// <summary>The endpoints controller: a Service with a selector gets Endpoints of its name, without addresses until pods are ready.</summary>
    private void RunEndpointsController(string @namespace, JsonObject service)
    {
        if (service["spec"]?["selector"] is not JsonObject { Count: > 0 }) return;
        Store(ApiResource.Endpoints, @namespace, new JsonObject
        {
            ["kind"] = "Endpoints",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject
            {
                ["name"] = NameOf(service),
                ["namespace"] = @namespace,
                ["uid"] = Guid.NewGuid().ToString(),
                ["creationTimestamp"] = Now(),
                ["labels"] = service["metadata"]?["labels"]?.DeepClone() ?? new JsonObject(),
            },
        });
    }

    /// <summary>The deployment (or statefulset) controller and kubelets: <paramref name="ready"/> of its replicas are ready.</summary>
    public void SetReadyReplicas(ApiResource resource, string @namespace, string name, int ready)
    {
        lock (_gate)
        {
            var obj = Find(resource, @namespace, name) ?? throw new InvalidOperationException($"no {resource.Plural} {@namespace}/{name}");
            ReplicaStatus(obj, ready);
            Store(resource, @namespace, obj);
        }
    }

    /// <summary>The endpoints controller: the Service's ready pods are at <paramref name="addresses"/> (none: no ready pod).</summary>
    public void SetEndpoints(string @namespace, string service, params string[] addresses)
    {
        lock (_gate)
        {
            var obj = Find(ApiResource.Endpoints, @namespace, service) ?? throw new InvalidOperationException($"no endpoints {@namespace}/{service}");
            if (addresses.Length == 0) obj.Remove("subsets");
            else
            {
                obj["subsets"] = new JsonArray(new JsonObject
                {
                    ["addresses"] = new JsonArray(addresses.Select(a => (JsonNode?)new JsonObject { ["ip"] = a }).ToArray()),
                    ["ports"] = new JsonArray(new JsonObject { ["port"] = 80, ["protocol"] = "TCP" }),
                });
            }
            Store(ApiResource.Endpoints, @namespace, obj);
        }
    }

    /// <summary>The kubelet: a running pod's containers become ready, or stop being ready (a failing readiness probe).</summary>
    public void SetPodReady(string @namespace, string pod, bool ready)
    {
        lock (_gate)
        {
            var obj = Pod(@namespace, pod);
            foreach (var status in (obj["status"]?["containerStatuses"] as JsonArray ?? []).OfType<JsonObject>()) status["ready"] = ready;
            SetCondition(obj, "ContainersReady", ready ? "True" : "False", ready ? null : "ContainersNotReady");
            SetCondition(obj, "Ready", ready ? "True" : "False", ready ? null : "ContainersNotReady");
            Store(ApiResource.Pods, @namespace, obj);
        }
    }

    // ---- watch history

    /// <summary>Ends every open watch without an event, as an API server does when a watch's timeoutSeconds runs out.</summary>
    public void EndWatches()
    {
        lock (_gate)
        {
            foreach (var watch in _watches) watch.Lines.Writer.TryComplete();
        }
    }

    /// <summary>
    /// Compacts the watch history (as etcd compaction does): every open watch gets an ERROR event with 410 Gone
    /// and ends, and a watch from any resourceVersion seen so far is answered 410; clients must list again.
    /// </summary>
    public void ExpireWatches()
    {
        lock (_gate)
        {
            _compactedThrough = ++_version;
            _history.Clear();
            foreach (var watch in _watches)
            {
                watch.Lines.Writer.TryWrite(TooOld(_compactedThrough - 1));
                watch.Lines.Writer.TryComplete();
            }
        }
    }
}
