using System.Text.Json.Nodes;
using WandbLaunch.Engine.Builders.Docker;
using WandbLaunch.Engine.Builders.Kaniko;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Secrets;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Agent;

/// <summary>
/// Shows exactly what an agent would submit for a job (a command line, a container, Kubernetes manifests) without
/// contacting anything and without secrets (every known secret value is shown as <c>***</c>, see
/// <see cref="SecretRedactor"/>). <see cref="Services.JobSubmission"/> renders every request with it before storing it.
/// </summary>
public static class JobPreview
{
    /// <summary>A job as it would be stored by a push, for previewing before submitting.</summary>
    public static LaunchJob ForPush(LaunchQueue queue, PushRequest request)
    {
        return LaunchJob.NewPending(queue, "(not submitted)", LaunchSpecRules.Prepare(queue, request), DateTimeOffset.UtcNow);
    }

    /// <param name="job">The job (stored, or from <see cref="ForPush"/>).</param>
    /// <param name="config">The agent config whose builder settings name the image.</param>
    /// <param name="environment">The agent's environment.</param>
    /// <param name="predictImage">
    /// Compute the image tag the docker builder would give code in a local directory (hashes the code); when false,
    /// or for git code, the image is shown as a placeholder.
    /// </param>
    /// <param name="credential">-RegistryCredential, when the preview is for an agent given one: its password is redacted too.</param>
    /// <param name="wandbJob">
    /// The spec's W&amp;B job as far as a preview knows it (<see cref="Services.JobSubmission"/>: its definition and code
    /// artifact, its code a placeholder): a job the agent would run in a base image without a build is shown so, with
    /// its code mount (on Kubernetes the init container or the claim).
    /// </param>
    /// <param name="backend">The backend the job is on, which decides whether a pod can fetch its code (with <paramref name="wandbJob"/>).</param>
    public static RenderedRequest Render(LaunchJob job, LaunchAgentConfig config, Func<string, string?> environment, bool predictImage = true,
        Registries.RegistryCredential? credential = null, WandbJobs.ResolvedJob? wandbJob = null, Storage.ILaunchBackend? backend = null)
    {
        // By value, over everything shown: a macro can put a key anywhere (an env value, an argument, a label).
        var secrets = SecretRedactor.FromEnvironment(environment, credential).WithSpec(job.GetSpec());
        RenderedRequest rendered;
        try
        {
            rendered = RenderOrFail(job, config, environment, predictImage, wandbJob, backend);
        }
        catch (JobFailedException e)
        {
            throw new Errors.LaunchException("JobCannotRun", Errors.LaunchErrorCategory.InvalidOperation,
                secrets.Redact($"An agent could not run this job on {job.Resource} (it would fail at stage {e.Stage}): {e.Message}"), job.Id);
        }
        catch (Errors.LaunchException e) when (secrets.Reveals(e.Message) || secrets.Reveals(e.Target as string) || secrets.Reveals(e.RecommendedAction))
        {
            // Without the inner exception: its message would carry the secret to the error record.
            throw new Errors.LaunchException(e.ErrorId, e.Category, secrets.Redact(e.Message), e.Target is string t ? secrets.Redact(t) : e.Target)
            {
                RecommendedAction = secrets.RedactOrNull(e.RecommendedAction),
            };
        }
        return new RenderedRequest
        {
            Resource = rendered.Resource,
            Summary = secrets.Redact(rendered.Summary),
            Text = secrets.Redact(rendered.Text),
            Warnings = [.. rendered.Warnings.Select(secrets.Redact)],
        };
    }

    private static RenderedRequest RenderOrFail(LaunchJob job, LaunchAgentConfig config, Func<string, string?> environment, bool predictImage,
        WandbJobs.ResolvedJob? wandbJob, Storage.ILaunchBackend? backend)
    {
        // The Docker engine is created lazily and never used by rendering.
        var runners = RunnerRegistry.Default(new Lazy<Docker.DockerEngine>(() => Docker.DockerEngine.Connect(environment)), environment: environment);
        var runner = runners.For(job.Resource);
        var options = new AgentOptions { Config = config, Name = "(agent)", Environment = environment, WorkDirectory = Path.GetTempPath() };
        using var log = JobLog.Discard();
        string? image = null;
        MountedCode? code = null;
        (string Summary, string Yaml)? build = null;
        if (runner.RequiresImage && wandbJob is not null && backend is not null)
        {
            // As JobRun decides it: the lowered spec's resource_args choose the base image. Without builder.type an agent
            // uses noop only when no Docker engine answers, which a preview does not ask: it assumes docker.
            var lowered = job with { LaunchSpec = wandbJob.Spec };
            var loweredArgs = JobContextFactory.Create(lowered, options, log).ResourceArgs;
            if (Builders.JobBaseImage.For(wandbJob, config.Builder.Type ?? "docker", loweredArgs, lowered.GetSpec()) is var (baseImage, chosenForNoop))
            {
                job = lowered;
                image = baseImage;
                code = JobContextFactory.MountedCodeOf(wandbJob, chosenForNoop, backend);
            }
        }
        if (runner.RequiresImage && code is null)
        {
            var spec = job.GetSpec();
            var args = JobContextFactory.Create(job, options, log).ResourceArgs;
            var prebuilt = spec.PrebuiltImage;
            image = prebuilt
                    ?? (predictImage ? DockerBuilder.PredictImage(job, spec, args, config.Builder.Destination) : null)
                    ?? $"<image the agent builds from {spec.Source}>";
            // A kaniko build creates objects on the cluster too: they are shown before the run's.
            if (prebuilt is null && string.Equals(config.Builder.Type, "kaniko", StringComparison.OrdinalIgnoreCase))
            {
                build = KanikoPreview.Render(job, config.Builder, config.Environment, image, environment);
            }
        }
        var rendered = runner.Render(JobContextFactory.Create(job, options, log, image, code: code));
        if (build is not { } b) return rendered;
        return new RenderedRequest
        {
            Resource = rendered.Resource,
            Summary = $"{b.Summary}, then {rendered.Summary}",
            Text = b.Yaml + "---\n" + rendered.Text,
            Warnings = rendered.Warnings,
        };
    }
}
