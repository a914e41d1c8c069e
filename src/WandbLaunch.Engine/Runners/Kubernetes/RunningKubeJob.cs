using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Identifiers;

namespace WandbLaunch.Engine.Runners.Kubernetes;

/// <summary>
/// A job's workload on a cluster, followed with the watch API: the pods labelled with the run id (a pod running →
/// started; a DisruptionTarget condition → preempted; unschedulable or failing image pulls and crash loops →
/// warnings) and the workload itself (Complete → finished, Failed → failed, deleted → failed, or stopped when this
/// agent deleted it). Each watch resumes from the last resourceVersion it saw and lists again when the server
/// answers 410 Gone. Pod logs are followed into the job log. At the end the API-key Secret is deleted.
/// </summary>
internal sealed class RunningKubeJob : IRunningJob
{
    private static readonly TimeSpan LogDrain = TimeSpan.FromSeconds(5);

    /// <summary>Container waiting reasons worth a warning: the job cannot make progress until someone acts.</summary>
    internal static readonly IReadOnlySet<string> WaitingReasons = new HashSet<string>(StringComparer.Ordinal)
    {
        "ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff", "CreateContainerConfigError", "InvalidImageName",
    };

    private readonly KubeAccess _access;
    private readonly KubeWorkload _workload;
    private readonly JobLog _log;
    private readonly Action<string> _warn;
    private readonly string? _secretName;
    private readonly Func<Action<string>, Task>? _endCleanup;
    private readonly int? _logsSinceSeconds;
    private readonly string? _uid;
    private readonly string _podSelector;
    private readonly string _failureStage;
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<Verdict> _verdict = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _watchStop = new();
    private readonly CancellationTokenSource _logStop = new();
    private volatile bool _detached;
    private readonly object _lock = new();
    private readonly Dictionary<string, V1Pod> _pods = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Task> _logs = new(StringComparer.Ordinal);
    private readonly HashSet<string> _warned = new(StringComparer.Ordinal);
    private volatile bool _cancelled;

    /// <param name="access">The cluster.</param>
    /// <param name="workload">The Job or custom resource.</param>
    /// <param name="runId">The run id its pods are labelled with.</param>
    /// <param name="log">The job log: the pods' output and the agent's notes.</param>
    /// <param name="warn">Records a warning on the job.</param>
    /// <param name="secretName">The run's API-key Secret, deleted at the end; null when there is none.</param>
    /// <param name="uid">The workload's uid: pods owned by another object of the same kind (an earlier attempt of the run) are ignored.</param>
    /// <param name="logsSinceSeconds">Follow only this much recent output (after a re-attach); null for all of it.</param>
    /// <param name="podSelector">The label selector of the workload's pods; by default the run-id label.</param>
    /// <param name="failureStage">The stage a failure is recorded with: run, or build for a kaniko build Job.</param>
    /// <param name="endCleanup">Run when the job ends (not when it is left to a later agent), told to the job log: deletes the run's additional services.</param>
    public RunningKubeJob(KubeAccess access, KubeWorkload workload, string? uid, string runId, JobLog log, Action<string> warn, string? secretName, int? logsSinceSeconds,
        string? podSelector = null, string failureStage = FailureStage.Run, Func<Action<string>, Task>? endCleanup = null)
    {
        // The run's additional services carry its run id too (a Pod service on its own metadata): they are not the job's pods.
        _podSelector = podSelector ?? $"{JobManifest.RunIdLabel}={RunNames.Of(runId)},!{AdditionalServices.AuxiliaryLabel}";
        _endCleanup = endCleanup;
        _failureStage = failureStage;
        _access = access;
        _workload = workload;
        _uid = uid;
        _log = log;
        _warn = warn;
        _secretName = secretName;
        _logsSinceSeconds = logsSinceSeconds;
        Handle = workload.Handle;
        Description = workload.ToString();
        Completion = Task.Run(MonitorAsync);
        Started = Task.WhenAny(_started.Task, Completion);
    }

    public string Handle { get; }

    public string Description { get; }

    public Task Started { get; }

    public Task<JobOutcome> Completion { get; }

    private sealed record Verdict(LaunchJobState State, string Message, string? Stage = null);

    private async Task<JobOutcome> MonitorAsync()
    {
        try
        {
            var pods = WatchLoopAsync("pods", ListPodsAsync, WatchPods, p => p.Metadata?.ResourceVersion, OnPodsListed, HandlePodAsync);
            var workload = WatchLoopAsync(_workload.Kind, c => _workload.ListAsync(_access, c), (rv, onError, c) => _workload.WatchAsync(_access, rv, onError, c),
                o => JsonTree.TryGetString(o["metadata"]?["resourceVersion"], out var rv) ? rv : null, OnWorkloadListedAsync, HandleWorkloadAsync);
            var verdict = await _verdict.Task.ConfigureAwait(false);
            await _watchStop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(pods, workload).ConfigureAwait(false);
            if (_detached)
            {
                // Left running for a later agent: stop reading, delete nothing (the API-key Secret is the job's).
                await _logStop.CancelAsync().ConfigureAwait(false);
                Task[] logs;
                lock (_lock) logs = _logs.Values.ToArray();
                await Task.WhenAll(logs).ConfigureAwait(false);
                return JobOutcome.Stopped(verdict.Message);
            }

            if (verdict.State == LaunchJobState.Finished)
            {
                // The pod and workload watches are separate streams: the workload's Complete may arrive before
                // the pod watch showed the pod running, and its output must still be read.
                await FollowEndedPodsAsync().ConfigureAwait(false);
            }
            if (verdict.State == LaunchJobState.Preempted && !_cancelled)
            {
                // The run is re-queued with the same name: the old workload (and its pods, first) must go.
                await _workload.DeleteQuietlyAsync(_access, Note, "the preempted run is re-queued").ConfigureAwait(false);
            }
            await DrainLogsAsync().ConfigureAwait(false);
            var outcome = Outcome(verdict);
            await DeleteSecretAsync().ConfigureAwait(false);
            return outcome;
        }
        catch (Exception e)
        {
            Note($"monitoring {_workload} failed: {e.GetType().Name}: {e.Message}");
            await DeleteSecretAsync().ConfigureAwait(false);
            return JobOutcome.Failed(FailureStage.Agent, $"The agent failed while following {_workload}: {e.Message}");
        }
        finally
        {
            _started.TrySetResult();
        }
    }

    private void Decide(Verdict verdict)
    {
        if (_verdict.TrySetResult(verdict)) Note(verdict.Message);
    }

    // ---- watching

    private async Task WatchLoopAsync<T>(string what,
        Func<CancellationToken, Task<(IReadOnlyList<T> Items, string ResourceVersion)>> list,
        Func<string, Action<Exception>, CancellationToken, IAsyncEnumerable<(WatchEventType Type, T Object)>> watch,
        Func<T, string?> resourceVersionOf,
        Func<IReadOnlyList<T>, Task> listed,
        Func<WatchEventType, T, Task> handle)
    {
        var cancel = _watchStop.Token;
        string? resourceVersion = null;
        var failures = 0;
        while (!cancel.IsCancellationRequested)
        {
            var began = DateTime.UtcNow;
            try
            {
                if (resourceVersion is null)
                {
                    var (items, listVersion) = await list(cancel).ConfigureAwait(false);
                    resourceVersion = listVersion;
                    await listed(items).ConfigureAwait(false);
                }
                var expired = false;
                Exception? streamError = null;
                var events = watch(resourceVersion, e =>
                {
                    if (e is KubernetesException { Status.Code: 410 }) expired = true;
                    else streamError = e;
                }, cancel);
                await foreach (var (type, item) in events.WithCancellation(cancel).ConfigureAwait(false))
                {
                    if (resourceVersionOf(item) is { Length: > 0 } version) resourceVersion = version;
                    failures = 0;
                    if (type != WatchEventType.Bookmark) await handle(type, item).ConfigureAwait(false);
                }
                if (expired)
                {
                    Note($"the watch on {what} expired (410 Gone: resourceVersion {resourceVersion} is too old); listing {what} again");
                    resourceVersion = null;
                    continue;
                }
                if (streamError is not null) Note($"the watch on {what} reported: {streamError.Message}; watching again");
                // The server ends watches after a while; watch again from the last resourceVersion seen.
                if (DateTime.UtcNow - began < TimeSpan.FromSeconds(1)) await Task.Delay(TimeSpan.FromSeconds(1), cancel).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                return;
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Gone)
            {
                Note($"the watch on {what} expired (410 Gone); listing {what} again");
                resourceVersion = null;
            }
            catch (Exception e) when (EndedBeforeAnyEvent(e))
            {
                // The server ended the watch (its timeoutSeconds ran out) before anything happened, which the client
                // reports as a read past the end of the response. Nothing was missed: watch again from the same
                // resourceVersion.
                try
                {
                    if (DateTime.UtcNow - began < TimeSpan.FromSeconds(1)) await Task.Delay(TimeSpan.FromSeconds(1), cancel).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            catch (Exception e)
            {
                failures++;
                var delay = TimeSpan.FromSeconds(Math.Min(30, Math.Pow(2, Math.Min(failures, 6) - 1)));
                if (failures == 1 || failures % 10 == 0)
                {
                    var why = _access.Translate(e, "watch", what, _workload.Namespace)?.Message ?? $"{e.GetType().Name}: {e.Message}";
                    Note($"watching {what} failed ({why}); trying again in {delay.TotalSeconds:0} s");
                }
                try
                {
                    await Task.Delay(delay, cancel).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>
    /// A watch response that ended before its first line: the client's reader of watch responses throws
    /// EndOfStreamException (wrapped by HttpContent in an HttpRequestException) when it finds no first line.
    /// </summary>
    private static bool EndedBeforeAnyEvent(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is EndOfStreamException) return true;
        }
        return false;
    }

    private async Task<(IReadOnlyList<V1Pod>, string)> ListPodsAsync(CancellationToken cancellationToken)
    {
        var list = await _access.CallAsync("list", "pods", _workload.Namespace,
            c => c.CoreV1.ListNamespacedPodAsync(_workload.Namespace, labelSelector: _podSelector, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return (list.Items.ToList(), list.Metadata?.ResourceVersion ?? "");
    }

    private IAsyncEnumerable<(WatchEventType, V1Pod)> WatchPods(string resourceVersion, Action<Exception> onError, CancellationToken cancellationToken) =>
        _access.Client.CoreV1.WatchListNamespacedPodAsync(_workload.Namespace, allowWatchBookmarks: true, labelSelector: _podSelector,
            resourceVersion: resourceVersion, timeoutSeconds: KubeWorkload.WatchTimeoutSeconds, onError: onError, cancellationToken: cancellationToken);

    private async Task OnPodsListed(IReadOnlyList<V1Pod> pods)
    {
        foreach (var pod in pods) await HandlePodAsync(WatchEventType.Modified, pod).ConfigureAwait(false);
    }

    private async Task OnWorkloadListedAsync(IReadOnlyList<JsonObject> items)
    {
        if (items.Count == 0)
        {
            await HandleWorkloadAsync(WatchEventType.Deleted, new JsonObject()).ConfigureAwait(false);
            return;
        }
        foreach (var item in items) await HandleWorkloadAsync(WatchEventType.Modified, item).ConfigureAwait(false);
    }

    // ---- pods

    /// <summary>Pods of this run's workload; a pod owned by another object of the workload's kind belongs to an earlier attempt.</summary>
    private bool Owned(V1Pod pod)
    {
        var owners = pod.Metadata?.OwnerReferences;
        if (owners is null || owners.Count == 0 || _uid is null) return true;
        if (owners.Any(o => o.Uid == _uid)) return true;
        return !owners.Any(o => o.Kind == _workload.Kind);
    }

    private Task HandlePodAsync(WatchEventType type, V1Pod pod)
    {
        var name = pod.Metadata?.Name;
        if (name is null || !Owned(pod)) return Task.CompletedTask;
        if (type == WatchEventType.Deleted) return Task.CompletedTask;
        lock (_lock) _pods[name] = pod;
        var status = pod.Status;
        var phase = status?.Phase;
        if (phase is "Running" or "Succeeded" or "Failed")
        {
            if (_started.TrySetResult()) Note($"pod {name} is {phase.ToLowerInvariant()}{(status?.HostIP is { } host ? $" on {pod.Spec?.NodeName ?? host}" : "")}");
            Follow(pod);
        }
        foreach (var condition in status?.Conditions ?? [])
        {
            if (condition.Type == "DisruptionTarget" && condition.Status == "True" && !_cancelled)
            {
                Decide(new Verdict(LaunchJobState.Preempted,
                    $"Pod {name} was disrupted ({condition.Reason}{(string.IsNullOrEmpty(condition.Message) ? "" : ": " + condition.Message)}).", _failureStage));
            }
            else if (condition.Type == "PodScheduled" && condition.Status == "False" && condition.Reason == "Unschedulable")
            {
                Warn($"unschedulable:{name}", $"Pod {name} cannot be scheduled: {condition.Message}");
            }
        }
        foreach (var container in (status?.InitContainerStatuses ?? []).Concat(status?.ContainerStatuses ?? []))
        {
            if (container.State?.Waiting is { Reason: { } reason } waiting && WaitingReasons.Contains(reason))
            {
                Warn($"{reason}:{name}:{container.Name}",
                    $"Pod {name}, container {container.Name}: {reason}{(string.IsNullOrEmpty(waiting.Message) ? "" : ": " + waiting.Message)}");
            }
        }
        return Task.CompletedTask;
    }

    private void Warn(string key, string message)
    {
        lock (_lock)
        {
            if (!_warned.Add(key)) return;
        }
        try
        {
            _warn(message);
        }
        catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException)
        {
        }
    }

    // ---- the workload

    private async Task HandleWorkloadAsync(WatchEventType type, JsonObject workload)
    {
        if (type == WatchEventType.Deleted)
        {
            Decide(_cancelled
                ? new Verdict(LaunchJobState.Stopped, $"Stopped on request; {_workload} was deleted.")
                : new Verdict(LaunchJobState.Failed, $"{_workload} was deleted before it finished (not by this agent).", _failureStage));
            return;
        }
        if (_uid is not null && JsonTree.TryGetString(workload["metadata"]?["uid"], out var uid) && uid != _uid)
        {
            Decide(new Verdict(LaunchJobState.Failed, $"{_workload} was deleted and another object of that name created in its place.", _failureStage));
            return;
        }
        var status = workload["status"] as JsonObject;
        if (status is null) return;
        var (finished, failed) = _workload.IsBatchJob ? JobConditions(status) : CustomStatus(status);
        if (finished is not null)
        {
            Decide(new Verdict(LaunchJobState.Finished, finished));
        }
        else if (failed is not null)
        {
            // A preempted pod fails its Job; the pod's DisruptionTarget condition may not have reached the pod
            // watch yet, so look at the pods once more before calling it a failure.
            try
            {
                var (pods, _) = await ListPodsAsync(_watchStop.Token).ConfigureAwait(false);
                foreach (var pod in pods) await HandlePodAsync(WatchEventType.Modified, pod).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Note($"could not list the pods of {_workload}: {e.Message}");
            }
            Decide(new Verdict(LaunchJobState.Failed, failed, _failureStage));
        }
    }

    private static IEnumerable<JsonObject> TrueConditions(JsonObject status) =>
        (status["conditions"] as JsonArray ?? []).OfType<JsonObject>()
            .Where(c => JsonTree.TryGetString(c["status"], out var s) && s == "True");

    private static string Text(JsonNode? node) => JsonTree.TryGetString(node, out var s) ? s : "";

    private static string Describe(JsonObject condition)
    {
        var reason = Text(condition["reason"]);
        var message = Text(condition["message"]);
        return reason.Length == 0 ? message : message.Length == 0 ? reason : $"{reason}: {message}";
    }

    /// <summary>A batch/v1 Job: condition Complete → finished, Failed → failed.</summary>
    private (string? Finished, string? Failed) JobConditions(JsonObject status)
    {
        foreach (var condition in TrueConditions(status))
        {
            switch (Text(condition["type"]))
            {
                case "Complete":
                    return ($"{_workload} completed.", null);
                case "Failed":
                    return (null, $"{_workload} failed ({Describe(condition)}).");
            }
        }
        return (null, null);
    }

    /// <summary>
    /// A custom resource: Kubeflow's conditions (Succeeded, Failed), Volcano's <c>status.state.phase</c>
    /// (Completed; Failed, Aborted, Terminated), or a plain <c>status.phase</c>.
    /// </summary>
    private (string? Finished, string? Failed) CustomStatus(JsonObject status)
    {
        foreach (var condition in TrueConditions(status).Reverse())
        {
            switch (Text(condition["type"]))
            {
                case "Succeeded" or "Complete" or "Completed":
                    return ($"{_workload} succeeded.", null);
                case "Failed":
                    return (null, $"{_workload} failed ({Describe(condition)}).");
            }
        }
        var phase = Text((status["state"] as JsonObject)?["phase"]) is { Length: > 0 } p ? p : Text(status["phase"]);
        return phase switch
        {
            "Completed" or "Succeeded" => ($"{_workload} completed.", null),
            "Failed" or "Aborted" or "Terminated" => (null, $"{_workload} ended in phase {phase}."),
            _ => (null, null),
        };
    }

    // ---- logs

    private void Follow(V1Pod pod)
    {
        var name = pod.Metadata.Name;
        var container = pod.Spec?.Containers?.FirstOrDefault()?.Name;
        lock (_lock)
        {
            if (_logs.ContainsKey(name) || _logStop.IsCancellationRequested) return;
            var prefix = _logs.Count == 0 ? "" : $"[{name}] ";
            _logs[name] = Task.Run(() => FollowAsync(name, container, prefix));
        }
    }

    private async Task FollowAsync(string pod, string? container, string prefix)
    {
        var cancel = _logStop.Token;
        try
        {
            using var stream = await _access.StreamAsync("get", "pods/log", _workload.Namespace,
                c => c.CoreV1.ReadNamespacedPodLogAsync(pod, _workload.Namespace, container: container, follow: true, sinceSeconds: _logsSinceSeconds,
                    cancellationToken: cancel)).ConfigureAwait(false);
            using var reader = new StreamReader(stream);
            while (await reader.ReadLineAsync(cancel).ConfigureAwait(false) is { } line)
            {
                try
                {
                    _log.Output(prefix + line);
                }
                catch (ObjectDisposedException)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            var why = e is HttpOperationException http ? KubeAccess.StatusMessage(http) : _access.Translate(e, "get", "pods/log", _workload.Namespace)?.Message ?? e.Message;
            Note($"could not follow the log of pod {pod}: {why}");
        }
    }

    private async Task FollowEndedPodsAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var (pods, _) = await ListPodsAsync(timeout.Token).ConfigureAwait(false);
            foreach (var pod in pods) await HandlePodAsync(WatchEventType.Modified, pod).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Note($"could not list the pods of {_workload} to read their output: {e.Message}");
        }
    }

    private async Task DrainLogsAsync()
    {
        Task[] logs;
        lock (_lock) logs = _logs.Values.ToArray();
        // The streams end when the containers end; a preempted or deleted pod's may need a moment.
        await Task.WhenAny(Task.WhenAll(logs), Task.Delay(LogDrain)).ConfigureAwait(false);
        await _logStop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(logs).ConfigureAwait(false);
    }

    // ---- the outcome

    private JobOutcome Outcome(Verdict verdict)
    {
        switch (verdict.State)
        {
            case LaunchJobState.Finished:
                return JobOutcome.Finished();
            case LaunchJobState.Stopped:
                return JobOutcome.Stopped(verdict.Message);
            case LaunchJobState.Preempted:
                return JobOutcome.Preempted(verdict.Message);
        }
        var lines = new List<string> { verdict.Message };
        int? exitCode = null;
        List<V1Pod> pods;
        lock (_lock) pods = _pods.Values.ToList();
        foreach (var pod in pods)
        {
            foreach (var container in pod.Status?.ContainerStatuses ?? [])
            {
                if (container.State?.Terminated is not { } ended || (ended.ExitCode == 0 && ended.Reason == "Completed")) continue;
                exitCode ??= ended.ExitCode;
                var line = $"Pod {pod.Metadata.Name}, container {container.Name}: exited with code {ended.ExitCode}{(string.IsNullOrEmpty(ended.Reason) ? "" : $" ({ended.Reason})")}";
                if (!string.IsNullOrWhiteSpace(ended.Message)) line += $"; termination message: {ended.Message.Trim()}";
                lines.Add(line + ".");
            }
        }
        return JobOutcome.Failed(verdict.Stage ?? _failureStage, _log.WithLastOutput(string.Join('\n', lines)), exitCode);
    }

    // ---- cancel and clean up

    public bool CanDetach => true;

    public async Task DetachAsync()
    {
        _detached = true;
        if (_verdict.TrySetResult(new Verdict(LaunchJobState.Running, $"stopped following {_workload}; it keeps running"))) Note($"stopped following {_workload}; it keeps running");
        await Completion.ConfigureAwait(false);
    }

    public async Task CancelAsync(TimeSpan grace)
    {
        _cancelled = true;
        if (_verdict.Task.IsCompleted) return;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (!await _workload.DeleteAsync(_access, "Foreground", CancellationToken.None).ConfigureAwait(false))
                {
                    Decide(new Verdict(LaunchJobState.Stopped, $"Stopped on request; {_workload} was already gone."));
                }
                else
                {
                    Note($"deleted {_workload} (propagation Foreground: its pods first)");
                }
                return;
            }
            catch (Exception e) when (attempt < 4)
            {
                Note($"could not delete {_workload}: {e.Message}; trying again");
                await Task.Delay(TimeSpan.FromSeconds(attempt)).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                Decide(new Verdict(LaunchJobState.Failed,
                    $"The job was to be stopped, but {_workload} could not be deleted ({e.Message}); it may still run on the cluster.", FailureStage.Agent));
                return;
            }
        }
    }

    private async Task DeleteSecretAsync()
    {
        if (_secretName is not null) await RunScopedObject.DeleteQuietlyAsync(_access, "Secret", _workload.Namespace, _secretName, Note).ConfigureAwait(false);
        if (_endCleanup is not null)
        {
            try
            {
                await _endCleanup(Note).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Note($"could not clean up after {_workload}: {e.Message}");
            }
        }
    }

    private void Note(string line)
    {
        try
        {
            _log.Agent(line);
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
