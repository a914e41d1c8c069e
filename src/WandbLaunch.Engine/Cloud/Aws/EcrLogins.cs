using System.Collections.Concurrent;
using WandbLaunch.Engine.Registries;

namespace WandbLaunch.Engine.Cloud.Aws;

/// <summary>
/// An agent's ECR logins: for an ECR registry host, the login GetAuthorizationToken gives (in the registry's own
/// region, with the agent's AWS credentials), kept per registry until shortly before it expires; null for any other
/// registry. The agent's registry credentials ask it first, so the docker builder pushes to an ECR destination (and a
/// container runner pulls from ECR) as W&amp;B's ElasticContainerRegistry logs in.
/// </summary>
public sealed class EcrLogins(Func<string, string?> environment) : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<EcrRegistry>> _registries = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentBag<AwsClient> _clients = [];

    /// <summary>The login for <paramref name="registry"/> (a host), or null when it is not an ECR registry.</summary>
    public RegistryCredential? For(string registry)
    {
        if (EcrRegistry.Parse(registry) is not { } ecr) return null;
        var found = _registries.GetOrAdd(registry, _ => new Lazy<EcrRegistry>(() =>
        {
            var client = new AwsClient(ecr.Region, AwsCredentialSource.FromEnvironment(environment), environment);
            _clients.Add(client);
            return new EcrRegistry(client, ecr.Account);
        })).Value;
        // Callers ask synchronously (a credential lookup); the token is fetched once per 11.5 hours.
        return found.GetCredentialAsync(CancellationToken.None).GetAwaiter().GetResult();
    }

    public void Dispose()
    {
        foreach (var client in _clients) client.Dispose();
    }
}
