using System.Text.Json.Nodes;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Secrets;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Agent;

/// <summary>Resolves what a runner needs for a job: macros in resource_args and the job's W&amp;B environment.</summary>
internal static class JobContextFactory
{
    public static JobContext Create(LaunchJob job, AgentOptions options, JobLog log, string? imageUri = null, Func<Task>? launching = null, Action<string>? warn = null, MountedCode? code = null)
    {
        var spec = job.GetSpec();
        SpecNames.CheckStored(job.RunId, spec);
        var env = options.Environment;
        var values = new Macros.Values(
            spec.TargetProject ?? job.Project,
            spec.Entity ?? job.Entity,
            job.RunId,
            spec.Name,
            imageUri ?? spec.PrebuiltImage,
            spec.Author);
        var args = spec.ResourceArgsFor(job.Resource) ?? new JsonObject();
        var resourceArgs = Macros.Substitute(args, values, env) as JsonObject ?? new JsonObject();
        spec.SetResourceArgs(job.Resource, resourceArgs);
        // kubernetes_runner.py: W&B substitutes the same macros in additional_services (recursive_macro_sub).
        if (spec.AdditionalServices is { } services) spec.AdditionalServices = Macros.Substitute(services, values, env) as JsonArray;
        var apiKey = env(JobEnvironment.ApiKeyVariable);
        var environment = JobEnvironment.Build(new JobEnvironment.Inputs(
            spec, job.RunId, job.Id, job.Queue, job.Entity, imageUri ?? spec.PrebuiltImage, job.Resumed, env("WANDB_BASE_URL"), apiKey),
            // SageMaker refuses environment values over 512 characters: W&B splits them into NAME_0 ... NAME_N there.
            job.Resource == Queues.LaunchResource.SageMaker ? JobEnvironment.SageMakerMaxValueLength : JobEnvironment.DefaultMaxValueLength);
        return new JobContext
        {
            Job = job,
            Spec = spec,
            ResourceArgs = resourceArgs,
            Environment = environment,
            ImageUri = imageUri ?? spec.PrebuiltImage,
            AgentConfig = options.Config,
            WorkDirectory = options.WorkDirectory,
            Log = log,
            Secrets = SecretRedactor.FromEnvironment(env, options.RegistryCredential).WithSpec(spec).Values,
            Launching = launching ?? (() => Task.CompletedTask),
            Warn = warn ?? (_ => { }),
            Code = code,
        };
    }

    /// <summary>
    /// What a runner needs to mount a base-image job's code: the prepared directory and, for a pod that fetches it
    /// again, W&amp;B's job_source_info; <paramref name="installDependencies"/> is W&amp;B's <c>_auto_default_base_image</c>.
    /// </summary>
    /// <param name="resolved">The resolved job.</param>
    /// <param name="installDependencies">The noop builder chose the image.</param>
    /// <param name="backend">The agent's backend: one that defines WANDB_BASE_URL for its jobs is a W&amp;B server, which pods can reach; the local store defines none.</param>
    public static MountedCode MountedCodeOf(WandbJobs.ResolvedJob resolved, bool installDependencies, Storage.ILaunchBackend backend) => new()
    {
        HostDirectory = resolved.CodeDirectory!,
        Source = resolved.Definition.SourceType == WandbJobs.JobSourceType.Repo ? MountedCodeSource.Repo : MountedCodeSource.Artifact,
        GitRemote = resolved.Definition.GitRemote,
        GitCommit = resolved.Definition.GitCommit,
        CodeArtifact = resolved.CodeArtifact?.ToString(),
        JobArtifact = resolved.Version.ToString(),
        ImageSourceString = resolved.SourceString,
        InstallDependencies = installDependencies,
        WorkingDir = resolved.Spec.Overrides.WorkingDir,
        StoreReachableFromJobs = backend.ConnectionVariable(JobEnvironment.BaseUrlVariable) is not null,
    };
}
