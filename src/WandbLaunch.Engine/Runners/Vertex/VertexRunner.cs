using System.Text.Json.Nodes;
using WandbLaunch.Engine.Cloud.Google;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Secrets;
using WandbLaunch.Engine.Identifiers;

namespace WandbLaunch.Engine.Runners.Vertex;

/// <summary>
/// Runs jobs as Vertex AI CustomJobs over the REST API (v1): the queue's <c>{spec, run}</c> becomes the CustomJob
/// body as W&amp;B's runner and aiplatform build it (<see cref="VertexCustomJob"/>), created in the environment's
/// region (<c>environment.region</c> of a <c>gcp</c> environment, else gcloud's compute/region, else <c>GOOGLE_CLOUD_REGION</c>) and project
/// (<c>environment.project</c>, else the Application Default Credentials' project), followed by polling
/// (<see cref="RunningVertexJob"/>), stopped with CancelCustomJob, and found again by a later agent through its
/// handle, the CustomJob's resource name. Nothing is read or contacted until a Vertex job runs; one API client
/// (one set of credentials and cached token) serves every job.
/// </summary>
public sealed class VertexRunner : ILaunchRunner
{
    private readonly Func<string, string?> _environment;
    private readonly Func<GoogleAuth, GoogleApiClient> _clientFor;
    private readonly object _lock = new();
    private GoogleApiClient? _client;

    /// <param name="environment">The agent's environment (credentials, region, endpoint override).</param>
    /// <param name="polling">How often a job's state is read; <see cref="VertexPolling.Default"/> by default.</param>
    /// <param name="clientFor">Makes the API client (tests shorten its back-off).</param>
    public VertexRunner(Func<string, string?> environment, VertexPolling? polling = null, Func<GoogleAuth, GoogleApiClient>? clientFor = null)
    {
        _environment = environment;
        Polling = polling ?? VertexPolling.Default;
        _clientFor = clientFor ?? (auth => new GoogleApiClient(auth));
    }

    public string Resource => LaunchResource.GcpVertex;

    public bool RequiresImage => true;

    public bool LeavesJobsWhenAgentStops => true;

    public VertexPolling Polling { get; }

    private GoogleApiClient Client()
    {
        lock (_lock) return _client ??= _clientFor(GoogleAuth.FromEnvironment(_environment));
    }

    private void ForgetClient(GoogleApiClient client)
    {
        lock (_lock)
        {
            if (ReferenceEquals(_client, client)) _client = null;
        }
    }

    private string? RegionOrNull(JobContext context)
    {
        var settings = context.AgentConfig.Environment;
        if (settings.Type == "gcp" && !string.IsNullOrWhiteSpace(settings.Region)) return settings.Region!;
        // W&B's GcpEnvironment.from_default: gcloud's compute/region, else GOOGLE_CLOUD_REGION.
        return GcloudConfig.Region(_environment) ?? (_environment("GOOGLE_CLOUD_REGION") is { Length: > 0 } region ? region : null);
    }

    private string Region(JobContext context) =>
        RegionOrNull(context) ?? throw LaunchException.Invalid("MissingVertexRegion",
            "A Vertex AI job needs a region: set environment.type to gcp with environment.region (for example us-central1) in launch-config.yaml, gcloud's compute/region ('gcloud config set compute/region us-central1'), or GOOGLE_CLOUD_REGION in the agent's environment.",
            "environment.region");

    private JsonObject Build(JobContext context, List<string>? dropped = null)
    {
        var overrides = context.Spec.Overrides;
        var command = (overrides.EntryPoint ?? []).Concat(overrides.Args ?? []).ToList();
        var name = context.Spec.Name is { Length: > 0 } runName ? runName : context.Job.RunId;
        return VertexCustomJob.Build(context.ResourceArgs, name, context.Job.RunId, command, context.Environment, DateTime.UtcNow, $"resource_args.{Resource}", dropped);
    }

    public RenderedRequest Render(JobContext context)
    {
        var dropped = new List<string>();
        var body = Build(context, dropped);
        // A submit renders without the agent's configuration: the region is then the agent's to know.
        var region = RegionOrNull(context);
        var location = region ?? "<the agent's region>";
        var endpoint = region is null ? "https://<region>-aiplatform.googleapis.com/" : GoogleEndpoints.Vertex(region, _environment).ToString();
        var project = context.AgentConfig.Environment.Project is { Length: > 0 } p ? p : "<the Application Default Credentials' project>";
        var redactor = SecretRedactor.Of(context.Secrets);
        var pools = ((JsonArray)body["jobSpec"]!["workerPoolSpecs"]!).Count;
        return new RenderedRequest
        {
            Resource = Resource,
            Summary = $"CustomJob {body["displayName"]} in projects/{project}/locations/{location} ({pools} worker pool{(pools == 1 ? "" : "s")})",
            Text = redactor.Redact($"POST {endpoint}v1/projects/{project}/locations/{location}/customJobs\n{body.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true })}\n"),
            Warnings = [.. dropped.Select(redactor.Redact)],
        };
    }

    public async Task<IRunningJob> StartAsync(JobContext context, CancellationToken cancellationToken)
    {
        if (context.Code is not null)
        {
            throw new JobFailedException(FailureStage.Agent,
                $"The job runs in its base image {context.ImageUri} with its code mounted, without a build; Vertex AI cannot mount the agent's files. Set builder.type to docker or kaniko with a destination in Artifact Registry.");
        }
        var dropped = new List<string>();
        var body = Build(context, dropped);
        foreach (var warning in dropped) context.Log.Agent("warning: " + warning);
        var region = Region(context);
        var client = Client();
        var project = await ProjectAsync(context.AgentConfig.Environment.Project, client, cancellationToken).ConfigureAwait(false);
        var baseUrl = GoogleEndpoints.Vertex(region, _environment);
        var parent = $"projects/{project}/locations/{region}";
        var log = context.Log;
        log.Agent($"creating Vertex AI CustomJob {body["displayName"]} in {parent} at {baseUrl.GetLeftPart(UriPartial.Authority)} as {client.Auth.Identity}");
        await context.Launching().ConfigureAwait(false);
        JsonObject created;
        try
        {
            created = await client.SendAsync(HttpMethod.Post, new Uri(baseUrl, $"v1/{parent}/customJobs"), body, "Creating the Vertex AI CustomJob", cancellationToken,
                idempotent: false).ConfigureAwait(false);
        }
        catch (GoogleApiException e)
        {
            if (e.HttpStatus == 401) ForgetClient(client);
            throw new JobFailedException(FailureStage.Run, $"Vertex AI refused the CustomJob: {e.HttpStatus} {e.Status}: {e.ServiceMessage}", e);
        }
        catch (LaunchException e) when (e.ErrorId.StartsWith("GoogleCredentials", StringComparison.Ordinal))
        {
            ForgetClient(client);
            throw new JobFailedException(FailureStage.Agent, e.Message, e);
        }
        catch (LaunchException e)
        {
            throw new JobFailedException(FailureStage.Run, e.Message, e);
        }
        var name = created["name"] is JsonValue n && n.TryGetValue<string>(out var resourceName) && VertexJobName.TryParse(resourceName, out _)
            ? resourceName
            : throw new JobFailedException(FailureStage.Run, $"Vertex AI answered the create without a CustomJob resource name (projects/<project>/locations/<region>/customJobs/<id>): {Text.Printable.Quote(created["name"]?.ToJsonString() ?? "none")}.");
        log.Agent($"created {name}; console: {ConsoleLink(name)}");
        return new RunningVertexJob(client, baseUrl, name, log, context.Warn, Polling, created);
    }

    private async Task<string> ProjectAsync(string? configured, GoogleApiClient client, CancellationToken cancellationToken)
    {
        if (configured is { Length: > 0 }) return configured;
        try
        {
            return await client.Auth.ProjectAsync(cancellationToken).ConfigureAwait(false)
                   ?? throw new JobFailedException(FailureStage.Agent,
                       $"The Google project is unknown: {client.Auth.Identity} names none. Set environment.project in launch-config.yaml, or GOOGLE_CLOUD_PROJECT in the agent's environment.");
        }
        catch (LaunchException e)
        {
            throw new JobFailedException(FailureStage.Agent, e.Message, e);
        }
    }

    /// <summary>The console page W&amp;B links to: <c>.../vertex-ai/locations/&lt;region&gt;/training/&lt;id&gt;?project=&lt;project&gt;</c>.</summary>
    public static string ConsoleLink(string name)
    {
        var parts = name.Split('/');
        return parts.Length == 6
            ? $"https://console.cloud.google.com/vertex-ai/locations/{parts[3]}/training/{parts[5]}?project={parts[1]}"
            : "https://console.cloud.google.com/vertex-ai/training/custom-jobs";
    }

    public async Task<IRunningJob?> AttachAsync(LaunchJob job, JobLog log, CancellationToken cancellationToken)
    {
        GoogleApiClient client;
        try
        {
            client = Client();
        }
        catch (LaunchException e)
        {
            log.Agent($"cannot re-attach: {e.Message}");
            return null;
        }
        if (!string.IsNullOrEmpty(job.Handle))
        {
            if (!VertexJobName.TryParse(job.Handle, out var handle))
            {
                log.Agent($"the recorded handle {Text.Printable.Quote(job.Handle)} is not a CustomJob resource name; the job cannot be re-attached");
                return null;
            }
            log.Agent($"re-attached to {job.Handle}");
            return new RunningVertexJob(client, GoogleEndpoints.Vertex(handle.Region, _environment), job.Handle, log, m => log.Agent("warning: " + m), Polling, null);
        }
        // The earlier agent stopped before it recorded a handle: the CustomJob, if it was created, carries the run
        // id. Re-attaching knows no agent configuration: gcloud's compute/region or GOOGLE_CLOUD_REGION names the region.
        if ((GcloudConfig.Region(_environment) ?? _environment("GOOGLE_CLOUD_REGION")) is not { Length: > 0 } region)
        {
            log.Agent("no handle was recorded and no region is known here (gcloud's compute/region, GOOGLE_CLOUD_REGION); the run's CustomJob cannot be looked for");
            return null;
        }
        return await FindByRunIdAsync(client, region, job, log, cancellationToken).ConfigureAwait(false);
    }

    private async Task<IRunningJob?> FindByRunIdAsync(GoogleApiClient client, string region, LaunchJob job, JobLog log, CancellationToken cancellationToken)
    {
        try
        {
            var project = await client.Auth.ProjectAsync(cancellationToken).ConfigureAwait(false);
            if (project is null) return null;
            var baseUrl = GoogleEndpoints.Vertex(region, _environment);
            var filter = Uri.EscapeDataString($"labels.{VertexCustomJob.RunIdLabel}=\"{RunNames.Of(job.RunId)}\"");
            var list = await client.SendAsync(HttpMethod.Get, new Uri(baseUrl, $"v1/projects/{project}/locations/{region}/customJobs?filter={filter}"), null,
                "Listing Vertex AI CustomJobs", cancellationToken).ConfigureAwait(false);
            var found = (list["customJobs"] as JsonArray)?.OfType<JsonObject>()
                .Select(j => j["name"] is JsonValue v && v.TryGetValue<string>(out var n) ? n : null).FirstOrDefault(n => n is not null && VertexJobName.TryParse(n, out _));
            if (found is null)
            {
                log.Agent($"no CustomJob of run {job.RunId} exists; the job cannot be re-attached");
                return null;
            }
            log.Agent($"re-attached to {found} (found by its {VertexCustomJob.RunIdLabel} label)");
            return new RunningVertexJob(client, baseUrl, found, log, m => log.Agent("warning: " + m), Polling, null);
        }
        catch (LaunchException e)
        {
            log.Agent($"cannot look for the run's CustomJob: {e.Message}");
            return null;
        }
    }
}
