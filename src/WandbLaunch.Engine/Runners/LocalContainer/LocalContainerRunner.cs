using System.Text.Json.Nodes;
using Docker.DotNet;
using Docker.DotNet.Models;
using WandbLaunch.Engine.Docker;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Runners.LocalContainer;

/// <summary>
/// Runs a job's image as a container on the agent's Docker engine, with the job's environment, entry point and
/// arguments and the allowed <c>resource_args</c>. The container id is the job's handle: a later agent finds the
/// container, follows it to the end and records its exit code.
/// </summary>
public sealed class LocalContainerRunner : ILaunchRunner
{
    private readonly Lazy<DockerEngine> _engine;
    private readonly Func<string, Registries.RegistryCredential?> _credentials;

    /// <param name="engine">The Docker engine the containers run on.</param>
    /// <param name="credentials">Credentials by registry host, for pulling an image the engine does not have.</param>
    public LocalContainerRunner(Lazy<DockerEngine> engine, Func<string, Registries.RegistryCredential?>? credentials = null)
    {
        _engine = engine;
        _credentials = credentials ?? (_ => null);
    }

    public string Resource => LaunchResource.LocalContainer;

    public bool RequiresImage => true;

    public RenderedRequest Render(JobContext context)
    {
        var container = Create(context);
        var lines = new List<string>
        {
            $"image: {container.Image}",
            $"entrypoint: {Show(container.Entrypoint)}",
            $"command: {Show(container.Cmd)}",
        };
        if (container.Name is not null) lines.Add($"name: {container.Name}");
        if (container.WorkingDir is not null) lines.Add($"workdir: {container.WorkingDir}");
        lines.Add("environment:");
        lines.AddRange(container.Env.OrderBy(e => e, StringComparer.Ordinal).Select(e => "  " + Redact(e, context)));
        return new RenderedRequest { Resource = Resource, Summary = $"docker run {container.Image} {Show(container.Cmd)}", Text = string.Join('\n', lines) + "\n" };
    }

    private static string Redact(string env, JobContext context) =>
        env.StartsWith(JobEnvironment.ApiKeyVariable + "=", StringComparison.Ordinal) || context.Secrets.Any(s => env.EndsWith("=" + s, StringComparison.Ordinal))
            ? env[..(env.IndexOf('=') + 1)] + "***"
            : env;

    private static string Show(IList<string>? argv) => argv is null || argv.Count == 0 ? "(image default)" : string.Join(' ', argv);

    private static CreateContainerParameters Create(JobContext context)
    {
        var image = context.ImageUri ?? throw new JobFailedException(FailureStage.Agent, "The job has no image to run.");
        var overrides = context.Spec.Overrides;
        var container = new CreateContainerParameters
        {
            Image = image,
            Env = context.Environment.Select(p => $"{p.Key}={p.Value}").ToList(),
            Labels = new Dictionary<string, string>
            {
                ["wandb.ai/run-id"] = context.Job.RunId,
                ["wandb.ai/item-id"] = context.Job.Id,
                ["wandb.ai/created-by"] = "wandblaunch",
            },
            HostConfig = new HostConfig(),
            AttachStdout = true,
            AttachStderr = true,
        };
        var args = (JsonObject)context.ResourceArgs.DeepClone();
        args.Remove("builder");
        ContainerArgs.Apply(args, container);
        if (context.Code is { } code)
        {
            // W&B's local-container runner: the code at /mnt/wandb, the working directory there (or under it).
            container.HostConfig.Mounts ??= [];
            container.HostConfig.Mounts.Add(new Mount { Type = "bind", Source = code.HostDirectory, Target = MountedCode.Directory });
            container.WorkingDir = code.ContainerWorkingDir;
        }
        UseHostNetworkForLocalServer(context, container);
        if (overrides.EntryPoint is { Count: > 0 } entry) container.Entrypoint = [.. entry];
        if (overrides.Args is { Count: > 0 } arguments) container.Cmd = [.. arguments];
        return container;
    }

    /// <summary>
    /// W&amp;B (runner/local_container.py): when the W&amp;B server is on localhost the container shares the host's
    /// network, and on Linux host.docker.internal names the host; on macOS the job is pointed at
    /// host.docker.internal on the same port instead.
    /// </summary>
    private static void UseHostNetworkForLocalServer(JobContext context, CreateContainerParameters container)
    {
        if (!context.Environment.TryGetValue(JobEnvironment.BaseUrlVariable, out var baseUrl) || !IsLocalhostUrl(baseUrl)) return;
        container.HostConfig.NetworkMode = "host";
        if (OperatingSystem.IsLinux())
        {
            container.HostConfig.ExtraHosts = [.. container.HostConfig.ExtraHosts ?? [], "host.docker.internal:host-gateway"];
        }
        if (OperatingSystem.IsMacOS() && Uri.TryCreate(baseUrl, UriKind.Absolute, out var uri))
        {
            var prefix = JobEnvironment.BaseUrlVariable + "=";
            container.Env = [.. container.Env.Where(e => !e.StartsWith(prefix, StringComparison.Ordinal)), $"{prefix}http://host.docker.internal:{uri.Port}"];
        }
    }

    /// <summary>W&amp;B's test (utils.py <c>_WANDB_LOCAL_DEV_URI_REGEX</c>, <c>^https?://localhost</c>): case-sensitive, a prefix.</summary>
    public static bool IsLocalhostUrl(string url) =>
        url.StartsWith("http://localhost", StringComparison.Ordinal) || url.StartsWith("https://localhost", StringComparison.Ordinal);

    /// <summary>
    /// W&amp;B pulls an image the job names (docker.docker_image, an image job, a base image for mounted code) before
    /// each run, so a moved tag is followed; a failed pull only warns when the engine already has the image.
    /// Images the agent built are used as they are.
    /// </summary>
    private static bool PullsFirst(JobContext context) => context.Spec.PrebuiltImage is not null || context.Code is not null;

    public async Task<IRunningJob> StartAsync(JobContext context, CancellationToken cancellationToken)
    {
        var client = _engine.Value.Client;
        var parameters = Create(context);
        var log = context.Log;
        string id;
        try
        {
            await EnsureImageAsync(client, parameters.Image, PullsFirst(context), context, cancellationToken).ConfigureAwait(false);
            await context.Launching().ConfigureAwait(false);
            id = (await client.Containers.CreateContainerAsync(parameters, cancellationToken).ConfigureAwait(false)).ID;
        }
        catch (DockerApiException e)
        {
            throw new JobFailedException(FailureStage.Run, $"Docker could not create the container from {parameters.Image}: {Message(e)}", e);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or System.Net.Sockets.SocketException)
        {
            throw new JobFailedException(FailureStage.Agent, _engine.Value.Unreachable(e).Message, e);
        }
        log.Agent($"created container {id[..12]} from {parameters.Image}");
        try
        {
            await client.Containers.StartContainerAsync(id, new ContainerStartParameters(), cancellationToken).ConfigureAwait(false);
        }
        catch (DockerApiException e)
        {
            await RemoveAsync(client, id).ConfigureAwait(false);
            throw new JobFailedException(FailureStage.Run, $"Docker could not start the container: {Message(e)}", e);
        }
        return new RunningContainer(client, id, log, since: null);
    }

    private async Task EnsureImageAsync(DockerClient client, string image, bool pullFirst, JobContext context, CancellationToken cancellationToken)
    {
        if (!pullFirst && await HasImageAsync(client, image, cancellationToken).ConfigureAwait(false)) return;
        var pullError = await PullAsync(client, image, context.Log, cancellationToken).ConfigureAwait(false);
        if (pullError is null) return;
        if (!pullFirst || !await HasImageAsync(client, image, cancellationToken).ConfigureAwait(false))
        {
            throw new JobFailedException(FailureStage.Run, $"The image {image} is not on the agent's host and pulling it failed: {pullError}");
        }
        context.Warn($"pulling {image} failed ({pullError}); running the copy the engine already has");
    }

    private static async Task<bool> HasImageAsync(DockerClient client, string image, CancellationToken cancellationToken)
    {
        try
        {
            await client.Images.InspectImageAsync(image, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (DockerImageNotFoundException)
        {
            return false;
        }
    }

    /// <summary>Pulls the image; the engine's error, or null when it pulled.</summary>
    private async Task<string?> PullAsync(DockerClient client, string image, JobLog log, CancellationToken cancellationToken)
    {
        log.Agent($"pulling {image}");
        var reference = Registries.ImageReference.Parse(image);
        var credential = _credentials(reference.Registry);
        var auth = credential is null
            ? new AuthConfig()
            : new AuthConfig { ServerAddress = reference.Registry, Username = credential.Username, Password = credential.Password };
        string? error = null;
        try
        {
            await client.Images.CreateImageAsync(new ImagesCreateParameters { FromImage = reference.Name, Tag = reference.Tag }, auth,
                new Reporter(m => error ??= m.Error?.Message ?? (string.IsNullOrEmpty(m.ErrorMessage) ? null : m.ErrorMessage)), cancellationToken).ConfigureAwait(false);
        }
        catch (DockerApiException e)
        {
            error = Message(e);
        }
        return error;
    }

    public async Task<IRunningJob?> AttachAsync(LaunchJob job, JobLog log, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(job.Handle)) return null;
        var client = _engine.Value.Client;
        try
        {
            var inspect = await client.Containers.InspectContainerAsync(job.Handle, cancellationToken).ConfigureAwait(false);
            log.Agent($"re-attached to container {job.Handle[..Math.Min(12, job.Handle.Length)]} ({inspect.State.Status})");
            // Output written after the earlier agent last wrote to the log is read again (to the second: a line may repeat, none is lost).
            var since = JobLog.LastOutputUtc(log.Path) is { } last ? new DateTimeOffset(last, TimeSpan.Zero).AddSeconds(-1) : DateTimeOffset.UtcNow;
            return new RunningContainer(client, job.Handle, log, since);
        }
        catch (DockerContainerNotFoundException)
        {
            log.Agent($"container {job.Handle} is gone; the job cannot be re-attached");
            return null;
        }
    }

    internal static string Message(DockerApiException e) =>
        System.Text.Json.Nodes.JsonNode.Parse(string.IsNullOrWhiteSpace(e.ResponseBody) ? "{}" : e.ResponseBody) is JsonObject o && o["message"] is { } m
            ? m.GetValue<string>()
            : e.ResponseBody;

    internal static async Task RemoveAsync(DockerClient client, string id)
    {
        try
        {
            await client.Containers.RemoveContainerAsync(id, new ContainerRemoveParameters { Force = true }, CancellationToken.None).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
        }
    }

    private sealed class Reporter(Action<JSONMessage> report) : IProgress<JSONMessage>
    {
        public void Report(JSONMessage value) => report(value);
    }
}
