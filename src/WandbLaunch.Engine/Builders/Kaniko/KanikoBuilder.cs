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
using WandbLaunch.Engine.Identifiers;

namespace WandbLaunch.Engine.Builders.Kaniko;

/// <summary>
/// Builds a job's image on Kubernetes with kaniko, as W&amp;B's agent does: the tag is the hash of the code and
/// Dockerfile (an image already in the registry is not built again); the context (with <c>Dockerfile.wandb</c>) is
/// gzip-tarred and uploaded to <c>&lt;build-context-store&gt;/&lt;run_id&gt;.tgz</c>; a Job
/// <c>&lt;build-job-name&gt;-&lt;run_id&gt;</c> (<see cref="KanikoJob"/>) builds and pushes it to
/// <c>builder.destination</c>, with the registry credentials <see cref="KanikoAuth"/> chooses (a Secret or ConfigMap
/// <c>docker-config-&lt;job&gt;</c> made for the build). The Job is followed with watches, its pod's log copied into
/// the job's log, and the Job, the credentials' object and the uploaded context are deleted afterwards, whether the
/// build succeeded, failed or was cancelled. The cluster is the one the job runs on (the <c>context</c> key of a
/// kubernetes queue's config, else the kube context); the namespace is the agent pod's, else <c>wandb</c>, as
/// W&amp;B's. Nothing is contacted until a job is built.
/// </summary>
public sealed class KanikoBuilder : IImageBuilder
{
    /// <summary>How far back the job's log is read for the bootstrap's failed-requirements line after a build.</summary>
    private const int FailedPackagesLines = 10_000;

    private const string Source = "kaniko";

    private static readonly TimeSpan CancelWait = TimeSpan.FromSeconds(30);

    /// <summary>Where Kubernetes writes the namespace of the pod the agent runs in.</summary>
    public const string PodNamespaceFile = KubeAccess.ServiceAccountDirectory + "/namespace";

    /// <summary>The build namespace when the agent does not run in a pod, as W&amp;B's.</summary>
    public const string DefaultNamespace = "wandb";

    private readonly EnvironmentSettings _cloud;
    private readonly string _podNamespaceFile;
    private readonly Func<string, string?> _environment;
    private readonly Func<string, RegistryCredential?> _credentials;
    private readonly KubeAccessCache _access;
    private readonly ImageBuildGate _building = new();

    /// <param name="cloud">The agent's <c>environment</c> block (the AWS region).</param>
    /// <param name="environment">The agent's environment (KUBECONFIG, cloud credentials, WANDB_LAUNCH_SERVICE_ACCOUNT_NAME).</param>
    /// <param name="credentials">Registry logins by host: for checking whether an image already exists, and kaniko's Docker config with builder.secret-name.</param>
    /// <param name="podNamespaceFile">Where the agent pod's namespace is read (tests put it elsewhere).</param>
    public KanikoBuilder(EnvironmentSettings cloud, Func<string, string?> environment, Func<string, RegistryCredential?> credentials, string podNamespaceFile = PodNamespaceFile)
    {
        _cloud = cloud;
        _podNamespaceFile = podNamespaceFile;
        _environment = environment;
        _credentials = credentials;
        _access = new KubeAccessCache(environment);
    }

    public string Type => "kaniko";

    public async Task<string> BuildAsync(BuildRequest request, CancellationToken cancellationToken)
    {
        if (request.Spec.PrebuiltImage is { } prebuilt) return prebuilt;
        var (destination, store) = Required(request.Settings);
        var auth = KanikoAuth.For(request.Settings, _cloud, _environment);
        var log = request.Log;
        var code = await CodeDirectory.ResolveAsync(request.Spec, request.WorkDirectory, request.Job.RunId, request.Job.Id, log, cancellationToken).ConfigureAwait(false);
        var (plan, name) = request.PlanImage(code, destination, tag => $"{destination}:{tag}");
        var image = ImageReference.Parse(name);
        log.Agent($"image {image} (Dockerfile: {plan.DockerfileOrigin})");
        foreach (var warning in plan.Warnings) log.Agent("warning: " + warning);
        EngineLog.Verbose(Source, () => $"image {Printable.Quote(image.ToString())} from context {Printable.Quote(plan.ContextDirectory)} (Dockerfile: {Printable.Escape(plan.DockerfileOrigin)})");

        using (await _building.EnterAsync(image.ToString(), cancellationToken).ConfigureAwait(false))
        {
            if (!auth.ChecksExistingImage)
            {
                log.Agent($"skipping the check for an existing {image}: kaniko pushes with the Docker config of {KanikoAuth.AuthSecretVariable}");
            }
            else if (await ExistsAsync(image, log, cancellationToken).ConfigureAwait(false))
            {
                log.Agent($"{image} is already in {image.Registry}: build skipped");
                EngineLog.Verbose(Source, () => $"{Printable.Quote(image.ToString())} is already in {Printable.Escape(image.Registry)}: build skipped");
                return image.ToString();
            }
            try
            {
                await BuildOnClusterAsync(request, plan, image, store, auth, cancellationToken).ConfigureAwait(false);
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
    /// Where the kaniko Job runs, as W&amp;B's: the namespace of the pod the agent runs in (the service account's
    /// <c>namespace</c> file), else <c>wandb</c>.
    /// </summary>
    internal static string BuildNamespace(string podNamespaceFile)
    {
        string? read = null;
        try
        {
            if (File.Exists(podNamespaceFile)) read = File.ReadAllText(podNamespaceFile).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            EngineLog.Verbose(Source, () => $"cannot read {podNamespaceFile} ({e.Message}); building in namespace {DefaultNamespace}");
        }
        if (string.IsNullOrEmpty(read)) return DefaultNamespace;
        if (!System.Text.RegularExpressions.Regex.IsMatch(read, "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"))
        {
            throw new JobFailedException(FailureStage.Build, $"{podNamespaceFile} holds '{Printable.Escape(read)}', which is not a Kubernetes namespace name.");
        }
        return read;
    }

    internal string BuildNamespace() => BuildNamespace(_podNamespaceFile);

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

    private async Task BuildOnClusterAsync(BuildRequest request, BuildPlan plan, ImageReference image, string store, KanikoAuth auth, CancellationToken cancellationToken)
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
        var @namespace = BuildNamespace();
        var serviceAccount = ServiceAccount(_environment);
        var progress = request.Progress;
        var activity = $"Building {image} with kaniko";

        using var context = ContextStore.For(store, job.RunId, _cloud, _environment);
        var manifest = KanikoJob.Render(request.Settings, job.RunId, @namespace, context.Uri, image.ToString(), serviceAccount, auth, note => log.Agent(note));
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
        (string Kind, string Name)? dockerConfig = null;
        try
        {
            if (auth.AzureStorageKey) await RequireAzureStorageSecretAsync(access, workload.Namespace, cancellationToken).ConfigureAwait(false);
            dockerConfig = await CreateDockerConfigAsync(access, auth, request, workload, image, cancellationToken).ConfigureAwait(false);
            log.Agent(auth.Describe(workload.Namespace, workload.Name));
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
                await running.CancelAsync(TimeSpan.Zero).ConfigureAwait(false);
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
            if (dockerConfig is var (kind, name)) await RunScopedObject.DeleteQuietlyAsync(access, kind, workload.Namespace, name, log.Agent).ConfigureAwait(false);
            await DeleteContextAsync(context, log).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Creates what holds kaniko's Docker config, made before the Job (its pod could not mount it otherwise): with
    /// <c>builder.secret-name</c> the Secret <c>docker-config-&lt;job&gt;</c> with the agent's login to the destination
    /// registry, keyed by the repository as W&amp;B's; for an ACR destination the ConfigMap naming kaniko's
    /// <c>acr-env</c> helper. Returns its kind and name, or null when nothing is needed. No credential is logged.
    /// </summary>
    private async Task<(string Kind, string Name)?> CreateDockerConfigAsync(KubeAccess access, KanikoAuth auth, BuildRequest request, KubeWorkload workload, ImageReference image,
        CancellationToken cancellationToken)
    {
        var runId = request.Job.RunId;
        var name = KanikoAuth.DockerConfigName(workload.Name);
        JsonObject body;
        switch (auth.Mode)
        {
            case KanikoAuthMode.RegistryLogin:
                var repository = request.Settings.Destination!;
                var login = _credentials(image.Registry) ?? throw new JobFailedException(FailureStage.Build,
                    $"builder.secret-name is set, so kaniko pushes with the agent's login to {image.Registry}, and the agent has none: " +
                    "log in to the registry (docker login, or the cloud's login for ECR, Artifact Registry and ACR) or give -RegistryCredential; " +
                    $"or remove builder.secret-name and secret-key to let kaniko use the pod's identity, or set {KanikoAuth.AuthSecretVariable} to a Docker config Secret.");
                if (auth.CloudCredentialsMount is null)
                {
                    var warning = $"builder.secret-name '{auth.SecretName}' is mounted as cloud credentials for ECR and Artifact Registry destinations only; " +
                                  $"for {image.Registry} it is not mounted, and kaniko pushes with the agent's login to the registry.";
                    (request.Warn ?? (w => request.Log.Agent("warning: " + w)))(warning);
                }
                body = KanikoAuth.LoginSecret(workload.Name, workload.Namespace, runId, repository, login);
                break;
            case KanikoAuthMode.AcrHelper:
                body = auth.AcrConfigMap(workload.Name, workload.Namespace, runId);
                break;
            default:
                return null;
        }
        await RunScopedObject.CreateAsync(access, body, runId, FailureStage.Build, request.Log, cancellationToken).ConfigureAwait(false);
        var kind = body["kind"]!.GetValue<string>();
        request.Log.Agent($"created {kind} {workload.Namespace}/{name} with kaniko's Docker config, mounted at {KanikoJob.DockerConfigPath}");
        return (kind, name);
    }

    /// <summary>An azure environment gives kaniko the storage key from Secret <c>azure-storage-access-key</c>: it must exist where the Job runs.</summary>
    private static async Task RequireAzureStorageSecretAsync(KubeAccess access, string @namespace, CancellationToken cancellationToken)
    {
        try
        {
            await access.CallAsync("get", "secrets", @namespace,
                c => c.CoreV1.ReadNamespacedSecretAsync(KanikoAuth.AzureStorageSecret, @namespace, cancellationToken: cancellationToken)).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            throw new JobFailedException(FailureStage.Build,
                $"Secret {KanikoAuth.AzureStorageSecret} does not exist in namespace {@namespace}, where the kaniko Job runs. With environment.type azure, kaniko reads the " +
                $"build context with the storage account key from its key 'password': kubectl create secret generic {KanikoAuth.AzureStorageSecret} " +
                $"--from-literal=password=<storage account key> -n {@namespace}", e);
        }
        catch (HttpOperationException e)
        {
            throw new JobFailedException(FailureStage.Build, $"Cannot read Secret {@namespace}/{KanikoAuth.AzureStorageSecret} {KubeAccess.Explain(e)}", e);
        }
        catch (LaunchException e)
        {
            throw new JobFailedException(FailureStage.Build, $"The kaniko builder checks Secret {KanikoAuth.AzureStorageSecret} for the Azure storage key: {e.Message}", e);
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
                if (owner != RunNames.Of(runId))
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
