using Docker.DotNet;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Docker;

/// <summary>A connection to a Docker engine: DOCKER_HOST when set, else the platform's default socket.</summary>
public sealed class DockerEngine : IDisposable
{
    private DockerEngine(Uri endpoint)
    {
        Endpoint = endpoint;
        Client = new DockerClientConfiguration(endpoint, defaultTimeout: TimeSpan.FromMinutes(5)).CreateClient();
    }

    public Uri Endpoint { get; }

    public DockerClient Client { get; }

    public static Uri DefaultEndpoint(Func<string, string?> environment)
    {
        var host = environment("DOCKER_HOST");
        if (!string.IsNullOrWhiteSpace(host))
        {
            if (!Uri.TryCreate(host, UriKind.Absolute, out var uri) || uri.Scheme is not ("unix" or "tcp" or "http" or "https" or "npipe"))
            {
                throw LaunchException.Invalid("InvalidDockerHost",
                    $"DOCKER_HOST is '{host}'; use unix:///path/to/docker.sock, tcp://host:port or npipe://./pipe/name.", host);
            }
            return uri;
        }
        return OperatingSystem.IsWindows() ? new Uri("npipe://./pipe/docker_engine") : new Uri("unix:///var/run/docker.sock");
    }

    public static DockerEngine Connect(Func<string, string?> environment) => new(DefaultEndpoint(environment));

    /// <summary>True when the engine answers a ping within <paramref name="timeout"/>.</summary>
    public async Task<bool> IsReachableAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (Endpoint.Scheme == "unix" && !File.Exists(Endpoint.LocalPath)) return false;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await Client.System.PingAsync(cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is DockerApiException or HttpRequestException or OperationCanceledException or IOException or TimeoutException or System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    public LaunchException Unreachable(Exception? inner = null) =>
        new("DockerEngineUnreachable", LaunchErrorCategory.ResourceUnavailable,
            $"No Docker engine answers at {Endpoint}. Start Docker, or set DOCKER_HOST to where it listens.", Endpoint.ToString(), inner);

    public void Dispose() => Client.Dispose();
}
