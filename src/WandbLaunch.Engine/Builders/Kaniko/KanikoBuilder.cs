using System.IO.Compression;
using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using WandbLaunch.Engine.Code;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Registries;
using WandbLaunch.Engine.Runners.Kubernetes;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Builders.Kaniko;

/// <summary>
/// Builds a job's image on Kubernetes with kaniko, as W&amp;B's agent does: the tag is the hash of the code and
/// Dockerfile (an image already in the registry is not built again); the context (with <c>Dockerfile.wandb</c>) is
/// gzip-tarred and uploaded to <c>&lt;build-context-store&gt;/&lt;run_id&gt;.tgz</c>; a Job
/// <c>&lt;build-job-name&gt;-&lt;run_id&gt;</c> (<see cref="KanikoJob"/>) builds and pushes it to
/// <c>builder.destination</c>, with the registry credentials of <c>builder.secret-name</c>/<c>secret-key</c> in a
/// ConfigMap <c>docker-config-&lt;job&gt;</c>. The Job is followed with watches, its pod's log copied into the job's log,
/// and the Job, the ConfigMap and the uploaded context are deleted afterwards, whether the build succeeded, failed or
/// was cancelled. The cluster
/// is the one the job runs on (the <c>context</c> key of a kubernetes queue's config, else the kube context), in
/// the job's namespace. Nothing is contacted until a job is built.
/// </summary>
public sealed class KanikoBuilder : IImageBuilder
{
    /// <summary>How far back the job's log is read for the bootstrap's failed-requirements line after a build.</summary>
    private const int FailedPackagesLines = 10_000;

    private const string Source = "kaniko";

    private static readonly TimeSpan CancelWait = TimeSpan.FromSeconds(30);

    private readonly EnvironmentSettings _cloud;
    private readonly Func<string, string?> _environment;
    private readonly Func<string, RegistryCredential?> _credentials;
    private readonly KubeAccessCache _access;
    private readonly ImageBuildGate _building = new();

    /// <param name="cloud">The agent's <c>environment</c> block (the AWS region).</param>
    /// <param name="environment">The agent's environment (KUBECONFIG, cloud credentials, WANDB_LAUNCH_SERVICE_ACCOUNT_NAME).</param>
    /// <param name="credentials">Registry credentials, for checking whether an image already exists.</param>
    public KanikoBuilder(EnvironmentSettings cloud, Func<string, string?> environment, Func<string, RegistryCredential?> credentials)
    {
        _cloud = cloud;
        _environment = environment;
        _credentials = credentials;
        _access = new KubeAccessCache(environment);
    }

    public string Type => "kaniko";

    public async Task<string> BuildAsync(BuildRequest request, CancellationToken cancellationToken)
    {
        if (request.Spec.PrebuiltImage is { } prebuilt) return prebuilt;
        var (destination, store) = Required(request.Settings);
        var log = request.Log;
        var code = await CodeDirectory.ResolveAsync(request.Spec, request.WorkDirectory, request.Job.RunId, request.Job.Id, log, cancellationToken).ConfigureAwait(false);
        var (plan, name) = request.PlanImage(code, destination, tag => $"{destination}:{tag}");
        var image = ImageReference.Parse(name);
        log.Agent($"image {image} (Dockerfile: {plan.DockerfileOrigin})");
        foreach (var warning in plan.Warnings) log.Agent("warning: " + warning);
        EngineLog.Verbose(Source, () => $"image {Printable.Quote(image.ToString())} from context {Printable.Quote(plan.ContextDirectory)} (Dockerfile: {Printable.Escape(plan.DockerfileOrigin)})");

        using (await _building.EnterAsync(image.ToString(), cancellationToken).ConfigureAwait(false))
        {
            if (await ExistsAsync(image, log, cancellationToken).ConfigureAwait(false))
            {
                log.Agent($"{image} is already in {image.Registry}: build skipped");
                EngineLog.Verbose(Source, () => $"{Printable.Quote(image.ToString())} is already in {Printable.Escape(image.Registry)}: build skipped");
                return image.ToString();
            }
            try
            {
                await BuildOnClusterAsync(request, plan, image, store, cancellationToken).ConfigureAwait(false);
            }
            catch (JobFailedException e) when (e.InnerException is Runners.Kubernetes.KubeAccessException { Fault: Runners.Kubernetes.KubeFault.Unauthorized })
            {
                // Read the kubeconfig again for the next build: its credentials may have been renewed meanwhile.
                _access.Forget(BuildContext(request.Job, request.ResourceArgs));
                throw;
            }
            return image.ToString();
        }
    }

    /// <summary>builder.destination and builder.build-context-store, which a kaniko build cannot do without.</summary>
    internal static (string Destination, string Store) Required(BuilderSettings settings)
    {
        var destination = settings.Destination ?? throw new JobFailedException(FailureStage.Build,
            "builder.type kaniko pushes every image it builds to a registry, and builder.destination is not set: set it to the image repository " +
            "(Set-WandbLaunchAgentConfig -Destination registry.example.com/team/images), or submit a prebuilt image with -DockerImage.");
        var store = settings.BuildContextStore ?? throw new JobFailedException(FailureStage.Build,
            "builder.type kaniko needs builder.build-context-store (s3://…, gs://… or an Azure blob URL) to upload the build context to.");
        return (destination, store);
    }

    /// <summary>
    /// Where the kaniko Job runs: the job's namespace when it runs on Kubernetes too (the same cluster), else the
    /// kube context's namespace, else <c>default</c>.
    /// </summary>
    internal static string BuildNamespace(LaunchJob job, JsonObject resourceArgs, string? contextNamespace) =>
        string.Equals(job.Resource, LaunchResource.Kubernetes, StringComparison.OrdinalIgnoreCase)
            ? JobManifest.Namespace(resourceArgs, contextNamespace)
            : contextNamespace ?? "default";

    /// <summary>The kube context the build uses: the job's (resource_args.kubernetes.context) when it runs on Kubernetes, else the current one.</summary>
    internal static string? BuildContext(LaunchJob job, JsonObject resourceArgs) =>
        string.Equals(job.Resource, LaunchResource.Kubernetes, StringComparison.OrdinalIgnoreCase) ? JobManifest.Context(resourceArgs) : null;

    /// <summary>The service account the kaniko pod runs as: WANDB_LAUNCH_SERVICE_ACCOUNT_NAME, else <c>default</c>.</summary>
    internal static string ServiceAccount(Func<string, string?> environment) =>
        environment(KanikoJob.ServiceAccountVariable) is { Length: > 0 } sa ? sa : "default";

    /// <summary>
    /// Whether the tag is in the registry. Kaniko pushes with the cluster's credentials, which the agent may not
    /// have: when the registry cannot be asked (no or refused credentials, unreachable), the answer is "unknown"
    /// and the image is built.
    /// </summary>
    private async Task<bool> ExistsAsync(ImageReference image, JobLog log, CancellationToken cancellationToken)
    {
        using var registry = new RegistryClient();
        try
        {
            return await registry.ManifestExistsAsync(image, _credentials(image.Registry), cancellationToken).ConfigureAwait(false);
        }
        catch (LaunchException e)
        {
            log.Agent($"cannot tell whether {image} exists ({e.Message}); building it");
            return false;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            log.Agent($"cannot tell whether {image} exists (the registry {image.Registry} did not answer in time); building it");
            return false;
        }
    }

    private async Task BuildOnClusterAsync(BuildRequest request, BuildPlan plan, ImageReference image, string store, CancellationToken cancellationToken)
    {
        var log = request.Log;
        var job = request.Job;
        var kubeContext = BuildContext(job, request.ResourceArgs);
        KubeAccess access;
        try
        {
            access = await _access.GetAsync(kubeContext).ConfigureAwait(false);
        }
        catch (LaunchException e)
        {
            throw new JobFailedException(FailureStage.Build, $"The kaniko builder needs a Kubernetes cluster to build on: {e.Message}", e);
        }
        var @namespace = BuildNamespace(job, request.ResourceArgs, access.ContextNamespace);
        var serviceAccount = ServiceAccount(_environment);
        var progress = request.Progress;
        var activity = $"Building {image} with kaniko";

        using var context = ContextStore.For(store, job.RunId, _cloud, _environment);
        var manifest = KanikoJob.Render(request.Settings, job.RunId, @namespace, context.Uri, image.ToString(), serviceAccount, note => log.Agent(note));
        var workload = new KubeWorkload(manifest["metadata"]!["namespace"]!.GetValue<string>(), KanikoJob.Name(request.Settings, job.RunId), "batch/v1", "Job", "jobs");

        using (var archive = Compress(plan))
        {
            log.Agent($"uploading the build context ({archive.Length / 1024.0:0.#} KiB) to {context.Uri}");
            EngineLog.Verbose(Source, () => $"uploading the build context ({archive.Length} bytes) to {Printable.Quote(context.Uri.Split('?')[0]) /* a SAS token would be in the query */}");
            progress?.Invoke(activity, $"uploading the build context to {context.Uri}", 0);
            await context.UploadAsync(archive, (sent, total) =>
                progress?.Invoke(activity, $"uploading the build context: {sent / 1024} of {Math.Max(total, 0) / 1024} KiB", total > 0 ? (int)Math.Min(10, sent * 10 / total) : -1),
                cancellationToken).ConfigureAwait(false);
        }
        var created = false;
        var cancelled = false;
        string? dockerConfig = null;
        try
        {
            dockerConfig = await CreateDockerConfigAsync(access, request.Settings, workload, job.RunId, log, cancellationToken).ConfigureAwait(false);
            log.Agent($"creating {workload} on {access.Describe()} to build {image}");
            EngineLog.Verbose(Source, () => $"creating {Printable.Escape(workload.ToString())} on {Printable.Escape(access.Describe())} to build and push {Printable.Quote(image.ToString())}");
            progress?.Invoke(activity, $"creating {workload}", 10);
            var uid = await CreateJobAsync(access, workload, manifest, job.RunId, log, cancellationToken).ConfigureAwait(false);
            created = true;
            var running = new RunningKubeJob(access, workload, uid, job.RunId, log, request.Warn ?? (warning => log.Agent("warning: " + warning)), secretName: null,
                logsSinceSeconds: null, podSelector: $"job-name={workload.Name}", failureStage: FailureStage.Build);
            _ = running.Started.ContinueWith(_ => progress?.Invoke(activity, "kaniko is building", -1), TaskScheduler.Default);
            JobOutcome outcome;
            try
            {
                outcome = await running.Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                log.Agent($"the build was cancelled; deleting {workload}");
                cancelled = true;
                await running.CancelAsync().ConfigureAwait(false);
                await Task.WhenAny(running.Completion, Task.Delay(CancelWait)).ConfigureAwait(false);
                throw;
            }
            switch (outcome.State)
            {
                case LaunchJobState.Finished:
                    log.Agent($"kaniko built and pushed {image}");
                    // W&B reads the build pod's log for the bootstrap's failed requirements; the pod's log was copied into the job's.
                    log.Flush();
                    if (JobLog.ReadTail(log.Path, FailedPackagesLines).Select(FailedPackages.In).LastOrDefault(p => p is not null) is { } failed)
                    {
                        request.Warn?.Invoke(FailedPackages.Warning(failed, image.ToString()));
                    }
                    EngineLog.Verbose(Source, () => $"built and pushed {Printable.Quote(image.ToString())}");
                    progress?.Invoke(activity, "done", 100);
                    return;
                case LaunchJobState.Preempted:
                    throw new JobFailedException(FailureStage.Build, $"The kaniko build of {image} was preempted: {outcome.Message}");
                case LaunchJobState.Stopped:
                    throw new JobFailedException(FailureStage.Build, $"The kaniko build of {image} was stopped: {outcome.Message}");
                default:
                    throw new JobFailedException(FailureStage.Build, $"The kaniko build of {image} failed: {outcome.Message}");
            }
        }
        finally
        {
            if (created && !cancelled) await workload.DeleteQuietlyAsync(access, log.Agent).ConfigureAwait(false);
            if (dockerConfig is not null) await RunScopedObject.DeleteQuietlyAsync(access, "ConfigMap", workload.Namespace, dockerConfig, log.Agent).ConfigureAwait(false);
            await DeleteContextAsync(context, log).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// With <c>builder.secret-name</c>/<c>secret-key</c>: reads the key of that Secret in the build's namespace and
    /// creates the ConfigMap <c>docker-config-&lt;job&gt;</c> the kaniko Job mounts at <c>/kaniko/.docker</c>, as W&amp;B's
    /// agent does. Returns its name, or null without a secret. The credentials are never written to the log.
    /// </summary>
    private static async Task<string?> CreateDockerConfigAsync(KubeAccess access, BuilderSettings settings, KubeWorkload workload, string runId, JobLog log, CancellationToken cancellationToken)
    {
        if (settings.SecretName is not { } secretName || settings.SecretKey is not { } secretKey) return null;
        var @namespace = workload.Namespace;
        V1Secret secret;
        try
        {
            secret = await access.CallAsync("get", "secrets", @namespace,
                c => c.CoreV1.ReadNamespacedSecretAsync(secretName, @namespace, cancellationToken: cancellationToken)).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            throw new JobFailedException(FailureStage.Build,
                $"builder.secret-name is '{secretName}', and there is no Secret of that name in namespace '{@namespace}', where the kaniko Job runs. " +
                $"Create it there (kubectl create secret docker-registry {secretName} --docker-server=<registry> --docker-username=<user> --docker-password=<password> -n {@namespace}; " +
                "then builder.secret-key is .dockerconfigjson), or set builder.secret-name to a Secret that exists.", e);
        }
        catch (HttpOperationException e)
        {
            throw new JobFailedException(FailureStage.Build,
                $"Cannot read Secret {@namespace}/{secretName} (builder.secret-name) {KubeAccess.Explain(e)}", e);
        }
        catch (LaunchException e)
        {
            throw new JobFailedException(FailureStage.Build, $"The kaniko builder reads builder.secret-name '{secretName}' to give kaniko the registry credentials: {e.Message}", e);
        }
        if (secret.Data?.TryGetValue(secretKey, out var value) != true || value is null)
        {
            var keys = secret.Data?.Keys.Order(StringComparer.Ordinal).ToList() ?? [];
            throw new JobFailedException(FailureStage.Build,
                $"Secret {@namespace}/{secretName} has no key '{secretKey}' (builder.secret-key); " +
                (keys.Count == 0 ? "it has no keys at all. " : $"its keys are: {string.Join(", ", keys)}. ") +
                "Set builder.secret-key to the key that holds the Docker config (.dockerconfigjson for a Secret made by kubectl create secret docker-registry).");
        }
        if (!IsDockerConfig(value))
        {
            throw new JobFailedException(FailureStage.Build,
                $"The value of key '{secretKey}' in Secret {@namespace}/{secretName} is not a Docker config: kaniko reads it as /kaniko/.docker/config.json, " +
                "a JSON object such as {\"auths\": {\"<registry>\": {\"auth\": \"<base64 user:password>\"}}}. Point builder.secret-key at such a key.");
        }
        var configMap = KanikoJob.DockerConfigMap(workload.Name, @namespace, runId, System.Text.Encoding.UTF8.GetString(value));
        await RunScopedObject.CreateAsync(access, configMap, runId, FailureStage.Build, log, cancellationToken).ConfigureAwait(false);
        var name = KanikoJob.DockerConfigMapName(workload.Name);
        log.Agent($"created ConfigMap {@namespace}/{name} with the registry credentials of Secret {secretName} (key {secretKey}), mounted at {KanikoJob.DockerConfigPath}");
        return name;
    }

    private static bool IsDockerConfig(byte[] value)
    {
        try
        {
            return JsonNode.Parse(new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(value)) is JsonObject;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or ArgumentException)
        {
            return false;
        }
    }

    /// <summary>The context as a gzip-compressed tar, with the plan's Dockerfile as Dockerfile.wandb.</summary>
    internal static MemoryStream Compress(BuildPlan plan)
    {
        var compressed = new MemoryStream();
        using (var tar = ContextArchive.Create(plan))
        using (var gzip = new GZipStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            tar.CopyTo(gzip);
        }
        compressed.Position = 0;
        return compressed;
    }

    /// <summary>
    /// Creates the Job and returns its uid. A Job of that name left by an earlier attempt of this run (an agent that
    /// died mid-build) is deleted first; one that is not this run's is an error.
    /// </summary>
    private static async Task<string?> CreateJobAsync(KubeAccess access, KubeWorkload workload, JsonObject manifest, string runId, JobLog log, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                var created = await workload.CreateAsync(access, manifest,
                    path => log.Agent($"warning: builder.kaniko-config sets {path}, which is not a field of a batch/v1 Job; it was left out."), cancellationToken).ConfigureAwait(false);
                log.Agent($"created {workload}");
                return created["metadata"]?["uid"]?.GetValue<string>();
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict && attempt == 0)
            {
                var existing = await workload.GetAsync(access, cancellationToken).ConfigureAwait(false);
                if (existing is null) continue;
                var owner = JsonTree.TryGetString(existing["metadata"]?["labels"]?[JobManifest.RunIdLabel], out var r) ? r : null;
                if (owner != runId)
                {
                    throw new JobFailedException(FailureStage.Build,
                        $"A Job named {workload.Name} already exists in namespace {workload.Namespace} and is not the build of run {runId}; delete it, or set another builder.build-job-name.");
                }
                log.Agent($"{workload} of an earlier attempt of this run exists; deleting it and waiting for its name to be free");
                EngineLog.Verbose(Source, () => $"retrying: {Printable.Escape(workload.ToString())} of an earlier attempt of this run exists (409 Conflict); deleting it first");
                await workload.ReleaseNameAsync(access, alreadyDeleting: false, FailureStage.Build, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpOperationException e)
            {
                throw KubeAccess.RefusedToCreate(e, workload.ToString(), FailureStage.Build);
            }
            catch (LaunchException e)
            {
                throw new JobFailedException(FailureStage.Build, e.Message, e);
            }
        }
    }

    private static async Task DeleteContextAsync(ContextStore context, JobLog log)
    {
        try
        {
            await context.DeleteAsync(CancellationToken.None).ConfigureAwait(false);
            log.Agent($"deleted the build context {context.Uri}");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            log.Agent($"could not delete the build context {context.Uri}: {e.Message}");
        }
    }
}
