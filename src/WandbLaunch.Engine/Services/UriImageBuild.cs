using System.Text.Json.Nodes;
using WandbLaunch.Engine.Builders;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Docker;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Registries;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Services;

/// <summary>
/// <c>Submit-WandbLaunchJob -Build</c>: what W&amp;B's <c>wandb launch --build</c> is documented to do ("build an
/// associated job and push to queue as an image job", <c>_launch_add.py</c>), which W&amp;B's own CLI never reaches
/// (it clears the uri before building). The code of the spec's uri is built here, with the Docker engine and the
/// <c>builder</c> block of the launch config, pushed to its destination, and the queue then gets an image job.
/// </summary>
public sealed class UriImageBuild(Func<string, string?> environment)
{
    /// <summary>Refuses what cannot be built first, before anything is built or stored.</summary>
    public static void Check(LaunchSpec spec, LaunchQueue queue, SubmitOptions options)
    {
        if (spec.Uri is null)
        {
            throw LaunchException.Invalid("BuildNeedsUri", "-Build builds the code of -Uri into an image and queues an image job; give -Uri (a directory or a git repository).", null);
        }
        if (options.Job is not null || spec.JobArtifactName is not null)
        {
            throw LaunchException.Invalid("BuildWithJob", "-Build makes a new image job from -Uri; it cannot also run -Job. Submit the job with -Job alone (agents build it), or build the uri with -Build.", options.Job ?? spec.JobArtifactName);
        }
        if (options.BaseImage is not null)
        {
            throw LaunchException.Invalid("BuildWithBaseImage", "-BaseImage runs the code in a ready image without a build; -Build builds one. Give one of them.", options.BaseImage);
        }
        if (queue.Resource == LaunchResource.LocalProcess)
        {
            // W&B's words.
            throw LaunchException.Invalid("BuildForLocalProcess", $"Cannot build a docker image for the resource: local-process (queue '{queue.Name}'). -Build is for queues whose jobs run in images.", queue.Name);
        }
    }

    /// <summary>Builds (or finds) the image of <paramref name="spec"/>'s uri and returns its name; the build's output goes to <paramref name="logPath"/>.</summary>
    public async Task<string> BuildAsync(LaunchSpec spec, LaunchQueue queue, string? configPath, string logPath, CancellationToken cancellationToken)
    {
        var config = AgentConfigResolver.Resolve(configPath, environment, new AgentConfigResolver.Overrides());
        if (config.Builder.Type is not (null or "docker"))
        {
            throw LaunchException.Invalid("BuildNeedsDockerBuilder",
                $"-Build builds on this machine with the Docker engine, but the launch config's builder.type is '{config.Builder.Type}'. Set builder.type to docker (or leave it out), or submit without -Build and let an agent build.", config.Builder.Type);
        }
        var work = Path.Combine(Path.GetTempPath(), "wandblaunch-build-" + Guid.NewGuid().ToString("N")[..12]);
        FileSystem.PrivateFiles.EnsureDirectory(work);
        try
        {
            using var engine = DockerEngine.Connect(environment);
            if (!await engine.IsReachableAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false)) throw engine.Unreachable();
            var builder = new Builders.Docker.DockerBuilder(engine, registry => RegistryCredential.Resolve(registry, null, config.Builder.Destination, environment));
            var job = LaunchJob.NewPending(queue, "build-" + Guid.NewGuid().ToString("N")[..8], LaunchSpecRules.Prepare(queue, new PushRequest { Spec = spec.ToJsonObject() }), DateTimeOffset.UtcNow);
            using var log = new JobLog(logPath, Secrets.SecretRedactor.FromEnvironment(environment, null));
            try
            {
                return await builder.BuildAsync(new BuildRequest
                {
                    Job = job,
                    Spec = spec,
                    ResourceArgs = spec.ResourceArgsFor(queue.Resource) ?? new JsonObject(),
                    Settings = config.Builder,
                    WorkDirectory = work,
                    Log = log,
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (JobFailedException e)
            {
                throw new LaunchException("BuildFailed", LaunchErrorCategory.InvalidOperation, $"Building the image of {spec.Uri} failed: {e.Message} (the build's output: {logPath})", spec.Uri, e);
            }
        }
        finally
        {
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Diagnostics.EngineLog.Verbose("build", () => $"could not remove {work}: {e.Message}");
            }
        }
    }
}
