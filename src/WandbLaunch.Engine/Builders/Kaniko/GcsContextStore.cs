using System.Text.Json.Nodes;
using Google;
using Google.Apis.Auth.OAuth2;
using Google.Apis.Auth.OAuth2.Responses;
using Google.Cloud.Storage.V1;

namespace WandbLaunch.Engine.Builders.Kaniko;

/// <summary>
/// A build context in Google Cloud Storage, uploaded with Google.Cloud.Storage.V1. Credentials: the file named by
/// <c>GOOGLE_APPLICATION_CREDENTIALS</c> in the agent's environment (a service account key, or any other credential
/// file type Google's auth library reads), else Application Default Credentials (gcloud's, or the metadata server's
/// on GKE). <c>STORAGE_EMULATOR_HOST</c> (as Google's clients read it: <c>host:port</c> or a URL) points the client at
/// another endpoint; the credentials are still sent.
/// </summary>
internal sealed class GcsContextStore : ContextStore
{
    private readonly Func<string, string?> _environment;
    private readonly string _bucket;
    private readonly string _object;
    private StorageClient? _client;
    private string _identity = "Application Default Credentials";

    public GcsContextStore(string uri, Func<string, string?> environment) : base(uri)
    {
        _environment = environment;
        (_bucket, _object) = BucketAndKey(uri);
    }

    private string? Emulator
    {
        get
        {
            var host = Value(_environment, "STORAGE_EMULATOR_HOST");
            if (host is null) return null;
            return (host.Contains("://", StringComparison.Ordinal) ? host : "http://" + host).TrimEnd('/');
        }
    }

    private async Task<StorageClient> ClientAsync(CancellationToken cancellationToken)
    {
        if (_client is not null) return _client;
        GoogleCredential credential;
        var file = Value(_environment, "GOOGLE_APPLICATION_CREDENTIALS");
        try
        {
            if (file is not null)
            {
                _identity = $"the credentials in {file} (GOOGLE_APPLICATION_CREDENTIALS)";
                var json = JsonNode.Parse(await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false)) as JsonObject;
                var type = json?["type"]?.GetValue<string>() ?? throw new FormatException("it has no \"type\" (a service account key has \"type\": \"service_account\")");
                if (json["client_email"]?.GetValue<string>() is { } email) _identity = $"service account {email} ({file}, GOOGLE_APPLICATION_CREDENTIALS)";
                credential = CredentialFactory.FromFile(file, type);
            }
            else
            {
                credential = await GoogleCredential.GetApplicationDefaultAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or System.Text.Json.JsonException or InvalidOperationException or ArgumentException or NotSupportedException)
        {
            throw Failed(file is null
                ? $"no Google credentials were found ({e.Message.TrimEnd('.')}). Set GOOGLE_APPLICATION_CREDENTIALS to a service account key file, or run the agent with a workload identity."
                : $"the credential file {file} (GOOGLE_APPLICATION_CREDENTIALS) cannot be used: {e.Message.TrimEnd('.')}.", e);
        }
        var builder = new StorageClientBuilder { Credential = credential };
        if (Emulator is { } emulator) builder.BaseUri = emulator + "/storage/v1/";
        _client = await builder.BuildAsync(cancellationToken).ConfigureAwait(false);
        return _client;
    }

    private string Where => Emulator is { } emulator ? $"the Cloud Storage endpoint {emulator}" : "Cloud Storage";

    public override async Task UploadAsync(Stream content, Action<long, long>? progress, CancellationToken cancellationToken)
    {
        var client = await ClientAsync(cancellationToken).ConfigureAwait(false);
        var total = content.CanSeek ? content.Length : -1;
        var reporter = progress is null ? null : new Progress(p => progress(p.BytesSent, total));
        try
        {
            await client.UploadObjectAsync(_bucket, _object, "application/gzip", content, cancellationToken: cancellationToken, progress: reporter).ConfigureAwait(false);
        }
        catch (GoogleApiException e)
        {
            var status = (int)e.HttpStatusCode;
            var message = e.Error?.Message ?? e.Message;
            throw Failed(status switch
            {
                401 => $"{Where} refused the access token of {_identity} (401: {message}). Renew the credentials.",
                403 => $"{Where} does not allow {_identity} to write gs://{_bucket} (403: {message}). Grant it roles/storage.objectAdmin on the bucket.",
                404 => $"{Where} has no bucket {_bucket} (404: {message}). Create it, or fix builder.build-context-store.",
                _ => $"{Where} answered {status}: {message}",
            }, e);
        }
        catch (TokenResponseException e)
        {
            throw Failed($"Google refused to issue an access token for {_identity}: {e.Error?.Error}{(string.IsNullOrEmpty(e.Error?.ErrorDescription) ? "" : ": " + e.Error.ErrorDescription)}. " +
                         "Check that the key is current (not deleted or disabled).", e);
        }
        catch (HttpRequestException e)
        {
            throw Failed($"{Where} cannot be reached: {e.Message}", e);
        }
    }

    public override async Task DeleteAsync(CancellationToken cancellationToken)
    {
        var client = await ClientAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await client.DeleteObjectAsync(_bucket, _object, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (GoogleApiException e) when (e.HttpStatusCode == System.Net.HttpStatusCode.NotFound)
        {
        }
    }

    public override void Dispose() => _client?.Dispose();

    private sealed class Progress(Action<Google.Apis.Upload.IUploadProgress> report) : IProgress<Google.Apis.Upload.IUploadProgress>
    {
        public void Report(Google.Apis.Upload.IUploadProgress value) => report(value);
    }
}
