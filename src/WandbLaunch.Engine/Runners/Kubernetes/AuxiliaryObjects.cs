using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Identifiers;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Runners.Kubernetes;

/// <summary>
/// A run's additional services on the cluster (<see cref="AdditionalServices"/> renders them): created before the
/// workload, awaited as W&amp;B's <c>_wait_for_resource_ready</c> awaits them, and deleted by their labels when the
/// job ends (unless the agent keeps them, as W&amp;B's does).
/// </summary>
public static class AuxiliaryObjects
{
    /// <summary>W&amp;B's <c>wait_for_ready</c> and <c>wait_timeout</c> (seconds) of <c>resource_args.kubernetes</c>.</summary>
    public sealed record Wait(bool Enabled, double TimeoutSeconds)
    {
        public static readonly Wait Default = new(true, 300);

        /// <summary>Reads them from the queue's resource args: a boolean and a positive number of seconds (at most a day).</summary>
        public static Wait From(JsonObject args)
        {
            var enabled = true;
            if (args[JobManifest.WaitForReadyKey] is { } flag)
            {
                if (flag is not JsonValue v || v.GetValueKind() is not (System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False))
                {
                    throw LaunchException.Invalid("InvalidKubernetesWait",
                        $"resource_args.kubernetes.{JobManifest.WaitForReadyKey} must be true or false; it is {JsonTree.KindOf(flag)} {JsonTree.Show(flag)}.", JobManifest.WaitForReadyKey);
                }
                enabled = v.GetValueKind() == System.Text.Json.JsonValueKind.True;
            }
            var timeout = Default.TimeoutSeconds;
            if (args[JobManifest.WaitTimeoutKey] is { } given)
            {
                if (!JsonTree.TryGetNumber(given, out timeout) || timeout <= 0 || timeout > 86_400)
                {
                    throw LaunchException.Invalid("InvalidKubernetesWait",
                        $"resource_args.kubernetes.{JobManifest.WaitTimeoutKey} must be a number of seconds above 0 and at most 86400; it is {JsonTree.KindOf(given)} {JsonTree.Show(given)}.",
                        JobManifest.WaitTimeoutKey);
                }
            }
            return new Wait(enabled, timeout);
        }
    }

    /// <summary>How long W&amp;B waits for a kind it has no readiness check for.</summary>
    internal static readonly TimeSpan Pause = TimeSpan.FromSeconds(5);

    /// <summary>Creates the services in order, then awaits them together when <paramref name="wait"/> says so.</summary>
    /// <exception cref="JobFailedException">A service was refused, belongs to something else, or was not ready in time.</exception>
    public static async Task CreateAsync(KubeAccess access, IReadOnlyList<JsonObject> services, string runId, Wait wait, JobLog log, Action<string> warn, CancellationToken cancellationToken)
    {
        if (services.Count == 0) return;
        log.Agent($"creating additional services: {string.Join(", ", services.Select(AdditionalServices.Describe))}");
        foreach (var service in services) await CreateOneAsync(access, service, runId, log, warn, cancellationToken).ConfigureAwait(false);
        if (!wait.Enabled)
        {
            log.Agent($"not waiting for the additional services to be ready ({JobManifest.WaitForReadyKey}: false)");
            return;
        }
        log.Agent($"waiting up to {Seconds(wait.TimeoutSeconds)} s for {string.Join(", ", services.Select(AdditionalServices.Describe))} to be ready");
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var waits = services.Select(async s =>
        {
            try
            {
                await WaitReadyAsync(access, s, wait.TimeoutSeconds, log, failed.Token).ConfigureAwait(false);
            }
            catch
            {
                await failed.CancelAsync().ConfigureAwait(false);
                throw;
            }
        }).ToList();
        try
        {
            await Task.WhenAll(waits).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // One service failed and cancelled the others' waits: report the failure, not the cancellations.
            throw waits.Select(w => w.Exception?.InnerException).First(e => e is not null and not OperationCanceledException)!;
        }
    }

    private static async Task CreateOneAsync(KubeAccess access, JsonObject service, string runId, JobLog log, Action<string> warn, CancellationToken cancellationToken)
    {
        var kind = AdditionalServices.KindOf(service);
        var api = KubeObjectApi.For(kind);
        var name = service["metadata"]!["name"]!.GetValue<string>();
        var @namespace = service["metadata"]!["namespace"]!.GetValue<string>();
        var what = AdditionalServices.Describe(service);
        var typed = api.Typed(service);
        foreach (var path in KubeWorkload.Dropped(service, KubeWorkload.ToJson(typed), ""))
        {
            warn($"The additional service {what} sets {path}, which is not a field of {kind}; it was left out.");
        }
        await RunScopedObject.CreateAsync(access, api, typed, name, @namespace, runId, $"additional service {what}", FailureStage.Run, log.Agent,
            isEarlierAttempt: existing => existing["metadata"]?["labels"]?[AdditionalServices.AuxiliaryLabel] is not null,
            notThisRuns: owner => $"Cannot create additional service {what}: a {kind.Kind} of that name already exists{(owner is null ? "" : $" for run {owner}")} and is not this run's; " +
                                  "give the service another metadata.name (e.g. with ${run_id} in it) or delete the old one.",
            cancellationToken).ConfigureAwait(false);
        log.Agent($"created additional service {what}");
    }

    /// <summary>
    /// W&amp;B's readiness checks (<c>_wait_for_deployment_ready</c>, <c>_service_ready</c>, <c>_pod_ready</c>,
    /// <c>_wait_with_timeout</c>): polled until ready; a 404 (an object not there yet, a Service's Endpoints not made
    /// yet) is tried again, as is an unreachable server; the deadline fails the job with W&amp;B's message.
    /// </summary>
    private static async Task WaitReadyAsync(KubeAccess access, JsonObject service, double timeoutSeconds, JobLog log, CancellationToken cancellationToken)
    {
        var kind = AdditionalServices.KindOf(service);
        var name = service["metadata"]!["name"]!.GetValue<string>();
        var @namespace = service["metadata"]!["namespace"]!.GetValue<string>();
        var what = AdditionalServices.Describe(service);
        var clock = Stopwatch.StartNew();
        if (AdditionalServices.ReadinessOf(kind) == AdditionalServices.Readiness.Pause)
        {
            log.Agent($"{what} has no readiness check; waiting {Pause.TotalSeconds:0} s");
            await Task.Delay(Pause, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (AdditionalServices.ReadinessOf(kind) == AdditionalServices.Readiness.Endpoints && service["spec"]?["selector"] is not JsonObject { Count: > 0 })
        {
            log.Agent($"{what} selects no pods, so it gets no endpoints to wait for");
            return;
        }
        var api = AdditionalServices.ReadinessOf(kind) == AdditionalServices.Readiness.Endpoints ? KubeObjectApi.Endpoints : KubeObjectApi.For(kind);
        var state = "not created yet";
        var delay = TimeSpan.FromMilliseconds(250);
        var unreachableNoted = false;
        while (true)
        {
            try
            {
                var current = await api.ReadOrNullAsync(access, name, @namespace, cancellationToken).ConfigureAwait(false);
                if (current is not null)
                {
                    (var ready, state) = Ready(AdditionalServices.ReadinessOf(kind), current);
                    if (ready)
                    {
                        log.Agent($"{what} is ready after {clock.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s");
                        return;
                    }
                }
                else if (AdditionalServices.ReadinessOf(kind) == AdditionalServices.Readiness.Endpoints) state = "no endpoints yet";
            }
            catch (KubeAccessException e) when (e.Fault == KubeFault.Unreachable)
            {
                if (!unreachableNoted) log.Agent($"waiting for {what}: {e.Message}; trying again");
                unreachableNoted = true;
            }
            catch (Exception e) when (e is LaunchException or HttpOperationException)
            {
                var why = e is HttpOperationException http ? KubeAccess.Explain(http) : e.Message;
                throw new JobFailedException(FailureStage.Run, $"Error waiting for resource '{name}' ({what}): {why}", e);
            }
            var left = TimeSpan.FromSeconds(timeoutSeconds) - clock.Elapsed;
            if (left <= TimeSpan.Zero)
            {
                throw new JobFailedException(FailureStage.Run, $"Resource '{name}' not ready within {Seconds(timeoutSeconds)} seconds ({what}: {state}).");
            }
            await Task.Delay(delay < left ? delay : left, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromMilliseconds(Math.Min(2000, delay.TotalMilliseconds * 2));
        }
    }

    private static (bool Ready, string State) Ready(AdditionalServices.Readiness readiness, JsonObject current)
    {
        switch (readiness)
        {
            case AdditionalServices.Readiness.Replicas:
                var wanted = JsonTree.TryGetNumber(current["spec"]?["replicas"], out var w) ? w : 1;
                var replicas = JsonTree.TryGetNumber(current["status"]?["replicas"], out var r) ? r : 0;
                var readyReplicas = JsonTree.TryGetNumber(current["status"]?["readyReplicas"], out var rr) ? rr : 0;
                return (wanted == 0 || (replicas > 0 && readyReplicas >= replicas), $"{readyReplicas} of {Math.Max(replicas, wanted)} replicas ready");
            case AdditionalServices.Readiness.Endpoints:
                var addresses = (current["subsets"] as JsonArray ?? []).OfType<JsonObject>().Any(s => s["addresses"] is JsonArray { Count: > 0 });
                return (addresses, addresses ? "has endpoints" : "no ready endpoints");
            default:
                var phase = JsonTree.TryGetString(current["status"]?["phase"], out var p) ? p : "Pending";
                var statuses = (current["status"]?["containerStatuses"] as JsonArray ?? []).OfType<JsonObject>().ToList();
                var notReady = statuses.Where(s => s["ready"] is not JsonValue v || v.GetValueKind() != System.Text.Json.JsonValueKind.True)
                    .Select(s => JsonTree.TryGetString(s["name"], out var n) ? n : "?").ToList();
                return (phase == "Running" && notReady.Count == 0,
                    phase != "Running" ? $"phase {phase}" : $"containers not ready: {string.Join(", ", notReady)}");
        }
    }

    /// <summary>
    /// Deletes a run's services (the objects of <paramref name="kinds"/> labelled with its auxiliary label and run id) and tells
    /// <paramref name="note"/> what was deleted; failures are told, not thrown.
    /// </summary>
    /// <returns>How many were deleted.</returns>
    public static async Task<int> DeleteAsync(KubeAccess access, string @namespace, string labelValue, string runId, IReadOnlyList<AdditionalServiceShape.ServiceKind> kinds,
        Action<string> note)
    {
        var selector = AdditionalServices.Selector(labelValue, runId);
        var deleted = 0;
        foreach (var kind in kinds)
        {
            var api = KubeObjectApi.For(kind);
            IReadOnlyList<string> names;
            try
            {
                names = await access.CallAsync("list", kind.Plural, @namespace, c => api.List(c, @namespace, selector, CancellationToken.None)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                note($"could not list the run's additional {kind.Plural} in namespace {@namespace}: {e.Message}");
                continue;
            }
            foreach (var name in names)
            {
                try
                {
                    await access.CallAsync("delete", kind.Plural, @namespace, c => api.Delete(c, name, @namespace)).ConfigureAwait(false);
                    note($"deleted additional service {kind.Kind} {@namespace}/{name}");
                    deleted++;
                }
                catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
                {
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    note($"could not delete additional service {kind.Kind} {@namespace}/{name}: {e.Message}");
                }
            }
        }
        return deleted;
    }

    private static string Seconds(double seconds) => seconds.ToString("0.###", CultureInfo.InvariantCulture);
}
