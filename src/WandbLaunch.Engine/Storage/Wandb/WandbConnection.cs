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
    /// Where agents on this host record the jobs they run, to re-attach after a restart (W&amp;B keeps no handles):
    /// null for <c>~/.config/wandb/launch/wandb/</c>. One directory per server URL and entity below it.
    /// </summary>
    public string? JobRecordsDirectory { get; init; }

    public override string Kind => "Wandb";

    public override string Location => BaseUrl.ToString().TrimEnd('/');

    internal override ILaunchBackend Create() => new WandbLaunchBackend(this);

    internal override Task CheckAsync(ILaunchBackend backend, CancellationToken cancellationToken) =>
        ((WandbLaunchBackend)backend).CheckAsync(cancellationToken);
}
