using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Identifiers;

namespace WandbLaunch.Engine.Runners.Kubernetes;

/// <summary>
/// Runs jobs on Kubernetes with the official client: the queue's config becomes a batch/v1 Job (or a custom
/// resource, created through the custom objects API), with the API key in a Secret of its own; the job is
/// followed with watches (<see cref="RunningKubeJob"/>), stopped by deleting it, and found again by a later agent
/// through its handle <c>&lt;namespace&gt;/&lt;name&gt;/&lt;apiVersion&gt;/&lt;kind&gt;</c>. Nothing is contacted (and no
/// kubeconfig read) until a Kubernetes job runs.
/// </summary>
public sealed class KubernetesRunner : ILaunchRunner
{
    private readonly Func<string, string?> _environment;
    private readonly KubeAccessCache _access;
    private readonly Func<string, Registries.RegistryCredential?> _credentials;
    private readonly bool _keepAdditionalServices;

    /// <param name="environment">The agent's environment (KUBECONFIG, HOME, KUBERNETES_SERVICE_HOST).</param>
    /// <param name="credentials">Registry logins by host, for the image pull secret of a deprecated registry block (<see cref="ImagePullSecret"/>).</param>
    /// <param name="keepAdditionalServices">Leave a job's additional services on the cluster when it ends, as W&amp;B's agent does; by default they are deleted.</param>
    public KubernetesRunner(Func<string, string?> environment, Func<string, Registries.RegistryCredential?>? credentials = null, bool keepAdditionalServices = false)
    {
        _environment = environment;
        _keepAdditionalServices = keepAdditionalServices;
        _credentials = credentials ?? (_ => null);
        _access = new KubeAccessCache(environment);
    }

    public string Resource => LaunchResource.Kubernetes;

    public bool RequiresImage => true;

    public bool LeavesJobsWhenAgentStops => true;

    private static string AgentOf(JobContext context) => context.Job.AgentId ?? "none";

    public RenderedRequest Render(JobContext context)
    {
        var contextNamespace = KubeAccess.ContextNamespaceOrNull(JobManifest.Context(context.ResourceArgs), _environment);
        var rendered = JobManifest.Render(context, AgentOf(context), contextNamespace, context.AgentConfig.SecureMode, CodeClaim.FromEnvironment(_environment));
        return new RenderedRequest
        {
            Resource = Resource,
            Summary = $"{rendered.Kind} {rendered.Namespace}/{rendered.DisplayName} ({rendered.ApiVersion})",
            Text = JobManifest.ToYaml(rendered),
        };
    }

    public async Task<IRunningJob> StartAsync(JobContext context, CancellationToken cancellationToken)
    {
        var kubeContext = JobManifest.Context(context.ResourceArgs);
        try
        {
            return await StartAsync(await _access.GetAsync(kubeContext).ConfigureAwait(false), context, CodeClaim.FromEnvironment(_environment), _credentials, _keepAdditionalServices,
                cancellationToken).ConfigureAwait(false);
        }
        catch (KubeAccessException e) when (e.Fault == KubeFault.Unauthorized)
        {
            // Read the kubeconfig again for the next job: its credentials may have been renewed meanwhile.
            _access.Forget(kubeContext);
            throw;
        }
    }

    private static async Task<IRunningJob> StartAsync(KubeAccess access, JobContext context, CodeClaim? codeClaim, Func<string, Registries.RegistryCredential?> credentials,
        bool keepServices, CancellationToken cancellationToken)
    {
        var rendered = JobManifest.Render(context, AgentOf(context), access.ContextNamespace, context.AgentConfig.SecureMode, codeClaim);
        var workload = KubeWorkload.From(rendered);
        var log = context.Log;
        if (context.Code is { } code) MountCode(code, codeClaim, context);
        log.Agent($"creating {rendered.Kind} {rendered.Namespace}/{rendered.DisplayName} on {access.Describe()}");
        if (ImagePullSecret.NameFor(context.AgentConfig.Registry, context.Job.RunId) is not null)
        {
            await ImagePullSecret.EnsureAsync(access, context.AgentConfig.Registry, rendered.Namespace, context.Job.RunId, credentials, log, cancellationToken).ConfigureAwait(false);
        }
        string? secretName = null;
        if (rendered.ApiKeySecret is { } secret)
        {
            await RunScopedObject.CreateAsync(access, secret, context.Job.RunId, FailureStage.Run, log, cancellationToken).ConfigureAwait(false);
            secretName = JobManifest.ApiKeySecretName(context.Job.RunId);
            log.Agent($"created Secret {rendered.Namespace}/{secretName} holding the API key");
        }
        var cleanup = ServicesCleanup(access, rendered.Namespace, context.Job, keepServices);
        try
        {
            await context.Launching().ConfigureAwait(false);
            // kubernetes_runner.py (run): the services are created, and awaited, before the job.
            await AuxiliaryObjects.CreateAsync(access, rendered.Services, context.Job.RunId, rendered.ServiceWait, log, context.Warn, cancellationToken).ConfigureAwait(false);
            var created = await CreateWorkloadAsync(access, workload, rendered.Workload, context, cancellationToken).ConfigureAwait(false);
            if (workload.Name.Length == 0 && JsonTree.TryGetString(created["metadata"]?["name"], out var generated)) workload = workload with { Name = generated };
            var uid = created["metadata"]?["uid"]?.GetValue<string>();
            log.Agent($"created {workload}{(uid is null ? "" : $" (uid {uid})")}");
            return new RunningKubeJob(access, workload, uid, context.Job.RunId, log, context.Warn, secretName, logsSinceSeconds: null, endCleanup: cleanup);
        }
        catch
        {
            if (secretName is not null) await RunScopedObject.DeleteQuietlyAsync(access, "Secret", rendered.Namespace, secretName, log.Agent).ConfigureAwait(false);
            if (rendered.Services.Count > 0 && cleanup is not null) await cleanup(log.Agent).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Deletes the run's additional services when its job ends, or null when the agent keeps them (W&amp;B's agent never
    /// deletes them: its _delete_auxiliary_resources_by_label is never called).
    /// </summary>
    private static Func<Action<string>, Task>? ServicesCleanup(KubeAccess access, string @namespace, LaunchJob job, bool keep)
    {
        if (keep) return null;
        var spec = job.GetSpec();
        IReadOnlyList<AdditionalServiceShape.ServiceKind> kinds;
        try
        {
            kinds = AdditionalServiceShape.Check(spec.AdditionalServices, jobNamespace: null).Select(s => s.Kind).Distinct().ToList();
        }
        catch (LaunchException)
        {
            // A spec stored by an older version that today's rules refuse: look for every kind a service may be.
            kinds = AdditionalServiceShape.Kinds;
        }
        if (kinds.Count == 0) return null;
        var label = AdditionalServices.LabelValue(spec.Entity ?? job.Entity, spec.TargetProject ?? job.Project, job.RunId);
        return async note => await AuxiliaryObjects.DeleteAsync(access, @namespace, label, job.RunId, kinds, note).ConfigureAwait(false);
    }

    /// <summary>Copies the code to the claim, or says what the pod's own fetch leaves out.</summary>
    private static void MountCode(MountedCode code, CodeClaim? claim, JobContext context)
    {
        if (claim is not null)
        {
            PodCode.CopyToClaim(code, claim, context.Log.Agent);
            return;
        }
        context.Log.Agent($"the pod's init container {PodCode.InitContainerName} fetches the job's code into {MountedCode.Directory}");
        if (code.Source == MountedCodeSource.Repo && code.GitRemote is { } remote && (remote.StartsWith('/') || remote.StartsWith("file:", StringComparison.OrdinalIgnoreCase)))
        {
            context.Warn($"The job's git remote {remote} is a path on the agent's host, which the pod's init container cannot clone; " +
                         $"set {CodeClaim.NameVariable} and {CodeClaim.MountPathVariable} to have the agent copy the code to a volume claim instead.");
        }
        if (PodCode.SkipsFrozenRequirements(code, claim))
        {
            context.Warn(
                $"The job's requirements are installed in its pod, but its store is the local store, from which the pod cannot download the job artifact {code.JobArtifact}: " +
                "its frozen requirements (requirements.frozen.txt) are not installed, only the code's own requirements.txt or pyproject.toml, if it has one. " +
                $"Set {CodeClaim.NameVariable} and {CodeClaim.MountPathVariable} to have the agent copy the prepared code, frozen requirements included, to a volume claim.");
        }
    }

    private static async Task<JsonObject> CreateWorkloadAsync(KubeAccess access, KubeWorkload workload, JsonObject manifest, JobContext context, CancellationToken cancellationToken)
    {
        var waited = false;
        while (true)
        {
            try
            {
                return await workload.CreateAsync(access, manifest, path =>
                    context.Warn($"The {workload.Kind} manifest sets {path}, which is not a field of {workload.ApiVersion} {workload.Kind}; it was left out.")
                    , cancellationToken).ConfigureAwait(false);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict && !waited)
            {
                await ReleaseEarlierAttemptAsync(access, workload, context, cancellationToken).ConfigureAwait(false);
                waited = true;
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound && !workload.IsBatchJob && KubeAccess.StatusMessage(e) is var message &&
                                                   !message.Contains("namespaces", StringComparison.Ordinal))
            {
                throw new JobFailedException(FailureStage.Run,
                    $"The cluster has no {workload.Resource} resource ({workload.ApiVersion} {workload.Kind}, plural '{workload.Plural}'): {message}. " +
                    "Install the operator that defines it, or set resource_args.kubernetes.plural when its plural is not the kind in lower case followed by 's'.");
            }
            catch (HttpOperationException e)
            {
                throw KubeAccess.RefusedToCreate(e, workload.ToString(), FailureStage.Run);
            }
        }
    }

    /// <summary>
    /// Another object holds the workload's name. When it is an earlier attempt of this run that has ended or is
    /// being deleted (a preempted attempt), it is deleted and its name waited for; anything else is an error.
    /// </summary>
    private static async Task ReleaseEarlierAttemptAsync(KubeAccess access, KubeWorkload workload, JobContext context, CancellationToken cancellationToken)
    {
        var existing = await workload.GetAsync(access, cancellationToken).ConfigureAwait(false);
        if (existing is null) return;
        var metadata = existing["metadata"] as JsonObject;
        var runId = JsonTree.TryGetString(metadata?["labels"]?[JobManifest.RunIdLabel], out var r) ? r : null;
        if (runId != RunNames.Of(context.Job.RunId))
        {
            throw new JobFailedException(FailureStage.Run,
                $"A {workload.Kind} named {workload.Name} already exists in namespace {workload.Namespace}{(runId is null ? "" : $" for run {runId}")}; " +
                "give the queue's manifest another metadata.name (e.g. with ${run_id} in it) or delete the old one.");
        }
        var deleting = metadata?["deletionTimestamp"] is not null;
        var ended = (existing["status"]?["conditions"] as JsonArray ?? []).OfType<JsonObject>().Any(c =>
            JsonTree.TryGetString(c["status"], out var s) && s == "True" && JsonTree.TryGetString(c["type"], out var t) && t is "Complete" or "Failed" or "Succeeded");
        if (!deleting && !ended)
        {
            throw new JobFailedException(FailureStage.Run,
                $"{workload} for run {runId} is already running (started by an earlier attempt that this agent does not own); stop it before re-running the job.");
        }
        context.Log.Agent($"{workload} of an earlier attempt of this run is {(deleting ? "being deleted" : "over")}; waiting for its name to be free");
        await workload.ReleaseNameAsync(access, deleting, FailureStage.Run, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IRunningJob?> AttachAsync(LaunchJob job, JobLog log, CancellationToken cancellationToken)
    {
        // The run id names the job's objects and selects its pods: read back from the store, it is checked again.
        Specs.SpecNames.RunId(job.RunId, "run_id");
        var args = job.GetSpec().ResourceArgsFor(Resource) ?? new JsonObject();
        var plural = JsonTree.TryGetString(args["plural"], out var p) && p.Length > 0 ? p : null;
        KubeAccess access;
        try
        {
            access = await _access.GetAsync(JobManifest.Context(args)).ConfigureAwait(false);
        }
        catch (LaunchException e)
        {
            log.Agent($"cannot reach the cluster to re-attach: {e.Message}");
            return null;
        }
        var warn = (string message) => log.Agent("warning: " + message);
        // Output written after the earlier agent last wrote to the log is followed again (to the second: a line may
        // repeat, none is lost).
        var lastWrite = JobLog.LastOutputUtc(log.Path) ?? DateTime.UtcNow;
        var since = (int)Math.Max(1, Math.Ceiling((DateTime.UtcNow - lastWrite).TotalSeconds) + 1);
        var secretName = JobManifest.ApiKeySecretName(job.RunId);
        try
        {
            KubeWorkload? workload;
            JsonObject? found;
            if (!string.IsNullOrEmpty(job.Handle))
            {
                workload = KubeWorkload.Parse(job.Handle, plural);
                found = await workload.GetAsync(access, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                // The earlier agent died before the job ran, so it recorded no handle: look for the run's workload.
                (workload, found) = await FindAsync(access, job, args, plural, cancellationToken).ConfigureAwait(false);
            }
            if (workload is null || found is null)
            {
                log.Agent($"{(workload?.ToString() ?? $"the workload of run {job.RunId}")} is gone; the job cannot be re-attached");
                var goneNamespace = workload?.Namespace ?? JobManifest.Namespace(args, access.ContextNamespace);
                await RunScopedObject.DeleteQuietlyAsync(access, "Secret", goneNamespace, secretName, log.Agent).ConfigureAwait(false);
                if (ServicesCleanup(access, goneNamespace, job, _keepAdditionalServices) is { } cleanGone) await cleanGone(log.Agent).ConfigureAwait(false);
                return null;
            }
            var uid = found["metadata"]?["uid"]?.GetValue<string>();
            log.Agent($"re-attached to {workload} on {access.Describe()}");
            return new RunningKubeJob(access, workload, uid, job.RunId, log, warn, secretName, since, endCleanup: ServicesCleanup(access, workload.Namespace, job, _keepAdditionalServices));
        }
        catch (KubeAccessException e) when (e.Fault == KubeFault.Unreachable && !string.IsNullOrEmpty(job.Handle))
        {
            // It may well still run: follow it, and the watches keep trying until the cluster answers.
            log.Agent($"{e.Message} Following the job anyway.");
            var unreachable = KubeWorkload.Parse(job.Handle, plural);
            return new RunningKubeJob(access, unreachable, null, job.RunId, log, warn, secretName, since,
                endCleanup: ServicesCleanup(access, unreachable.Namespace, job, _keepAdditionalServices));
        }
    }

    /// <summary>The workload carrying this item's label, in the namespace the job was rendered for.</summary>
    private static async Task<(KubeWorkload?, JsonObject?)> FindAsync(KubeAccess access, LaunchJob job, JsonObject args, string? plural, CancellationToken cancellationToken)
    {
        var @namespace = JobManifest.Namespace(args, access.ContextNamespace);
        var apiVersion = JsonTree.TryGetString(args["apiVersion"], out var v) ? v : "batch/v1";
        var kind = JsonTree.TryGetString(args["kind"], out var k) ? k : "Job";
        var probe = new KubeWorkload(@namespace, "", apiVersion, kind, plural ?? kind.ToLowerInvariant() + "s");
        var selector = $"{JobManifest.ItemLabel}={job.Id}";
        JsonObject? found;
        if (probe.IsBatchJob)
        {
            var list = await access.CallAsync("list", probe.Resource, @namespace,
                c => c.BatchV1.ListNamespacedJobAsync(@namespace, labelSelector: selector, cancellationToken: cancellationToken)).ConfigureAwait(false);
            found = list.Items.Select(KubeWorkload.ToJson).FirstOrDefault();
        }
        else
        {
            var list = KubeWorkload.ToJson(await access.CallAsync("list", probe.Resource, @namespace,
                c => c.CustomObjects.ListNamespacedCustomObjectAsync(probe.Group, probe.Version, @namespace, probe.Plural, labelSelector: selector,
                    cancellationToken: cancellationToken)).ConfigureAwait(false));
            found = (list["items"] as JsonArray)?.OfType<JsonObject>().FirstOrDefault();
        }
        var name = found?["metadata"]?["name"]?.GetValue<string>();
        return name is null ? (null, null) : (probe with { Name = name }, found);
    }
}
