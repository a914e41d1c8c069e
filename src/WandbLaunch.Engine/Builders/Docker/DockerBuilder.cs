using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Docker.DotNet;
using Docker.DotNet.Models;
using WandbLaunch.Engine.Code;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Docker;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Registries;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Builders.Docker;

/// <summary>
/// Builds a job's image with the Docker engine's API and pushes it to <c>builder.destination</c>. The tag is a hash
/// of the code and Dockerfile, so an unchanged job finds its image (locally or in the registry) and skips the build.
/// </summary>
public sealed partial class DockerBuilder : IImageBuilder
{
    private readonly DockerEngine _engine;
    private readonly Func<string, RegistryCredential?> _credentials;
    private readonly ImageBuildGate _building = new();

    public DockerBuilder(DockerEngine engine, Func<string, RegistryCredential?> credentials)
    {
        _engine = engine;
        _credentials = credentials;
    }

    public string Type => "docker";

    public async Task<string> BuildAsync(BuildRequest request, CancellationToken cancellationToken)
    {
        if (request.Spec.PrebuiltImage is { } prebuilt) return prebuilt;
        var log = request.Log;
        var code = await CodeDirectory.ResolveAsync(request.Spec, request.WorkDirectory, request.Job.RunId, request.Job.Id, log, cancellationToken).ConfigureAwait(false);
        var destination = request.Settings.Destination;
        var buildKit = await BuildKitAsync(cancellationToken).ConfigureAwait(false);
        var (plan, name) = request.PlanImage(code, destination, tag => ImageName(request.Job, code, destination, tag), buildKit.Available);
        var image = ImageReference.Parse(name);
        log.Agent($"image {image} (Dockerfile: {plan.DockerfileOrigin})");
        foreach (var warning in plan.Warnings) log.Agent("warning: " + warning);
        EngineLog.Verbose(Source, () => $"image {Printable.Quote(image.ToString())} from context {Printable.Quote(plan.ContextDirectory)} (Dockerfile: {Printable.Escape(plan.DockerfileOrigin)}), Docker engine {Printable.Escape(_engine.Endpoint.ToString())}" +
            (destination is null ? ", not pushed (no builder.destination)" : ""));

        RegistryCredential? credential = null;
        using var registry = new RegistryClient();
        if (destination is not null)
        {
            credential = _credentials(image.Registry);
            EngineLog.Verbose(Source, () => $"registry {Printable.Escape(image.Registry)}: " +
                (credential is null ? "no credentials found (Docker config file, -RegistryCredential)" : $"credentials of user {Printable.Quote(credential.Username)} from {Printable.Escape(credential.Source)}"));
            await Checked(() => registry.CheckLoginAsync(image, credential, cancellationToken)).ConfigureAwait(false);
        }

        using (await _building.EnterAsync(image.ToString(), cancellationToken).ConfigureAwait(false))
        {
            return await BuildOrReuseAsync(request, plan, image, registry, credential, buildKit, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<DockerEngine.BuildKitSupport> BuildKitAsync(CancellationToken cancellationToken)
    {
        try
        {
            var support = await _engine.BuildKitAsync(cancellationToken).ConfigureAwait(false);
            EngineLog.Verbose(Source, () => (support.Available ? "building with BuildKit: " : "building with the classic builder: ") + Printable.Escape(support.Reason));
            return support;
        }
        catch (DockerApiException e)
        {
            throw new JobFailedException(FailureStage.Build, $"The Docker engine at {_engine.Endpoint} did not say which builders it has: {e.ResponseBody.Trim()}", e);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or System.Net.Sockets.SocketException)
        {
            throw new JobFailedException(FailureStage.Build, _engine.Unreachable(e).Message, e);
        }
    }

    private async Task<string> BuildOrReuseAsync(BuildRequest request, BuildPlan plan, ImageReference image, RegistryClient registry, RegistryCredential? credential,
        DockerEngine.BuildKitSupport buildKit, CancellationToken cancellationToken)
    {
        var log = request.Log;
        var destination = request.Settings.Destination;
        var local = await ExistsLocallyAsync(image, cancellationToken).ConfigureAwait(false);
        if (destination is not null && await Checked(() => registry.ManifestExistsAsync(image, credential, cancellationToken)).ConfigureAwait(false))
        {
            log.Agent($"{image} is already in {image.Registry}: build skipped");
            EngineLog.Verbose(Source, () => $"{Printable.Quote(image.ToString())} is already in {Printable.Escape(image.Registry)}: build and push skipped");
            return image.ToString();
        }
        if (local)
        {
            log.Agent($"{image} already exists locally: build skipped");
            EngineLog.Verbose(Source, () => $"{Printable.Quote(image.ToString())} already exists in the Docker engine: build skipped");
        }
        else
        {
            if (buildKit.Available) await BuildWithBuildKitAsync(request, plan, image, buildKit, cancellationToken).ConfigureAwait(false);
            else await BuildImageAsync(request, plan, image, cancellationToken).ConfigureAwait(false);
        }
        if (destination is not null) await PushAsync(request, image, credential, cancellationToken).ConfigureAwait(false);
        return image.ToString();
    }

    [GeneratedRegex(@"[^a-z0-9._-]+")]
    private static partial Regex NotNameChars();

    /// <summary>
    /// <c>&lt;destination&gt;:&lt;tag&gt;</c>, or without a destination a name after the job:
    /// <c>wandb-launch/&lt;project&gt;-&lt;code folder&gt;:&lt;tag&gt;</c>.
    /// </summary>
    public static string ImageName(LaunchJob job, string code, string? destination, string tag)
    {
        if (destination is not null) return $"{destination}:{tag}";
        var folder = Path.GetFileName(code.TrimEnd('/', '\\'));
        var name = NotNameChars().Replace($"{job.Project}-{folder}".ToLowerInvariant(), "-").Trim('-', '.', '_');
        return $"wandb-launch/{(name.Length == 0 ? "job" : name)}:{tag}";
    }

    /// <summary>The image name the builder will use for a job whose code is a local directory, computed without building.</summary>
    public static string? PredictImage(LaunchJob job, LaunchSpec spec, JsonObject resourceArgs, string? destination)
    {
        if (spec.Uri is not { } uri || SourceUri.Classify(uri) != SourceUri.Kind.LocalDirectory || !Directory.Exists(uri)) return null;
        var plan = BuildPlanner.Plan(uri, spec, BuildRequest.BaseImageOf(resourceArgs, spec));
        return ImageName(job, uri, destination, ContextArchive.Tag(plan));
    }

    private async Task<bool> ExistsLocallyAsync(ImageReference image, CancellationToken cancellationToken)
    {
        try
        {
            await _engine.Client.Images.InspectImageAsync(image.ToString(), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (DockerImageNotFoundException)
        {
            return false;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or System.Net.Sockets.SocketException)
        {
            throw new JobFailedException(FailureStage.Build, _engine.Unreachable(e).Message, e);
        }
    }

    private async Task BuildImageAsync(BuildRequest request, BuildPlan plan, ImageReference image, CancellationToken cancellationToken)
    {
        var log = request.Log;
        var steps = new List<string>();
        string? error = null;
        string? failedPackages = null;
        var progress = new Progress(message =>
        {
            if (!string.IsNullOrEmpty(message.Stream))
            {
                foreach (var line in message.Stream.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    log.Output(line.TrimEnd('\r'));
                    failedPackages = FailedPackages.In(line) ?? failedPackages;
                    if (line.StartsWith("Step ", StringComparison.Ordinal))
                    {
                        steps.Add(line.Trim());
                        EngineLog.Debug(Source, () => Printable.Escape(line.Trim()));
                        request.Progress?.Invoke($"Building {image}", line.Trim(), StepPercent(StepPattern().Match(line)));
                    }
                }
            }
            if (message.Error?.Message is { Length: > 0 } e) error = e;
            else if (!string.IsNullOrEmpty(message.ErrorMessage)) error = message.ErrorMessage;
        });
        var parameters = new ImageBuildParameters
        {
            Tags = [image.ToString()],
            Dockerfile = BuildPlan.DockerfileName,
            Platform = request.Settings.Platform,
            Remove = true,
            ForceRemove = true,
            Labels = ImageLabels,
        };
        log.Agent($"building {image} from {plan.ContextDirectory}");
        EngineLog.Verbose(Source, () => $"building {Printable.Quote(image.ToString())}" + (request.Settings.Platform is { } platform ? $" for {Printable.Escape(platform)}" : ""));
        using var archive = ContextArchive.Create(plan);
        try
        {
            await _engine.Client.Images.BuildImageFromDockerfileAsync(parameters, archive, BaseImageAuth(plan), new Dictionary<string, string>(), progress, cancellationToken).ConfigureAwait(false);
        }
        catch (DockerApiException e)
        {
            throw new JobFailedException(FailureStage.Build, $"The Docker engine refused to build {image}: {e.ResponseBody.Trim()}", e);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or System.Net.Sockets.SocketException)
        {
            throw new JobFailedException(FailureStage.Build, _engine.Unreachable(e).Message, e);
        }
        if (error is not null)
        {
            var failing = steps.LastOrDefault() ?? "the build";
            var tail = string.Join('\n', log.Tail().TakeLast(10));
            throw new JobFailedException(FailureStage.Build, $"Building {image} failed at {failing}: {error.Trim()}\n{tail}");
        }
        if (failedPackages is not null) request.Warn?.Invoke(FailedPackages.Warning(failedPackages, image.ToString()));
        request.Progress?.Invoke($"Building {image}", "done", 100);
    }

    // No per-run labels: the image for a tag must be the same whichever run built it.
    private static readonly Dictionary<string, string> ImageLabels = new() { ["wandb.ai/created-by"] = "wandblaunch" };

    private async Task BuildWithBuildKitAsync(BuildRequest request, BuildPlan plan, ImageReference image, DockerEngine.BuildKitSupport buildKit, CancellationToken cancellationToken)
    {
        var log = request.Log;
        string? failedPackages = null;
        var steps = new List<string>();
        log.Agent($"building {image} from {plan.ContextDirectory} with BuildKit");
        EngineLog.Verbose(Source, () => $"building {Printable.Quote(image.ToString())} with BuildKit" + (request.Settings.Platform is { } platform ? $" for {Printable.Escape(platform)}" : "") +
            (buildKit.NetworkMode is { } network ? $", network {network}" : ""));
        using var archive = ContextArchive.Create(plan);
        BuildKitResult result;
        try
        {
            result = await BuildKitBuild.BuildAsync(_engine.Endpoint, new BuildKitRequest
            {
                Tags = [image.ToString()],
                Dockerfile = BuildPlan.DockerfileName,
                Platform = request.Settings.Platform,
                Labels = ImageLabels,
                NetworkMode = buildKit.NetworkMode,
                Auth = BaseImageAuth(plan).ToDictionary(a => a.ServerAddress, a => (a.Username, a.Password)),
            }, archive, step =>
            {
                steps.Add(step);
                log.Output("#" + steps.Count + " " + step);
                EngineLog.Debug(Source, () => Printable.Escape(step));
                request.Progress?.Invoke($"Building {image}", step, StepPercent(BuildKitStepPattern().Match(step)));
            }, line =>
            {
                log.Output(line);
                failedPackages = FailedPackages.In(line) ?? failedPackages;
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or System.Net.Sockets.SocketException)
        {
            throw new JobFailedException(FailureStage.Build, _engine.Unreachable(e).Message, e);
        }
        if (result.Error is { } error)
        {
            var failing = result.FailedStep ?? steps.LastOrDefault() ?? "the build";
            var tail = string.Join('\n', log.Tail().TakeLast(10));
            throw new JobFailedException(FailureStage.Build, $"Building {image} failed at {failing}: {error.Trim()}\n{tail}");
        }
        if (failedPackages is not null) request.Warn?.Invoke(FailedPackages.Warning(failedPackages, image.ToString()));
        request.Progress?.Invoke($"Building {image}", "done", 100);
    }

    /// <summary>BuildKit names steps <c>[stage-1 3/7] RUN ...</c>.</summary>
    [GeneratedRegex(@"^\[[^\]]*?(\d+)/(\d+)\]")]
    private static partial Regex BuildKitStepPattern();

    private IEnumerable<AuthConfig> BaseImageAuth(BuildPlan plan)
    {
        foreach (Match from in FromLine().Matches(plan.Dockerfile))
        {
            var reference = ImageReference.Parse(from.Groups[1].Value);
            if (_credentials(reference.Registry) is { } credential)
            {
                yield return new AuthConfig { Username = credential.Username, Password = credential.Password, ServerAddress = reference.Registry };
            }
        }
    }

    [GeneratedRegex(@"(?im)^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)")]
    private static partial Regex FromLine();

    /// <summary>How far the build is at the step a line names (classic <c>Step 3/7</c>, BuildKit <c>[3/7]</c>), or -1.</summary>
    private static int StepPercent(Match match) =>
        match.Success && int.TryParse(match.Groups[1].Value, out var step) && int.TryParse(match.Groups[2].Value, out var total) && total > 0
            ? Math.Min(99, (step - 1) * 100 / total)
            : -1;

    [GeneratedRegex(@"^Step (\d+)/(\d+)")]
    private static partial Regex StepPattern();

    private async Task PushAsync(BuildRequest request, ImageReference image, RegistryCredential? credential, CancellationToken cancellationToken)
    {
        var log = request.Log;
        string? error = null;
        var layers = new Dictionary<string, (long Current, long Total)>();
        var progress = new Progress(message =>
        {
            if (message.Error?.Message is { Length: > 0 } e) error = e;
            else if (!string.IsNullOrEmpty(message.ErrorMessage)) error = message.ErrorMessage;
            if (message.ID is { Length: > 0 } id && message.Progress is { Total: > 0 } p)
            {
                layers[id] = (p.Current, p.Total);
                var current = layers.Values.Sum(l => l.Current);
                var total = layers.Values.Sum(l => l.Total);
                request.Progress?.Invoke($"Pushing {image}", $"{current / 1024} of {total / 1024} KiB", total == 0 ? -1 : (int)(current * 100 / total));
            }
            else if (message.Status is { Length: > 0 } status && message.Progress is null)
            {
                EngineLog.Debug(Source, () => "push: " + Printable.Escape((message.ID is { Length: > 0 } layer ? layer + ": " : "") + status));
                log.Agent($"push: {(message.ID is { Length: > 0 } layer ? layer + ": " : "")}{status}");
            }
        });
        log.Agent($"pushing {image}");
        EngineLog.Verbose(Source, () => $"pushing to registry {Printable.Escape(image.Registry)}, repository {Printable.Quote(image.Repository)}, tag {Printable.Quote(image.Tag)}" +
            (credential is null ? " without credentials" : $" as {Printable.Quote(credential.Username)}"));
        var auth = new AuthConfig { ServerAddress = image.Registry, Username = credential?.Username, Password = credential?.Password };
        try
        {
            await _engine.Client.Images.PushImageAsync(image.Name, new ImagePushParameters { Tag = image.Tag }, auth, progress, cancellationToken).ConfigureAwait(false);
        }
        catch (DockerApiException e)
        {
            EngineLog.Verbose(Source, () => $"the Docker engine refused the push of {Printable.Quote(image.ToString())}: {(int)e.StatusCode} {Printable.Escape(e.ResponseBody.Trim())}");
            throw new JobFailedException(FailureStage.Build, $"Pushing {image} failed: {e.ResponseBody.Trim()}", e);
        }
        if (error is not null)
        {
            EngineLog.Verbose(Source, () => $"pushing {Printable.Quote(image.ToString())} to {Printable.Escape(image.Registry)} failed: {Printable.Escape(error.Trim())}");
            throw new JobFailedException(FailureStage.Build, $"Pushing {image} to {image.Registry} failed: {error.Trim()}");
        }
        request.Progress?.Invoke($"Pushing {image}", "done", 100);
        EngineLog.Verbose(Source, () => $"pushed {Printable.Quote(image.ToString())}");
    }

    private static async Task<T> Checked<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (LaunchException e)
        {
            throw new JobFailedException(FailureStage.Build, e.Message, e);
        }
    }

    private static Task Checked(Func<Task> call) => Checked(async () =>
    {
        await call().ConfigureAwait(false);
        return 0;
    });

    private const string Source = "docker";

    /// <summary>Reports synchronously: the default Progress&lt;T&gt; posts to the thread pool and can reorder messages.</summary>
    private sealed class Progress(Action<JSONMessage> report) : IProgress<JSONMessage>
    {
        public void Report(JSONMessage value) => report(value);
    }
}
