using System.Collections;
using System.Management.Automation;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Config;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.AgentConfig;

/// <summary>
/// The launch-config.yaml keys as parameters, shared by New- and Set-WandbLaunchAgentConfig. Each bound parameter
/// becomes one key change; unbound ones leave the file alone.
/// </summary>
public abstract class AgentConfigCmdlet : WandbLaunchCmdlet
{
    /// <summary>The config file. Default: ~/.config/wandb/launch-config.yaml.</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>Queues the agent polls (key: queues).</summary>
    [Parameter]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string[]? Queue { get; set; }

    /// <summary>The entity that owns the queues (key: entity).</summary>
    [Parameter]
    public string? Entity { get; set; }

    /// <summary>Most jobs the agent runs at once; -1 is unlimited (key: max_jobs).</summary>
    [Parameter]
    public int MaxJobs { get; set; }

    /// <summary>Most sweep schedulers at once; -1 is unlimited (key: max_schedulers).</summary>
    [Parameter]
    public int MaxSchedulers { get; set; }

    /// <summary>Refuse risky Kubernetes fields in queue configs and job overrides (key: secure_mode).</summary>
    [Parameter]
    public SwitchParameter SecureMode { get; set; }

    /// <summary>0, 1 or 2 (key: verbosity).</summary>
    [Parameter]
    public int Verbosity { get; set; }

    /// <summary>Seconds a job whose run was stopped on the server runs on before it is cancelled, and a stopped local job gets between SIGTERM and SIGKILL (key: stopped_run_timeout).</summary>
    [Parameter]
    public int StoppedRunTimeout { get; set; }

    /// <summary>docker, kaniko or noop (key: builder.type).</summary>
    [Parameter]
    [ValidateSet("docker", "kaniko", "noop")]
    public string? BuilderType { get; set; }

    /// <summary>The image repository built images are pushed to, without a tag (key: builder.destination).</summary>
    [Parameter]
    public string? Destination { get; set; }

    /// <summary>linux/amd64 or linux/arm64 (key: builder.platform).</summary>
    [Parameter]
    [ValidateSet("linux/amd64", "linux/arm64")]
    public string? Platform { get; set; }

    /// <summary>Where kaniko build contexts are uploaded: s3://, gs:// or an Azure blob URL (key: builder.build-context-store).</summary>
    [Parameter]
    public string? BuildContextStore { get; set; }

    /// <summary>Name prefix of kaniko build Jobs (key: builder.build-job-name).</summary>
    [Parameter]
    public string? BuildJobName { get; set; }

    /// <summary>Kubernetes secret with registry credentials for kaniko (key: builder.secret-name).</summary>
    [Parameter]
    public string? SecretName { get; set; }

    /// <summary>Key inside that secret (key: builder.secret-key).</summary>
    [Parameter]
    public string? SecretKey { get; set; }

    /// <summary>The kaniko executor image (key: builder.kaniko-image).</summary>
    [Parameter]
    public string? KanikoImage { get; set; }

    /// <summary>A partial Job manifest merged into the kaniko Job (key: builder.kaniko-config).</summary>
    [Parameter]
    public IDictionary? KanikoConfig { get; set; }

    /// <summary>aws, gcp, azure or local (key: environment.type).</summary>
    [Parameter]
    [ValidateSet("aws", "gcp", "azure", "local")]
    public string? EnvironmentType { get; set; }

    /// <summary>The cloud region; required for aws and gcp (key: environment.region).</summary>
    [Parameter]
    public string? Region { get; set; }

    /// <summary>The cloud project (key: environment.project).</summary>
    [Parameter]
    public string? EnvironmentProject { get; set; }

    /// <summary>
    /// Any other keys, by dotted path: @{ 'builder.kaniko-config' = @{...}; verbosity = 1 }. A $null value removes
    /// the key. Applied after the named parameters.
    /// </summary>
    [Parameter]
    public IDictionary? Setting { get; set; }

    private protected string ResolvedPath =>
        Path is null ? AgentConfigDefaults.Path() : SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);

    /// <summary>The key changes the bound parameters ask for, in a stable order.</summary>
    private protected List<KeyValuePair<string, JsonNode?>> Changes()
    {
        var changes = new List<KeyValuePair<string, JsonNode?>>();
        void Add(string parameter, string key, Func<JsonNode?> value)
        {
            if (IsBound(parameter)) changes.Add(new(key, value()));
        }
        Add(nameof(Queue), "queues", () => new JsonArray((Queue ?? []).Select(q => (JsonNode?)JsonValue.Create(q)).ToArray()));
        Add(nameof(Entity), "entity", () => Entity);
        Add(nameof(MaxJobs), "max_jobs", () => MaxJobs);
        Add(nameof(MaxSchedulers), "max_schedulers", () => MaxSchedulers);
        Add(nameof(SecureMode), "secure_mode", () => SecureMode.IsPresent);
        Add(nameof(Verbosity), "verbosity", () => Verbosity);
        Add(nameof(StoppedRunTimeout), "stopped_run_timeout", () => StoppedRunTimeout);
        Add(nameof(BuilderType), "builder.type", () => BuilderType);
        Add(nameof(Destination), "builder.destination", () => Destination);
        Add(nameof(Platform), "builder.platform", () => Platform);
        Add(nameof(BuildContextStore), "builder.build-context-store", () => BuildContextStore);
        Add(nameof(BuildJobName), "builder.build-job-name", () => BuildJobName);
        Add(nameof(SecretName), "builder.secret-name", () => SecretName);
        Add(nameof(SecretKey), "builder.secret-key", () => SecretKey);
        Add(nameof(KanikoImage), "builder.kaniko-image", () => KanikoImage);
        Add(nameof(KanikoConfig), "builder.kaniko-config", () => PowerShellValues.ToJson(KanikoConfig, "InvalidKanikoConfig"));
        Add(nameof(EnvironmentType), "environment.type", () => EnvironmentType);
        Add(nameof(Region), "environment.region", () => Region);
        Add(nameof(EnvironmentProject), "environment.project", () => EnvironmentProject);
        if (Setting is not null)
        {
            foreach (DictionaryEntry entry in Setting)
            {
                changes.Add(new(entry.Key.ToString() ?? "", PowerShellValues.ToJson(entry.Value, "InvalidAgentConfigSetting")));
            }
        }
        return changes;
    }

    private protected void WriteIssues(IEnumerable<ConfigIssue> issues)
    {
        foreach (var issue in issues.Where(i => i.Severity == ConfigIssueSeverity.Warning)) WriteWarning(issue.ToString());
    }
}
