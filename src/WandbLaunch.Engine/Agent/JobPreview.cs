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
    public static RenderedRequest Render(LaunchJob job, LaunchAgentConfig config, Func<string, string?> environment, bool predictImage = true,
        Registries.RegistryCredential? credential = null)
    {
        // By value, over everything shown: a macro can put a key anywhere (an env value, an argument, a label).
        var secrets = SecretRedactor.FromEnvironment(environment, credential).WithSpec(job.GetSpec());
        RenderedRequest rendered;
        try
        {
            rendered = RenderOrFail(job, config, environment, predictImage);
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
        };
    }

    private static RenderedRequest RenderOrFail(LaunchJob job, LaunchAgentConfig config, Func<string, string?> environment, bool predictImage)
    {
        // The Docker engine is created lazily and never used by rendering.
        var runners = RunnerRegistry.Default(new Lazy<Docker.DockerEngine>(() => Docker.DockerEngine.Connect(environment)), environment: environment);
        var runner = runners.For(job.Resource);
        var options = new AgentOptions { Config = config, Name = "(agent)", Environment = environment, WorkDirectory = Path.GetTempPath() };
        using var log = JobLog.Discard();
        string? image = null;
        (string Summary, string Yaml)? build = null;
        if (runner.RequiresImage)
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
                build = KanikoPreview.Render(job, args, config.Builder, image, environment);
            }
        }
        var rendered = runner.Render(JobContextFactory.Create(job, options, log, image));
        if (build is not { } b) return rendered;
        return new RenderedRequest
        {
            Resource = rendered.Resource,
            Summary = $"{b.Summary}, then {rendered.Summary}",
            Text = b.Yaml + "---\n" + rendered.Text,
        };
    }
}
