using Docker.DotNet;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Docker;

/// <summary>A connection to a Docker engine: DOCKER_HOST when set, else the platform's default socket.</summary>
public sealed class DockerEngine : IDisposable
{
    private readonly Func<string, string?> _environment;
    private readonly SemaphoreSlim _detecting = new(1, 1);
    private BuildKitSupport? _buildKit;

    private DockerEngine(Uri endpoint, Func<string, string?> environment)
    {
        Endpoint = endpoint;
        _environment = environment;
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

    public static DockerEngine Connect(Func<string, string?> environment) => new(DefaultEndpoint(environment), environment);

    /// <summary>Whether builds use the engine's BuildKit, why, and the network its build steps run in.</summary>
    public sealed record BuildKitSupport(bool Available, string Reason, string? NetworkMode);

    /// <summary>
    /// Whether the engine builds with BuildKit, asked once per connection: it does from API 1.39 on a Linux engine,
    /// unless <c>DOCKER_BUILDKIT</c> is <c>0</c> (the Docker CLI's switch back to the classic builder). BuildKit's
    /// default network is the engine's <c>bridge</c>; an engine started without one builds with no network.
    /// </summary>
    public async Task<BuildKitSupport> BuildKitAsync(CancellationToken cancellationToken)
    {
        if (_buildKit is { } known) return known;
        await _detecting.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return _buildKit ??= await DetectBuildKitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _detecting.Release();
        }
    }

    private async Task<BuildKitSupport> DetectBuildKitAsync(CancellationToken cancellationToken)
    {
        if (_environment("DOCKER_BUILDKIT") is { } setting && setting.Trim() is "0" or "false" or "FALSE" or "False")
        {
            return new(false, "DOCKER_BUILDKIT=0 asks for the classic builder", null);
        }
        if (!BuildKitBuild.CanReach(Endpoint)) return new(false, $"BuildKit is not used over {Endpoint.Scheme}:// endpoints", null);
        var version = await Client.System.GetVersionAsync(cancellationToken).ConfigureAwait(false);
        if (!string.Equals(version.Os, "linux", StringComparison.OrdinalIgnoreCase)) return new(false, $"the engine runs on {version.Os}, where BuildKit builds Linux images only", null);
        if (!System.Version.TryParse(version.APIVersion, out var api) || api < new System.Version(1, 39))
        {
            return new(false, $"the engine speaks API {version.APIVersion}; BuildKit needs 1.39 (Docker 18.09)", null);
        }
        string? network = null;
        try
        {
            await Client.Networks.InspectNetworkAsync("bridge", cancellationToken).ConfigureAwait(false);
        }
        catch (DockerNetworkNotFoundException)
        {
            network = "none";
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            network = "none";
        }
        return new(true, $"engine {version.Version}, API {version.APIVersion}" + (network is null ? "" : "; it has no bridge network, so build steps run without network"), network);
    }

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

    public void Dispose()
    {
        Client.Dispose();
        _detecting.Dispose();
    }
}
