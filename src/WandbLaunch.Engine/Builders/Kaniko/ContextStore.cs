using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Identifiers;

namespace WandbLaunch.Engine.Builders.Kaniko;

/// <summary>
/// One build context in <c>builder.build-context-store</c>: the object <c>&lt;store&gt;/&lt;run_id&gt;.tgz</c> that the
/// agent uploads and kaniko reads (<see cref="Uri"/> is what kaniko's <c>--context</c> gets), deleted after the build.
/// </summary>
internal abstract class ContextStore : IDisposable
{
    protected ContextStore(string uri) => Uri = uri;

    /// <summary>The object's URI as kaniko expects it: s3://bucket/key, gs://bucket/object or https://account.blob.core.windows.net/container/blob.</summary>
    public string Uri { get; }

    /// <summary>Uploads the gzip-compressed tar; reports bytes sent of the total. Throws <see cref="JobFailedException"/> (stage build).</summary>
    public abstract Task UploadAsync(Stream content, Action<long, long>? progress, CancellationToken cancellationToken);

    /// <summary>Deletes the object; an object already gone is fine. Throws on other failures (the caller logs them).</summary>
    public abstract Task DeleteAsync(CancellationToken cancellationToken);

    public virtual void Dispose()
    {
    }

    /// <summary>The store for <c>&lt;store&gt;/&lt;runId&gt;.tgz</c>, with the client its scheme needs. Nothing is contacted.</summary>
    public static ContextStore For(string store, string runId, EnvironmentSettings cloud, Func<string, string?> environment)
    {
        var objectUri = ObjectUri(store, runId);
        if (objectUri.StartsWith("s3://", StringComparison.Ordinal)) return new S3ContextStore(objectUri, cloud, environment);
        if (objectUri.StartsWith("gs://", StringComparison.Ordinal)) return new GcsContextStore(objectUri, environment);
        return new AzureBlobContextStore(objectUri, environment);
    }

    /// <summary><c>&lt;store&gt;/&lt;runId&gt;.tgz</c>, for a store of a supported kind (else the build fails saying which kinds are).</summary>
    public static string ObjectUri(string store, string runId)
    {
        var root = store.TrimEnd('/');
        if (!BuildContextStoreUri.IsValid(root))
        {
            throw new JobFailedException(FailureStage.Build,
                $"builder.build-context-store '{store}' is not a supported store. Use s3://<bucket>[/<prefix>], gs://<bucket>[/<prefix>] or https://<account>.blob.core.windows.net/<container>[/<prefix>].");
        }
        // The object is deleted after the build: a run id from an older store ('../x') must not name another object.
        Specs.SpecNames.RunId(runId, "run_id");
        return $"{root}/{RunNames.Of(runId)}.tgz";
    }

    /// <summary>Splits <c>scheme://bucket/key</c> into bucket and key.</summary>
    protected static (string Bucket, string Key) BucketAndKey(string uri)
    {
        var rest = uri[(uri.IndexOf("://", StringComparison.Ordinal) + 3)..];
        var slash = rest.IndexOf('/');
        return (rest[..slash], rest[(slash + 1)..]);
    }

    protected static string? Value(Func<string, string?> environment, string name) =>
        environment(name) is { Length: > 0 } value ? value.Trim() : null;

    protected JobFailedException Failed(string why, Exception? inner = null) =>
        new(FailureStage.Build, $"Uploading the build context to {Uri} failed: {why}", inner);
}
