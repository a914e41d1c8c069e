using System.Text.Json.Nodes;
using Google.Apis.Auth.OAuth2;
using Google.Apis.Auth.OAuth2.Responses;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Cloud.Google;

/// <summary>
/// Application Default Credentials as <c>google.auth.default()</c> finds them, read from the agent's environment:
/// the file named by <c>GOOGLE_APPLICATION_CREDENTIALS</c> (a service account key, whose token endpoint is its
/// <c>token_uri</c>, or user credentials), else gcloud's <c>application_default_credentials.json</c> (in
/// <c>CLOUDSDK_CONFIG</c>, else gcloud's configuration folder), else the metadata server (<c>GCE_METADATA_HOST</c>,
/// else metadata.google.internal). Access tokens carry the cloud-platform scope and are kept by Google's library
/// until shortly before they expire. Tokens are never put in messages.
/// </summary>
public sealed class GoogleAuth
{
    public const string CloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform";

    /// <summary>The largest credential file read (a key file is about 2.3 KB).</summary>
    private const int MaxCredentialFileBytes = 64 * 1024;

    private readonly ICredential _credential;
    private readonly Func<string, string?> _environment;
    private readonly string? _sourceProject;
    private readonly bool _fromMetadataServer;
    private readonly SemaphoreSlim _projectLock = new(1, 1);
    private string? _project;

    private GoogleAuth(ICredential credential, string identity, string? sourceProject, bool fromMetadataServer, Func<string, string?> environment)
    {
        _credential = credential;
        Identity = identity;
        _sourceProject = sourceProject;
        _fromMetadataServer = fromMetadataServer;
        _environment = environment;
    }

    /// <summary>Whose credentials these are, for messages (an account and a file, never a secret).</summary>
    public string Identity { get; }

    private static string? Value(Func<string, string?> environment, string name) => environment(name) is { Length: > 0 } value ? value : null;

    /// <summary>Finds the credentials; reads files but contacts nothing.</summary>
    public static GoogleAuth FromEnvironment(Func<string, string?> environment)
    {
        if (Value(environment, "GOOGLE_APPLICATION_CREDENTIALS") is { } file)
        {
            return FromFile(file, $"{file} (GOOGLE_APPLICATION_CREDENTIALS)", environment, gcloudFile: false);
        }
        var gcloudFile = Path.Combine(GcloudConfig.Directory(environment), "application_default_credentials.json");
        if (File.Exists(gcloudFile)) return FromFile(gcloudFile, $"{gcloudFile} (gcloud auth application-default login)", environment, gcloudFile: true);
        var host = Value(environment, "GCE_METADATA_HOST") ?? "metadata.google.internal";
        var compute = new ComputeCredential(new ComputeCredential.Initializer($"http://{host}/computeMetadata/v1/instance/service-accounts/default/token"));
        return new GoogleAuth(GoogleCredential.FromComputeCredential(compute).CreateScoped(CloudPlatformScope), $"the metadata server's service account ({host})", null, true, environment);
    }

    private static GoogleAuth FromFile(string file, string described, Func<string, string?> environment, bool gcloudFile)
    {
        string json;
        try
        {
            var info = new FileInfo(file);
            if (!info.Exists) throw new FileNotFoundException("the file does not exist");
            if (info.Length > MaxCredentialFileBytes) throw new InvalidDataException($"it is larger than {MaxCredentialFileBytes} bytes");
            json = File.ReadAllText(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            throw Unusable(described, e.Message, e);
        }
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json) as JsonObject ?? throw new FormatException("it is not a JSON object");
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or FormatException)
        {
            throw Unusable(described, "it is not JSON", e);
        }
        var type = String(root, "type") ?? throw Unusable(described, "it has no \"type\" (a service account key has \"type\": \"service_account\")", null);
        try
        {
            switch (type)
            {
                case JsonCredentialParameters.ServiceAccountCredentialType:
                {
                    var email = String(root, "client_email") ?? throw new FormatException("it has no client_email");
                    var key = String(root, "private_key") ?? throw new FormatException("it has no private_key");
                    var tokenUri = String(root, "token_uri") ?? GoogleAuthConsts.OidcTokenUrl;
                    var initializer = new ServiceAccountCredential.Initializer(email, tokenUri)
                    {
                        Scopes = [CloudPlatformScope],
                        KeyId = String(root, "private_key_id"),
                        ProjectId = String(root, "project_id"),
                    }.FromPrivateKey(key);
                    var account = new ServiceAccountCredential(initializer);
                    return new GoogleAuth(GoogleCredential.FromServiceAccountCredential(account), $"service account {email} ({described})", account.ProjectId, false, environment);
                }
                case JsonCredentialParameters.AuthorizedUserCredentialType:
                {
                    // Built here rather than by CredentialFactory, which always refreshes at Google's URL: a file's
                    // token_uri is honoured, as google-auth does.
                    var flow = new global::Google.Apis.Auth.OAuth2.Flows.AuthorizationCodeFlow(new global::Google.Apis.Auth.OAuth2.Flows.AuthorizationCodeFlow.Initializer(
                        GoogleAuthConsts.OidcAuthorizationUrl, String(root, "token_uri") ?? GoogleAuthConsts.OidcTokenUrl)
                    {
                        ClientSecrets = new ClientSecrets
                        {
                            ClientId = String(root, "client_id") ?? throw new FormatException("it has no client_id"),
                            ClientSecret = String(root, "client_secret") ?? throw new FormatException("it has no client_secret"),
                        },
                        Scopes = [CloudPlatformScope],
                    });
                    var refreshToken = String(root, "refresh_token") ?? throw new FormatException("it has no refresh_token");
                    var credential = new UserCredential(flow, "user", new TokenResponse { RefreshToken = refreshToken });
                    // google.auth.default() takes gcloud's project for gcloud's own file only.
                    var project = gcloudFile ? GcloudConfig.Project(environment) : null;
                    return new GoogleAuth(credential, $"user credentials {described}", project, false, environment);
                }
                default:
                {
                    var credential = CredentialFactory.FromJson(json, type).CreateScoped(CloudPlatformScope);
                    return new GoogleAuth(credential, $"{type} credentials {described}", gcloudFile ? GcloudConfig.Project(environment) : null, false, environment);
                }
            }
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException or NotSupportedException or System.Security.Cryptography.CryptographicException)
        {
            throw Unusable(described, e.Message.TrimEnd('.'), e);
        }
    }

    private static string? String(JsonObject root, string name) => root[name] is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0 ? s : null;

    private static LaunchException Unusable(string described, string why, Exception? inner) =>
        new("GoogleCredentialsUnusable", LaunchErrorCategory.InvalidData,
            $"The Google credentials in {described} cannot be used: {why}. Point GOOGLE_APPLICATION_CREDENTIALS at a service account key file, or run 'gcloud auth application-default login'.",
            described, inner);

    /// <summary>
    /// The project, as <c>google.auth.default()</c> gives it: GOOGLE_CLOUD_PROJECT (else GCLOUD_PROJECT), else the
    /// credentials' own (a key file's project_id, gcloud's core/project for gcloud's file, the metadata server's).
    /// </summary>
    public async Task<string?> ProjectAsync(CancellationToken cancellationToken)
    {
        if ((Value(_environment, "GOOGLE_CLOUD_PROJECT") ?? Value(_environment, "GCLOUD_PROJECT")) is { } explicitProject) return explicitProject;
        if (_sourceProject is not null || !_fromMetadataServer) return _sourceProject;
        await _projectLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return _project ??= await MetadataProjectAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _projectLock.Release();
        }
    }

    private async Task<string?> MetadataProjectAsync(CancellationToken cancellationToken)
    {
        var host = Value(_environment, "GCE_METADATA_HOST") ?? "metadata.google.internal";
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{host}/computeMetadata/v1/project/project-id");
        request.Headers.Add("Metadata-Flavor", "Google");
        try
        {
            using var response = await client.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode) return null;
            var text = (await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)).Trim();
            return text.Length is > 0 and <= 100 ? text : null;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>
    /// A cloud-platform access token: the one held while it is fresh, a new one near its expiry or when
    /// <paramref name="renew"/> (the service refused the held one).
    /// </summary>
    public async Task<string> AccessTokenAsync(bool renew, CancellationToken cancellationToken)
    {
        try
        {
            if (renew)
            {
                switch (_credential is GoogleCredential google ? google.UnderlyingCredential : _credential)
                {
                    case ServiceCredential service:
                        await service.RequestAccessTokenAsync(cancellationToken).ConfigureAwait(false);
                        if (service.Token?.AccessToken is { Length: > 0 } serviceToken) return serviceToken;
                        break;
                    case UserCredential user:
                        await user.RefreshTokenAsync(cancellationToken).ConfigureAwait(false);
                        if (user.Token?.AccessToken is { Length: > 0 } userToken) return userToken;
                        break;
                }
            }
            var token = await ((ITokenAccess)_credential).GetAccessTokenForRequestAsync(null, cancellationToken).ConfigureAwait(false);
            return string.IsNullOrEmpty(token) ? throw Refused("the token endpoint answered no access token") : token;
        }
        catch (TokenResponseException e)
        {
            var why = $"{e.Error?.Error}{(string.IsNullOrEmpty(e.Error?.ErrorDescription) ? "" : ": " + e.Error.ErrorDescription)}";
            throw Refused(string.IsNullOrEmpty(why) ? e.Message : why, e);
        }
        catch (HttpRequestException e) when (_fromMetadataServer)
        {
            throw new LaunchException("GoogleCredentialsNotFound", LaunchErrorCategory.PermissionDenied,
                $"No Google credentials were found: GOOGLE_APPLICATION_CREDENTIALS is not set, gcloud has no application default credentials, and {Identity} cannot be reached ({e.Message}). " +
                "Set GOOGLE_APPLICATION_CREDENTIALS to a service account key file, or run 'gcloud auth application-default login'.", Identity, e);
        }
        catch (HttpRequestException e)
        {
            throw new LaunchException("GoogleTokenEndpointUnreachable", LaunchErrorCategory.ResourceUnavailable,
                $"Google's token endpoint cannot be reached for {Identity}: {e.Message}", Identity, e);
        }
    }

    private LaunchException Refused(string why, Exception? inner = null) =>
        new("GoogleCredentialsRefused", LaunchErrorCategory.PermissionDenied,
            $"Google refused to issue an access token for {Identity}: {why}. Check that the key or login is current (not deleted, disabled or expired).", Identity, inner);
}
