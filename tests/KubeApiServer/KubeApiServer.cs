using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using WandbLaunch.TestSupport;

namespace WandbLaunch.Tests.KubeApi;

/// <summary>
/// A Kubernetes API server on 127.0.0.1 (plain HTTP) serving what the kubernetes runner uses:
/// <list type="bullet">
/// <item>batch/v1 jobs: create, get, list, watch, delete (propagationPolicy Foreground, Background, Orphan);</item>
/// <item>core/v1 pods: get, list, watch, and their log (with follow, container, sinceSeconds);</item>
/// <item>core/v1 secrets and configmaps: create, get, list, delete;</item>
/// <item>the kinds of additional services: apps/v1 deployments and statefulsets, core/v1 pods, services (with the
/// endpoints controller's Endpoints), persistentvolumeclaims, networking.k8s.io/v1 networkpolicies: create, get, list
/// (label selectors), delete; tests make them ready (<see cref="SetReadyReplicas"/>, <see cref="SetEndpoints"/>,
/// <see cref="SetPodPhase"/>, <see cref="SetPodReady"/>);</item>
/// <item>custom objects of registered resources under /apis/&lt;group&gt;/&lt;version&gt;/namespaces/&lt;ns&gt;/&lt;plural&gt;.</item>
/// </list>
/// It checks what a real server checks — the bearer token (401), forbidden namespaces (403), paths and verbs
/// (404, 405), Content-Type (415), bodies whose apiVersion, kind or namespace disagree with the path (400),
/// required and valid fields (422), names already taken (409), unknown objects and namespaces (404) — and answers
/// errors with Status objects. Lists and watches carry resourceVersions; a watch resumes from one, and after
/// <see cref="ExpireWatches"/> an old one gets 410 Gone.
/// </summary>
public sealed partial class KubeApiServer : IDisposable
{
    private readonly LoopbackHttpListener _http;
    private readonly CancellationTokenSource _stop = new();

    public KubeApiServer(string token = "loopback-token", string user = "system:serviceaccount:wandb:launch-agent")
    {
        Token = token;
        _tokens.Add(token);
        User = user;
        _http = new LoopbackHttpListener(HandleAsync);
    }

    public Uri Url => _http.Url;

    /// <summary>The bearer token requests must carry (<see cref="AllowToken"/> adds others).</summary>
    public string Token { get; }

    private readonly HashSet<string> _tokens = new(StringComparer.Ordinal);
    private readonly List<(string Token, CancellationTokenSource Stop)> _streams = new();

    /// <summary>Accepts another bearer token (another agent's identity).</summary>
    public void AllowToken(string token)
    {
        lock (_gate) _tokens.Add(token);
    }

    /// <summary>
    /// Cuts a client off, as a network partition or a killed process would: its token is refused from now on
    /// (401) and its open watches and log streams end.
    /// </summary>
    public void Disconnect(string token)
    {
        List<CancellationTokenSource> cut;
        lock (_gate)
        {
            _tokens.Remove(token);
            cut = _streams.Where(s => s.Token == token).Select(s => s.Stop).ToList();
        }
        foreach (var stop in cut)
        {
            try
            {
                stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    /// <summary>A token for a long-lived response, cancelled when the server stops or the client is disconnected.</summary>
    private CancellationTokenSource Stream(string token)
    {
        var stop = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        lock (_gate) _streams.Add((token, stop));
        return stop;
    }

    private void EndStream(CancellationTokenSource stop)
    {
        lock (_gate) _streams.RemoveAll(s => s.Stop == stop);
        stop.Dispose();
    }

    /// <summary>The user the token stands for (named in 403 messages).</summary>
    public string User { get; }

    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (_gate) return _requests.ToList();
        }
    }

    public IReadOnlyList<RecordedDeletion> Deletions
    {
        get
        {
            lock (_gate) return _deletions.ToList();
        }
    }

    public void AddNamespace(string name)
    {
        lock (_gate) _namespaces.Add(name);
    }

    /// <summary>
    /// Requests in this namespace are refused with 403, as RBAC refuses an agent without a RoleBinding there; with
    /// <paramref name="resource"/> (a plural, such as <c>secrets</c>), only requests for that resource.
    /// </summary>
    public void Forbid(string @namespace, string? resource = null)
    {
        lock (_gate) _forbidden.Add(resource is null ? @namespace : $"{@namespace}/{resource}");
    }

    /// <summary>Serves a custom resource, as if its CRD were installed.</summary>
    public void RegisterCustomResource(string group, string version, string plural, string kind)
    {
        lock (_gate) _resources.Add(new ApiResource(group, version, plural, kind));
    }

    /// <summary>Writes a kubeconfig file pointing at this server and returns its path.</summary>
    public string WriteKubeconfig(string path, string? @namespace = null, string context = "loopback", string? token = null)
    {
        var text = $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: loopback-cluster
              cluster:
                server: {Url.ToString().TrimEnd('/')}
            users:
            - name: launch-agent
              user:
                token: {token ?? Token}
            contexts:
            - name: {context}
              context:
                cluster: loopback-cluster
                user: launch-agent
            {(@namespace is null ? "" : $"    namespace: {@namespace}")}
            current-context: {context}
            """;
        File.WriteAllText(path, text);
        return path;
    }

    [GeneratedRegex(@"^/api/v1/namespaces/(?<ns>[^/]+)/(?<plural>[^/]+)(?:/(?<name>[^/]+)(?:/(?<sub>[^/]+))?)?$")]
    private static partial Regex CorePath();

    [GeneratedRegex(@"^/apis/(?<group>[^/]+)/(?<version>[^/]+)/namespaces/(?<ns>[^/]+)/(?<plural>[^/]+)(?:/(?<name>[^/]+)(?:/(?<sub>[^/]+))?)?$")]
    private static partial Regex GroupPath();

    private async Task HandleAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        var path = request.Url!.AbsolutePath;
        var query = request.QueryString;
        var status = 200;
        int index;
        lock (_gate)
        {
            // Recorded on arrival (a watch may last long), with its status once answered.
            index = _requests.Count;
            _requests.Add(new RecordedRequest(request.HttpMethod, path, request.Url!.Query, 0));
        }
        try
        {
            var bearer = request.Headers["Authorization"] is { } authorization && authorization.StartsWith("Bearer ", StringComparison.Ordinal) ? authorization[7..] : null;
            lock (_gate)
            {
                if (bearer is null || !_tokens.Contains(bearer)) throw new ApiError(401, "Unauthorized", "Unauthorized");
            }
            var match = CorePath().Match(path);
            string group = "", version = "v1";
            if (!match.Success)
            {
                match = GroupPath().Match(path);
                if (!match.Success) throw new ApiError(404, "NotFound", "the server could not find the requested resource");
                group = match.Groups["group"].Value;
                version = match.Groups["version"].Value;
            }
            var ns = Uri.UnescapeDataString(match.Groups["ns"].Value);
            var plural = match.Groups["plural"].Value;
            var name = match.Groups["name"].Success ? Uri.UnescapeDataString(match.Groups["name"].Value) : null;
            var sub = match.Groups["sub"].Success ? match.Groups["sub"].Value : null;
            ApiResource resource;
            lock (_gate)
            {
                resource = _resources.FirstOrDefault(r => r.Group == group && r.Version == version && r.Plural == plural)
                           ?? throw new ApiError(404, "NotFound", "the server could not find the requested resource");
            }
            var watch = IsTrue(query["watch"]);
            var verb = (request.HttpMethod, name, sub) switch
            {
                ("GET", null, _) => watch ? "watch" : "list",
                ("GET", _, _) => "get",
                ("POST", null, null) => "create",
                ("DELETE", not null, null) => "delete",
                _ => throw new ApiError(405, "MethodNotAllowed", $"the server does not allow this method on the requested resource"),
            };
            if (sub is not null && !(resource == ApiResource.Pods && sub == "log"))
            {
                throw new ApiError(404, "NotFound", "the server could not find the requested resource");
            }
            lock (_gate)
            {
                if (_forbidden.Contains(ns) || _forbidden.Contains($"{ns}/{resource.Plural}"))
                {
                    var what = sub is null ? resource.Plural : $"{resource.Plural}/{sub}";
                    throw new ApiError(403, "Forbidden",
                        $"{resource.QualifiedName}{(name is null ? "" : $" \"{name}\"")} is forbidden: User \"{User}\" cannot {verb} resource \"{what}\" in API group \"{resource.Group}\" in the namespace \"{ns}\"",
                        new JsonObject { ["name"] = name, ["group"] = resource.Group, ["kind"] = resource.Plural });
                }
            }
            switch (verb)
            {
                case "create":
                    status = 201;
                    await WriteJsonAsync(response, 201, Create(resource, ns, await ReadBodyAsync(request).ConfigureAwait(false))).ConfigureAwait(false);
                    break;
                case "get" when sub == "log":
                    await LogAsync(response, ns, name!, query, bearer!).ConfigureAwait(false);
                    break;
                case "get":
                    JsonObject copy;
                    lock (_gate) copy = (JsonObject)(Find(resource, ns, name!) ?? throw ApiError.NotFound(resource, name!)).DeepClone();
                    await WriteJsonAsync(response, 200, copy).ConfigureAwait(false);
                    break;
                case "list":
                    await WriteJsonAsync(response, 200, List(resource, ns, query)).ConfigureAwait(false);
                    break;
                case "watch":
                    await WatchAsync(response, resource, ns, query, bearer!).ConfigureAwait(false);
                    break;
                case "delete":
                    var options = request.HasEntityBody ? await ReadBodyAsync(request, requireJson: true).ConfigureAwait(false) : null;
                    var policy = query["propagationPolicy"] ?? options?["propagationPolicy"]?.GetValue<string>();
                    var deleting = Delete(resource, ns, name!, policy);
                    await WriteJsonAsync(response, 200, deleting ?? new JsonObject
                    {
                        ["kind"] = "Status",
                        ["apiVersion"] = "v1",
                        ["metadata"] = new JsonObject(),
                        ["status"] = "Success",
                        ["details"] = new JsonObject { ["name"] = name, ["group"] = resource.Group, ["kind"] = resource.Plural },
                    }).ConfigureAwait(false);
                    break;
            }
        }
        catch (ApiError e)
        {
            status = e.Code;
            await WriteJsonAsync(response, e.Code, e.ToStatus()).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The client went away mid-response.
        }
        catch (Exception e)
        {
            status = 500;
            await WriteJsonAsync(response, 500, new ApiError(500, "InternalError", e.ToString()).ToStatus()).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate) _requests[index] = _requests[index] with { Status = status };
            try
            {
                response.Close();
            }
            catch (Exception)
            {
            }
        }
    }

    private static bool IsTrue(string? value) => value is "true" or "1";

    private static async Task<JsonObject> ReadBodyAsync(HttpListenerRequest request, bool requireJson = true)
    {
        var type = request.ContentType ?? "";
        var media = type.Split(';')[0].Trim();
        if (requireJson && media != "application/json")
        {
            throw new ApiError(415, "UnsupportedMediaType",
                $"the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got \"{type}\")");
        }
        using var reader = new StreamReader(request.InputStream, Encoding.UTF8);
        var text = await reader.ReadToEndAsync().ConfigureAwait(false);
        try
        {
            return JsonNode.Parse(text) as JsonObject ?? throw ApiError.BadRequest("the request body must be a JSON object");
        }
        catch (JsonException e)
        {
            throw ApiError.BadRequest($"error decoding the request body: {e.Message}");
        }
    }

    private static async Task WriteJsonAsync(HttpListenerResponse response, int status, JsonNode body)
    {
        try
        {
            var bytes = Encoding.UTF8.GetBytes(body.ToJsonString());
            response.StatusCode = status;
            response.ContentType = "application/json";
            response.ContentLength64 = bytes.Length;
            await response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
        {
        }
    }

    // ---- create

    private JsonObject Create(ApiResource resource, string ns, JsonObject body)
    {
        if (body["apiVersion"] is { } apiVersion && apiVersion.GetValue<string>() != resource.ApiVersion)
        {
            throw ApiError.BadRequest($"the API version in the data ({apiVersion}) does not match the expected API version ({resource.ApiVersion})");
        }
        if (body["kind"] is { } kind && kind.GetValue<string>() != resource.Kind)
        {
            throw ApiError.BadRequest($"the kind in the data ({kind}) does not match the expected kind ({resource.Kind})");
        }
        var metadata = Metadata(body);
        if (metadata["namespace"] is { } given && given.GetValue<string>() != ns)
        {
            throw ApiError.BadRequest("the namespace of the provided object does not match the namespace sent on the request");
        }
        var name = metadata["name"]?.GetValue<string>();
        var causes = new Validation.Causes();
        if (string.IsNullOrEmpty(name))
        {
            if (metadata["generateName"]?.GetValue<string>() is { Length: > 0 } prefix) name = prefix + Random5();
            else causes.Required("metadata.name", "name or generateName is required");
        }
        if (!string.IsNullOrEmpty(name)) Validation.Name(name, causes, label: resource == ApiResource.Jobs, dns1035: resource == ApiResource.Services);
        Validation.Labels(metadata, "metadata", causes);
        if (resource == ApiResource.Jobs)
        {
            var template = body["spec"]?["template"] as JsonObject;
            Validation.Labels(template?["metadata"] as JsonObject, "spec.template.metadata", causes);
            Validation.PodSpec(template?["spec"] as JsonObject, "spec.template.spec", causes, ["OnFailure", "Never"]);
        }
        if (resource == ApiResource.Secrets) Secret(body, causes);
        if (resource == ApiResource.ConfigMaps) Validation.ConfigMap(body, causes);
        if (resource == ApiResource.Pods)
        {
            // The API server defaults restartPolicy to Always.
            if (body["spec"] is JsonObject podSpec) podSpec["restartPolicy"] ??= "Always";
            Validation.PodSpec(body["spec"] as JsonObject, "spec", causes, ["Always", "OnFailure", "Never"]);
        }
        if (resource == ApiResource.Deployments || resource == ApiResource.StatefulSets) Validation.Workload(body, causes);
        if (resource == ApiResource.Services) Validation.Service(body, causes);
        if (resource == ApiResource.PersistentVolumeClaims) Validation.Claim(body, causes);
        if (causes.Count > 0) throw ApiError.Invalid(resource, name ?? "", causes);
        lock (_gate)
        {
            if (!_namespaces.Contains(ns)) throw new ApiError(404, "NotFound", $"namespaces \"{ns}\" not found", new JsonObject { ["name"] = ns, ["kind"] = "namespaces" });
            if (Find(resource, ns, name!) is not null) throw ApiError.AlreadyExists(resource, name!);
            body["apiVersion"] = resource.ApiVersion;
            body["kind"] = resource.Kind;
            metadata["name"] = name;
            metadata["namespace"] = ns;
            metadata["uid"] = Guid.NewGuid().ToString();
            metadata["creationTimestamp"] = Now();
            if (resource != ApiResource.Secrets && resource != ApiResource.ConfigMaps) metadata["generation"] = 1;
            if (resource == ApiResource.Jobs) JobDefaults(body);
            Store(resource, ns, body);
            if (resource == ApiResource.Jobs) RunJobController(ns, body);
            if (resource == ApiResource.Pods) body["status"] = PendingStatus();
            if (resource == ApiResource.Deployments || resource == ApiResource.StatefulSets) ReplicaStatus(body, 0);
            if (resource == ApiResource.Services) RunEndpointsController(ns, body);
            if (resource == ApiResource.PersistentVolumeClaims) body["status"] = new JsonObject { ["phase"] = "Pending" };
            return (JsonObject)body.DeepClone();
        }
    }

    /// <summary>stringData is write-only: merged into data, base64-encoded.</summary>
    private static void Secret(JsonObject body, Validation.Causes causes)
    {
        var data = body["data"] as JsonObject ?? new JsonObject();
        foreach (var (key, value) in data)
        {
            try
            {
                Convert.FromBase64String(value?.GetValue<string>() ?? "");
            }
            catch (FormatException)
            {
                causes.Bad($"data[{key}]", value, "illegal base64 data");
            }
        }
        if (body["stringData"] is JsonObject stringData)
        {
            foreach (var (key, value) in stringData) data[key] = Convert.ToBase64String(Encoding.UTF8.GetBytes(value?.GetValue<string>() ?? ""));
            body.Remove("stringData");
        }
        body["data"] = data;
        body["type"] ??= "Opaque";
    }

    /// <summary>What the API server defaults on a Job: parallelism, completions, backoffLimit, and the controller-uid selector and labels.</summary>
    private static void JobDefaults(JsonObject job)
    {
        var uid = job["metadata"]!["uid"]!.GetValue<string>();
        var name = NameOf(job);
        var spec = Child(job, "spec");
        spec["parallelism"] ??= 1;
        spec["completions"] ??= 1;
        spec["backoffLimit"] ??= 6;
        spec["completionMode"] ??= "NonIndexed";
        spec["suspend"] ??= false;
        spec["selector"] ??= new JsonObject { ["matchLabels"] = new JsonObject { ["batch.kubernetes.io/controller-uid"] = uid } };
        var labels = Child(Child((JsonObject)spec["template"]!, "metadata"), "labels");
        labels["batch.kubernetes.io/controller-uid"] = uid;
        labels["batch.kubernetes.io/job-name"] = name;
        labels["controller-uid"] = uid;
        labels["job-name"] = name;
        job["status"] = new JsonObject();
    }

    // ---- list and watch

    private JsonObject List(ApiResource resource, string ns, System.Collections.Specialized.NameValueCollection query)
    {
        var labels = Selectors.Labels(query["labelSelector"]);
        var fields = Selectors.Fields(query["fieldSelector"]);
        lock (_gate)
        {
            var items = _objects.Where(p => p.Key.Resource == resource && p.Key.Namespace == ns && labels(p.Value) && fields(p.Value))
                .OrderBy(p => p.Key.Name, StringComparer.Ordinal)
                .Select(p => (JsonNode?)p.Value.DeepClone()).ToArray();
            return new JsonObject
            {
                ["kind"] = resource.ListKind,
                ["apiVersion"] = resource.ApiVersion,
                ["metadata"] = new JsonObject { ["resourceVersion"] = _version.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                ["items"] = new JsonArray(items),
            };
        }
    }

    private async Task WatchAsync(HttpListenerResponse response, ApiResource resource, string ns, System.Collections.Specialized.NameValueCollection query, string bearer)
    {
        var labels = Selectors.Labels(query["labelSelector"]);
        var fields = Selectors.Fields(query["fieldSelector"]);
        var timeout = int.TryParse(query["timeoutSeconds"], out var seconds) && seconds > 0 ? TimeSpan.FromSeconds(seconds) : TimeSpan.FromMinutes(30);
        var watch = OpenWatch(resource, ns, o => labels(o) && fields(o), query["resourceVersion"], out var gone);
        response.StatusCode = 200;
        response.ContentType = "application/json";
        response.SendChunked = true;
        var output = response.OutputStream;
        if (watch is null)
        {
            await WriteLineAsync(output, gone!).ConfigureAwait(false);
            return;
        }
        var until = Stream(bearer);
        until.CancelAfter(timeout);
        try
        {
            await output.FlushAsync().ConfigureAwait(false);
            await foreach (var line in watch.Lines.Reader.ReadAllAsync(until.Token).ConfigureAwait(false))
            {
                await WriteLineAsync(output, line).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            CloseWatch(watch);
            EndStream(until);
        }
    }

    private static async Task WriteLineAsync(Stream output, string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line + "\n");
        await output.WriteAsync(bytes).ConfigureAwait(false);
        await output.FlushAsync().ConfigureAwait(false);
    }

    // ---- pod logs

    private async Task LogAsync(HttpListenerResponse response, string ns, string podName, System.Collections.Specialized.NameValueCollection query, string bearer)
    {
        PodLog log;
        lock (_gate)
        {
            var pod = Find(ApiResource.Pods, ns, podName) ?? throw ApiError.NotFound(ApiResource.Pods, podName);
            var containers = (pod["spec"]?["containers"] as JsonArray ?? []).Select(c => c?["name"]?.GetValue<string>() ?? "").ToList();
            var container = query["container"];
            if (container is null && containers.Count > 1)
            {
                throw ApiError.BadRequest($"a container name must be specified for pod {podName}, choose one of: [{string.Join(' ', containers)}]");
            }
            container ??= containers.FirstOrDefault();
            if (!containers.Contains(container ?? "")) throw ApiError.BadRequest($"container {container} is not valid for pod {podName}");
            if (pod["status"]?["phase"]?.GetValue<string>() == "Pending")
            {
                throw ApiError.BadRequest($"container \"{container}\" in pod \"{podName}\" is waiting to start: ContainerCreating");
            }
            log = _logs.TryGetValue((ns, podName), out var found) ? found : _logs[(ns, podName)] = new PodLog();
        }
        var follow = IsTrue(query["follow"]);
        DateTimeOffset? since = int.TryParse(query["sinceSeconds"], out var sinceSeconds) && sinceSeconds > 0 ? DateTimeOffset.UtcNow.AddSeconds(-sinceSeconds) : null;
        response.StatusCode = 200;
        response.ContentType = "text/plain";
        response.SendChunked = true;
        var output = response.OutputStream;
        var sent = 0;
        var stop = Stream(bearer);
        try
        {
            while (true)
            {
                Task changed;
                List<string> lines;
                bool ended;
                lock (_gate)
                {
                    lines = log.Lines.Skip(sent).Where(l => since is null || l.Time >= since).Select(l => l.Line).ToList();
                    sent = log.Lines.Count;
                    ended = log.Ended;
                    changed = log.Changed.Task;
                }
                foreach (var line in lines) await WriteLineAsync(output, line).ConfigureAwait(false);
                if (!follow || ended) return;
                await changed.WaitAsync(stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            EndStream(stop);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        lock (_gate)
        {
            foreach (var watch in _watches) watch.Lines.Writer.TryComplete();
            foreach (var log in _logs.Values)
            {
                log.Ended = true;
                log.Pulse();
            }
        }
        _http.Dispose();
    }
}
