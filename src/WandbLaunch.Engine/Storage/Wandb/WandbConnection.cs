namespace WandbLaunch.Engine.Storage.Wandb;

/// <summary>
/// A connection to a W&amp;B server (https://api.wandb.ai or self-hosted) with an API key. ToString
/// (sealed in <see cref="BackendConnection"/>) prints kind and URL only; the key prints as <c>***</c> anywhere.
/// Build one with <see cref="WandbCredentials.Resolve(WandbConnectRequest)"/>.
/// </summary>
public sealed record WandbConnection : BackendConnection
{
    public WandbConnection(Uri baseUrl, WandbApiKey apiKey)
    {
        BaseUrl = baseUrl;
        ApiKey = apiKey;
    }

    public Uri BaseUrl { get; }

    public WandbApiKey ApiKey { get; }

    /// <summary>
    /// Where agents on this host keep what a W&amp;B server does not: job logs (<c>logs/</c>) and the records of the jobs
    /// they run, to re-attach after a restart (<c>wandb/&lt;hash of URL and entity&gt;/</c>). Null for <c>~/.config/wandb/launch</c>.
    /// </summary>
    public string? HostDirectory { get; init; }

    /// <summary>
    /// How long the calls an agent makes (pop, ack, fail, warn, heartbeat, register) keep retrying a failure that may
    /// pass before they give up and the agent's loop backs off (<see cref="WandbRetryPolicy.Agent"/>, 15 min, unless
    /// set; tests set seconds).
    /// </summary>
    public WandbRetryPolicy AgentRetry { get; init; } = WandbRetryPolicy.Agent;

    /// <summary>How long one request waits for an answer (<see cref="WandbGraphQLClient.DefaultRequestTimeout"/>, W&amp;B's 20 s, unless set).</summary>
    public TimeSpan? RequestTimeout { get; init; }

    public override string Kind => "Wandb";

    public override string Location => BaseUrl.ToString().TrimEnd('/');

    internal override ILaunchBackend Create() => new WandbLaunchBackend(this);

    internal override Task CheckAsync(ILaunchBackend backend, CancellationToken cancellationToken) =>
        ((WandbLaunchBackend)backend).CheckAsync(cancellationToken);
}
