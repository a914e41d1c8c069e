using System.Collections.Concurrent;

namespace WandbLaunch.Engine.Runners.Kubernetes;

/// <summary>
/// The cluster access for each kube context (null: the current one), made on first use and kept. Jobs that start
/// together all wait for that one connection: each reading the kubeconfig itself would block a thread apiece (the
/// client's kubeconfig loader waits synchronously on asynchronous reads), and hundreds of jobs taken at once then
/// starve the thread pool, which starts them a few per second. A connection that fails is not kept.
/// </summary>
internal sealed class KubeAccessCache(Func<string, string?> environment)
{
    private readonly ConcurrentDictionary<string, Lazy<Task<KubeAccess>>> _access = new(StringComparer.Ordinal);

    public async Task<KubeAccess> GetAsync(string? context)
    {
        var key = context ?? "";
        var pending = _access.GetOrAdd(key, _ => new Lazy<Task<KubeAccess>>(() => Task.Run(() => KubeAccess.Connect(context, environment))));
        try
        {
            return await pending.Value.ConfigureAwait(false);
        }
        catch
        {
            _access.TryRemove(new KeyValuePair<string, Lazy<Task<KubeAccess>>>(key, pending));
            throw;
        }
    }

    /// <summary>Drops a context's access, so that the next job reads the kubeconfig again (its credentials may have been renewed).</summary>
    public void Forget(string? context)
    {
        if (_access.TryRemove(context ?? "", out var stale) && stale.IsValueCreated && stale.Value.IsCompletedSuccessfully) stale.Value.Result.Dispose();
    }
}
