using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.FileSystem;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Storage.Wandb;

/// <summary>What Connect-WandbLaunch was given; every value may be null (then W&amp;B's usual sources decide).</summary>
public sealed record WandbConnectRequest(string? BaseUrl = null, string? ApiKey = null, string? Entity = null);

/// <summary>
/// Resolves a W&amp;B connection's settings the way the wandb SDK does (reference §3):
/// base URL <c>-BaseUrl</c> &gt; <c>WANDB_BASE_URL</c> &gt; <c>base_url</c> in the settings files &gt; https://api.wandb.ai;
/// API key <c>-ApiKey</c> &gt; <c>WANDB_API_KEY</c> &gt; the netrc entry <c>machine &lt;host[:port]&gt;</c>;
/// entity <c>-Entity</c> &gt; <c>WANDB_ENTITY</c> &gt; <c>entity</c> in the settings files (else, later, the viewer's).
/// </summary>
public static class WandbCredentials
{
    public const string CloudUrl = "https://api.wandb.ai";

    public static WandbConnection Resolve(WandbConnectRequest request) =>
        Resolve(request, Environment.GetEnvironmentVariable, UserHome.Directory(), Environment.CurrentDirectory);

    public static WandbConnection Resolve(WandbConnectRequest request, Func<string, string?> environment, string home, string workingDirectory)
    {
        var settings = WandbSettingsFile.Load(environment, home, workingDirectory);
        var (urlText, urlSource) = First(
            (request.BaseUrl, "-BaseUrl"), (environment("WANDB_BASE_URL"), "WANDB_BASE_URL"), (settings["base_url"], "the W&B settings file"), (CloudUrl, "the default"));
        var baseUrl = ParseBaseUrl(urlText!, urlSource);
        var key = ResolveKey(request.ApiKey, baseUrl, environment, home);
        var (entity, _) = First((request.Entity, "-Entity"), (environment("WANDB_ENTITY"), "WANDB_ENTITY"), (settings["entity"], "settings"));
        EngineLog.Verbose("wandb", $"server {baseUrl} (from {urlSource}), API key from {key.Source}, entity {(entity is null ? "from the viewer" : Printable.Quote(entity))}");
        return new WandbConnection(baseUrl, key) { Entity = entity?.Trim() };
    }

    /// <summary>An absolute http(s) URL without user info, query or fragment; its trailing slash removed.</summary>
    public static Uri ParseBaseUrl(string text, string source)
    {
        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            throw LaunchException.Invalid("WandbBaseUrlInvalid", $"The W&B server URL {Printable.Quote(text)} from {source} is not an http:// or https:// URL.", text);
        }
        if (uri.UserInfo.Length > 0)
        {
            // Never echoed: user info is a password.
            throw LaunchException.Invalid("WandbBaseUrlInvalid", $"The W&B server URL from {source} contains a user name or password; give the key with -ApiKey or WANDB_API_KEY instead.");
        }
        if (uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            throw LaunchException.Invalid("WandbBaseUrlInvalid", $"The W&B server URL {Printable.Quote(text)} from {source} must not have a query or fragment.", text);
        }
        return new Uri(uri.GetLeftPart(UriPartial.Path).TrimEnd('/'));
    }

    /// <summary>The netrc machine name W&amp;B uses for a server: host, with the port when the URL names one.</summary>
    public static string NetrcMachine(Uri baseUrl) => baseUrl.IsDefaultPort ? baseUrl.Host : $"{baseUrl.Host}:{baseUrl.Port}";

    private static WandbApiKey ResolveKey(string? given, Uri baseUrl, Func<string, string?> environment, string home)
    {
        if (!string.IsNullOrWhiteSpace(given)) return WandbApiKey.Of(given, "-ApiKey");
        if (environment("WANDB_API_KEY") is { } fromEnv && !string.IsNullOrWhiteSpace(fromEnv)) return WandbApiKey.Of(fromEnv, "WANDB_API_KEY");
        var machine = NetrcMachine(baseUrl);
        if (NetrcFile.Locate(environment, home) is { } netrc && NetrcFile.ReadPassword(netrc, machine) is { } fromNetrc)
        {
            return WandbApiKey.Of(fromNetrc, $"the netrc file {Printable.Quote(netrc)}");
        }
        throw new LaunchException("WandbApiKeyMissing", LaunchErrorCategory.PermissionDenied,
            $"No W&B API key for {baseUrl}: none given with -ApiKey, WANDB_API_KEY is not set, and no netrc file has an entry for machine {Printable.Quote(machine)}.", baseUrl.ToString())
        {
            RecommendedAction = "Run 'wandb login' (or 'wandb login --host <url>'), set WANDB_API_KEY, or use Connect-WandbLaunch -ApiKey.",
        };
    }

    private static (string? Value, string Source) First(params (string? Value, string Source)[] candidates)
    {
        foreach (var candidate in candidates)
        {
            if (!string.IsNullOrWhiteSpace(candidate.Value)) return candidate;
        }
        return (null, "");
    }
}
