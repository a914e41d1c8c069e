using Azure;
using Azure.Identity;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace WandbLaunch.Engine.Builders.Kaniko;

/// <summary>
/// A build context in Azure Blob Storage (<c>https://&lt;account&gt;.blob.core.windows.net/&lt;container&gt;/…</c>),
/// uploaded with Azure.Storage.Blobs. Credentials, first that is set in the agent's environment:
/// <c>AZURE_STORAGE_CONNECTION_STRING</c> (for the store's account; its <c>BlobEndpoint</c> may point elsewhere,
/// such as an emulator), <c>AZURE_STORAGE_KEY</c> (the account key), else <c>DefaultAzureCredential</c>
/// (environment, workload identity, managed identity, Azure CLI).
/// </summary>
internal sealed class AzureBlobContextStore : ContextStore
{
    private readonly Func<string, string?> _environment;
    private readonly string _account;
    private readonly string _container;
    private readonly string _blob;
    private BlobClient? _client;
    private string _identity = "DefaultAzureCredential";

    public AzureBlobContextStore(string uri, Func<string, string?> environment) : base(uri)
    {
        _environment = environment;
        var parsed = new Uri(uri);
        _account = parsed.Host[..parsed.Host.IndexOf('.')];
        var path = parsed.AbsolutePath.TrimStart('/');
        var slash = path.IndexOf('/');
        _container = path[..slash];
        _blob = Uri[(Uri.IndexOf(_container + "/", "https://".Length, StringComparison.Ordinal) + _container.Length + 1)..];
    }

    private BlobClient Client()
    {
        if (_client is not null) return _client;
        var options = new BlobClientOptions();
        options.Retry.MaxRetries = 2;
        options.Retry.NetworkTimeout = TimeSpan.FromMinutes(5);
        BlobServiceClient service;
        if (Value(_environment, "AZURE_STORAGE_CONNECTION_STRING") is { } connectionString)
        {
            try
            {
                service = new BlobServiceClient(connectionString, options);
            }
            catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
            {
                // The parser's message may quote the string, key included: only its kind is told.
                throw Failed($"AZURE_STORAGE_CONNECTION_STRING is not a valid storage connection string ({e.GetType().Name}). " +
                             "It has the form DefaultEndpointsProtocol=https;AccountName=<account>;AccountKey=<key>;EndpointSuffix=core.windows.net.");
            }
            if (!string.Equals(service.AccountName, _account, StringComparison.OrdinalIgnoreCase))
            {
                throw Failed($"AZURE_STORAGE_CONNECTION_STRING is for storage account '{service.AccountName}', but builder.build-context-store is in account '{_account}'. " +
                             "Give the connection string of the store's account.");
            }
            _identity = $"the account key of {_account} (AZURE_STORAGE_CONNECTION_STRING)";
        }
        else if (Value(_environment, "AZURE_STORAGE_KEY") is { } key)
        {
            StorageSharedKeyCredential credential;
            try
            {
                credential = new StorageSharedKeyCredential(_account, key);
            }
            catch (FormatException)
            {
                throw Failed("AZURE_STORAGE_KEY is not an account key (a base64 string, as 'az storage account keys list' shows it).");
            }
            service = new BlobServiceClient(new Uri($"https://{_account}.blob.core.windows.net"), credential, options);
            _identity = $"the account key of {_account} (AZURE_STORAGE_KEY)";
        }
        else
        {
            service = new BlobServiceClient(new Uri($"https://{_account}.blob.core.windows.net"), new DefaultAzureCredential(), options);
        }
        _client = service.GetBlobContainerClient(_container).GetBlobClient(_blob);
        return _client;
    }

    public override async Task UploadAsync(Stream content, Action<long, long>? progress, CancellationToken cancellationToken)
    {
        var client = Client();
        var total = content.CanSeek ? content.Length : -1;
        var upload = new BlobUploadOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentType = "application/gzip" },
            ProgressHandler = progress is null ? null : new Progress(sent => progress(sent, total)),
        };
        try
        {
            await client.UploadAsync(content, upload, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e)
        {
            var what = $"Azure Storage answered {e.Status} {e.ErrorCode}";
            throw Failed(e.ErrorCode switch
            {
                "AuthenticationFailed" => $"{what}: it computes another signature with the key it has for account {_account}, so the key of {_identity} is wrong. Give the current account key.",
                "AuthorizationPermissionMismatch" or "AuthorizationFailure" => $"{what}: {_identity} may not write blobs in {_account}/{_container}; grant it Storage Blob Data Contributor.",
                "ContainerNotFound" => $"{what}: account {_account} has no container {_container}. Create it, or fix builder.build-context-store.",
                _ => $"{what}: {FirstLine(e.Message)}",
            }, e);
        }
        catch (AuthenticationFailedException e)
        {
            throw Failed($"no Azure credential could be had ({FirstLine(e.Message)}). Set AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_KEY, or run the agent with a managed or workload identity.", e);
        }
        catch (HttpRequestException e)
        {
            throw Failed($"Azure Storage cannot be reached: {e.Message}", e);
        }
    }

    private static string FirstLine(string text) => text.Split('\n')[0].Trim();

    public override async Task DeleteAsync(CancellationToken cancellationToken)
    {
        await Client().DeleteIfExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    private sealed class Progress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
