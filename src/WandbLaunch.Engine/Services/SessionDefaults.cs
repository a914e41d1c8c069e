using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Engine.Storage.Wandb;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Services;

/// <summary>
/// The connection a session uses before (or without) Connect-WandbLaunch, read afresh on every call so that a
/// runbook's environment takes effect at once: <c>WANDB_LAUNCH_BACKEND=wandb</c> picks the W&amp;B server that
/// <c>WANDB_BASE_URL</c>/<c>WANDB_API_KEY</c>/<c>WANDB_ENTITY</c> (or the settings and netrc files wandb login wrote)
/// name; unset or <c>local</c>, the local store at <c>WANDB_LAUNCH_DB</c> or its default path. A W&amp;B key alone
/// does not switch: most W&amp;B users have one set for their training runs, and their local queues must stay local.
/// </summary>
public static class SessionDefaults
{
    public const string BackendVariable = "WANDB_LAUNCH_BACKEND";

    public static BackendConnection Connection() => Connection(Environment.GetEnvironmentVariable(BackendVariable));

    public static BackendConnection Connection(string? backend) => backend?.Trim().ToLowerInvariant() switch
    {
        null or "" or "local" => LocalStoreConnection.Default(),
        "wandb" => WandbCredentials.Resolve(new WandbConnectRequest()),
        _ => throw LaunchException.Invalid("InvalidLaunchBackend",
            $"{BackendVariable} is {Printable.Quote(backend)}; allowed: 'local' (the local store, the default) or 'wandb' (the W&B server from WANDB_BASE_URL, WANDB_API_KEY and WANDB_ENTITY).", backend),
    };

    /// <summary>How the default was chosen, for -Verbose.</summary>
    public static string ChosenBy(BackendConnection connection) => connection switch
    {
        WandbConnection => $"from {BackendVariable}=wandb",
        _ when !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(LaunchDefaults.DatabaseVariable)) => $"from {LaunchDefaults.DatabaseVariable}",
        _ => "the default store",
    };
}
