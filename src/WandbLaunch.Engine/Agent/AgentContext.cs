using WandbLaunch.Engine.Agent.Runs;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Engine.Agent;

/// <summary>
/// What the agent's parts (<see cref="Dispatcher"/>, <see cref="LeaseKeeper"/>, <see cref="OrphanWatchdog"/>,
/// <see cref="JobRun"/>, <see cref="JobEndWriter"/>) share: the backend, the options, the runners and builder, the
/// agent's id, the launch jobs it holds, its counts and its one event stream.
/// </summary>
internal sealed class AgentContext
{
    private readonly IAgentEvents _events;
    private volatile Secrets.SecretRedactor _secrets;
    private int _finished;
    private int _failed;
    private int _left;
    private readonly Lazy<Cloud.Google.ArtifactRegistryClient> _artifactRegistry;

    public AgentContext(ILaunchBackend backend, AgentOptions options, IAgentEvents events, RunnerRegistry? runners)
    {
        Backend = backend;
        Options = options;
        _events = events;
        Docker = new Lazy<Docker.DockerEngine>(() => Engine.Docker.DockerEngine.Connect(options.Environment));
        _ecr = new Lazy<Cloud.Aws.EcrLogins>(() => new Cloud.Aws.EcrLogins(options.Environment));
        _artifactRegistry = new(() => new Cloud.Google.ArtifactRegistryClient(new Cloud.Google.GoogleApiClient(Cloud.Google.GoogleAuth.FromEnvironment(options.Environment)), options.Environment),
            LazyThreadSafetyMode.PublicationOnly);
        _acr = new Lazy<Cloud.Azure.AcrLogins>(() => new Cloud.Azure.AcrLogins(options.Environment, options.AzureHandler));
        Runners = runners ?? RunnerRegistry.Default(Docker, Credential, options.Environment, options.KeepAdditionalServices, options.CloudJobPollingInterval);
        _secrets = Secrets.SecretRedactor.FromEnvironment(options.Environment, options.RegistryCredential);
        Jobs = new JobRuns();
        Ends = new JobEndWriter(this);
        Diagnostics = new AgentDiagnostics(options.Diagnostics, this);
    }

    public ILaunchBackend Backend { get; }

    public AgentOptions Options { get; }

    public RunnerRegistry Runners { get; }

    public Lazy<Docker.DockerEngine> Docker { get; }

    /// <summary>The builder for launch jobs that run in an image (chosen when the queues are resolved).</summary>
    public Builders.IImageBuilder? Builder { get; set; }

    /// <summary>The agent's id once registered.</summary>
    public string? Id { get; set; }

    /// <summary>The launch jobs the agent holds now.</summary>
    public JobRuns Jobs { get; }

    /// <summary>The one place a launch job's end is written.</summary>
    public JobEndWriter Ends { get; }

    /// <summary>Forwards what the engine reports while the agent works into the agent's event stream.</summary>
    public AgentDiagnostics Diagnostics { get; }

    /// <summary>How the agent paces polls and heartbeats on a backend without a change signal; null on the local store.</summary>
    public PollCadence? Cadence => Options.Cadence ?? Backend.Cadence;

    public int MaxJobs => Options.Config.MaxJobs;

    public bool HasCapacity => MaxJobs == -1 || Jobs.Count < MaxJobs;

    public int Finished => Volatile.Read(ref _finished);

    public int Failed => Volatile.Read(ref _failed);

    public int Left => Volatile.Read(ref _left);

    public void CountFinished() => Interlocked.Increment(ref _finished);

    public void CountFailed() => Interlocked.Increment(ref _failed);

    public void CountLeft() => Interlocked.Increment(ref _left);

    /// <summary>
    /// The credential for <paramref name="registry"/>: -RegistryCredential (for the destination's registry); for an ECR
    /// registry the login of ECR's GetAuthorizationToken, and for Artifact Registry (<c>&lt;region&gt;-docker.pkg.dev</c>) an
    /// access token of Google's Application Default Credentials as user oauth2accesstoken, as W&amp;B's agent logs in
    /// there; for an Azure Container Registry (<c>&lt;name&gt;.azurecr.io</c>) an ACR refresh token exchanged for the
    /// agent's Azure AD token (<see cref="Cloud.Azure.AcrLogins"/>, which W&amp;B's agent cannot do); else the Docker
    /// config file's.
    /// </summary>
    public Registries.RegistryCredential? Credential(string registry)
    {
        var resolved = Registries.RegistryCredential.Resolve(registry, Options.RegistryCredential, Options.Config.Builder.Destination, Options.Environment);
        if (ReferenceEquals(resolved, Options.RegistryCredential) && resolved is not null) return resolved;
        if (Options.RegistryCredential is null && _ecr.Value.For(registry) is { } ecr) return ecr;
        if (Cloud.Azure.AcrLogins.IsHost(registry))
        {
            try
            {
                var acr = _acr.Value;
                // The builders ask synchronously; the login is cached until shortly before it expires.
                return Task.Run(() => acr.LoginAsync(registry, CancellationToken.None)).GetAwaiter().GetResult();
            }
            catch (Errors.LaunchException e)
            {
                Verbose($"no ACR login for {registry} ({e.Message}); {(resolved is null ? "no other credentials either" : $"using {resolved}")}");
                return resolved;
            }
        }
        if (!Cloud.Google.ArtifactRegistryRepository.IsHost(registry)) return resolved;
        try
        {
            var client = _artifactRegistry.Value;
            // The builders ask synchronously; the token is cached by the credentials until shortly before it expires.
            return Task.Run(() => client.CredentialAsync(CancellationToken.None)).GetAwaiter().GetResult();
        }
        catch (Errors.LaunchException e)
        {
            Verbose($"no Google access token for {registry} ({e.Message}); {(resolved is null ? "no other credentials either" : $"using {resolved}")}");
            return resolved;
        }
    }

    private readonly Lazy<Cloud.Aws.EcrLogins> _ecr;
    private readonly Lazy<Cloud.Azure.AcrLogins> _acr;

    public string LogPathOf(LaunchJob job) => JobLogPath.Of(job, Backend.LogDirectory);

    /// <summary>The agent's secrets and the launch job's own (a spec's <c>_wandb_api_key</c>).</summary>
    /// <remarks>
    /// Read again for each launch job: the agent's environment may change while it runs (a key set after it started
    /// reaches the jobs, so it must be known here too). Events use the last one read.
    /// </remarks>
    public Secrets.SecretRedactor SecretsOf(LaunchJob job)
    {
        _secrets = Secrets.SecretRedactor.FromEnvironment(Options.Environment, Options.RegistryCredential);
        return _secrets.WithSpec(job.GetSpec());
    }

    /// <summary>Redacts with the secrets last read.</summary>
    public string Redact(string message) => _secrets.Redact(message);

    /// <summary>A launch job's write to the backend, tried again while its fault passes (a locked or full store, a W&amp;B server that is down; for up to 10 minutes), so an outage does not lose the job's record.</summary>
    public Task Persist(Func<Task> write) => BackendFaults.RetryAsync(write, Options.StoreRetry, TimeSpan.FromMinutes(10));

    public Task<T> Persist<T>(Func<Task<T>> write) => BackendFaults.RetryAsync(write, Options.StoreRetry, TimeSpan.FromMinutes(10));

    public void Report(AgentEventKind kind, string message, string? jobId = null, string? queue = null) =>
        _events.Report(new AgentEvent(DateTimeOffset.Now, kind, Redact(message), jobId, queue));

    /// <summary>Passes an event through as it is (build and push progress, diagnostics already redacted).</summary>
    public void Report(AgentEvent agentEvent) => _events.Report(agentEvent);

    /// <summary>What the agent does, at Verbose (-Verbose, verbosity 1).</summary>
    public static void Verbose(string message) => EngineLog.Verbose("agent", message);

    /// <summary>Every step, at Debug (-Debug, verbosity 2).</summary>
    public static void Debug(Func<string> message) => EngineLog.Debug("agent", message);
}
