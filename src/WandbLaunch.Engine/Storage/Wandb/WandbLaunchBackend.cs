using System.Text.Json.Nodes;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.FileSystem;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Storage.Wandb;

/// <summary>
/// The launch backend on a W&amp;B server: each member maps onto the SDK's GraphQL operations (<see cref="WandbOperations"/>).
/// Queues live in <c>&lt;entity&gt;/model-registry</c> unless a caller names another project. What W&amp;B cannot
/// give (short leases, orphan claims, a change signal) degrades as docs/architecture.md's backend section says.
/// Members the agent calls retry for minutes (<see cref="WandbRetryPolicy.Agent"/>, or the connection's
/// <see cref="WandbConnection.AgentRetry"/>); the others, for cmdlets, briefly.
/// </summary>
public sealed partial class WandbLaunchBackend : ILaunchBackend
{
    private const string Source = "wandb";

    private readonly WandbConnection _connection;
    private readonly WandbGraphQLClient _client;
    private readonly SemaphoreSlim _viewerLock = new(1, 1);
    private Viewer? _viewer;

    internal WandbLaunchBackend(WandbConnection connection)
    {
        _connection = connection;
        _client = new WandbGraphQLClient(connection.BaseUrl, connection.ApiKey, connection.RequestTimeout);
        Artifacts = new WandbArtifactStore(_client, connection.Location, WandbRetryPolicy.Interactive);
    }

    /// <summary>The server's artifacts (jobs and code), through the SDK's artifact operations.</summary>
    public Artifacts.IArtifactStore Artifacts { get; }

    /// <summary>Who the API key belongs to, as <c>viewer</c> reports it.</summary>
    public sealed record Viewer(string Id, string? Entity, string? Username);

    public string Location => _connection.Location;

    /// <summary>W&amp;B's agents run jobs, not uris: Submit -Uri creates the job first, as <c>wandb launch -u</c>.</summary>
    public bool SubmitUriAsJob => true;

    /// <summary><c>-Entity</c>/<c>WANDB_ENTITY</c>/settings, else the viewer's default entity (asked once).</summary>
    public string DefaultEntity =>
        _connection.Entity ?? GetViewerAsync(CancellationToken.None).GetAwaiter().GetResult().Entity
        ?? throw LaunchException.Invalid("WandbEntityUnknown", $"The W&B server at {Location} reports no default entity for this API key; connect with -Entity.");

    /// <summary>
    /// The key's user name, else the default entity: W&amp;B's CLI takes "the personal username, not team name or service
    /// account, default to entity" (<c>cli/cli.py</c>: <c>api.viewer().get("username") or entity</c>).
    /// </summary>
    public async Task<string> DefaultAuthorAsync(CancellationToken cancellationToken)
    {
        var viewer = await GetViewerAsync(cancellationToken).ConfigureAwait(false);
        return viewer.Username is { Length: > 0 } username ? username : DefaultEntity;
    }

    /// <summary>Job logs of agents on this host stay local, as with W&amp;B's agent.</summary>
    public string LogDirectory => Path.Combine(HostDirectory, "logs");

    /// <summary>Where this host keeps job logs and job records (see <see cref="WandbConnection.HostDirectory"/>).</summary>
    private string HostDirectory => _connection.HostDirectory ?? Path.Combine(UserHome.Directory(), ".config", "wandb", "launch");

    /// <summary>Jobs and the agent reach the same server with the same key as this connection.</summary>
    public string? ConnectionVariable(string name) => name switch
    {
        "WANDB_BASE_URL" => Location,
        Specs.JobEnvironment.ApiKeyVariable => _connection.ApiKey.Reveal(),
        _ => null,
    };

    /// <summary>The viewer, when this backend has asked for it (Connect-WandbLaunch does); never contacts the server.</summary>
    public Viewer? ConnectedAs => _viewer;

    /// <summary>The user (or service account) the key belongs to, asked once per backend.</summary>
    public async Task<Viewer> GetViewerAsync(CancellationToken cancellationToken)
    {
        if (_viewer is { } known) return known;
        await _viewerLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_viewer is { } cached) return cached;
            var data = await ExecuteAsync("viewer", WandbOperations.Viewer, null, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false);
            if (data["viewer"] is not JsonObject viewer || Str(viewer, "id") is not { } id)
            {
                throw new WandbAuthException("viewer", 200, $"The W&B server at {Location} does not know the user of this API key. Check WANDB_API_KEY, or run Connect-WandbLaunch -ApiKey with a valid key.");
            }
            _viewer = new Viewer(id, Str(viewer, "entity"), Str(viewer, "username"));
            return _viewer;
        }
        finally
        {
            _viewerLock.Release();
        }
    }

    /// <summary>Connect-time check: the key is accepted (viewer) and the default entity exists.</summary>
    internal async Task CheckAsync(CancellationToken cancellationToken)
    {
        var viewer = await GetViewerAsync(cancellationToken).ConfigureAwait(false);
        EngineLog.Verbose(Source, () => $"connected to {Location} as {Printable.Quote(viewer.Username ?? viewer.Id)}");
        if (_connection.Entity is { } entity)
        {
            var data = await ExecuteAsync("entity", WandbOperations.EntityIsTeam, new JsonObject { ["entity"] = entity }, WandbRetryPolicy.Interactive, cancellationToken).ConfigureAwait(false);
            if (data["entity"] is not JsonObject)
            {
                throw LaunchException.NotFound("WandbEntityNotFound",
                    $"The W&B server at {Location} has no entity {Printable.Quote(entity)}, or this API key has no access to it.", entity);
            }
        }
        else if (viewer.Entity is null)
        {
            throw LaunchException.Invalid("WandbEntityUnknown", $"The W&B server at {Location} reports no default entity for this API key; connect with -Entity.");
        }
    }

    private Task<JsonObject> ExecuteAsync(string operation, string query, JsonObject? variables, WandbRetryPolicy retry, CancellationToken cancellationToken)
    {
        EngineLog.Verbose(Source, () => $"{operation} on {Location}");
        // The members name the agent's policy; the connection says how long it is (WandbConnection.AgentRetry).
        if (ReferenceEquals(retry, WandbRetryPolicy.Agent)) retry = _connection.AgentRetry;
        return _client.ExecuteAsync(operation, query, variables, retry, cancellationToken);
    }

    private static string? Str(JsonObject? obj, string key) => obj?[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : obj?[key] is JsonValue n ? n.ToJsonString() : null;

    /// <summary>A JSONString field: W&amp;B sends it as a string holding JSON, some servers as the JSON itself.</summary>
    private static JsonNode? JsonString(JsonNode? value)
    {
        if (value is not JsonValue v || !v.TryGetValue<string>(out var text)) return value?.DeepClone();
        try
        {
            return JsonTree.ParseJson(text);
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private static LaunchException NotOnWandb(string what, string instead) =>
        new("WandbNotSupported", LaunchErrorCategory.NotImplemented, $"{what} is not available on a W&B server. {instead}");

    public void Dispose()
    {
        _client.Dispose();
        _viewerLock.Dispose();
    }
}
