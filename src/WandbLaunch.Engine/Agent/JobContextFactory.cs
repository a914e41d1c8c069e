using System.Text.Json.Nodes;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Secrets;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Agent;

/// <summary>Resolves what a runner needs for a job: macros in resource_args and the job's W&amp;B environment.</summary>
internal static class JobContextFactory
{
    public static JobContext Create(LaunchJob job, AgentOptions options, JobLog log, string? imageUri = null, Func<Task>? launching = null, Action<string>? warn = null, string? codeMount = null)
    {
        var spec = job.GetSpec();
        SpecNames.CheckStored(job.RunId, spec);
        var env = options.Environment;
        var values = new Macros.Values(
            spec.Project ?? job.Project,
            spec.Entity ?? job.Entity,
            job.RunId,
            spec.Name,
            imageUri ?? spec.PrebuiltImage,
            spec.Author);
        var args = spec.ResourceArgsFor(job.Resource) ?? new JsonObject();
        var resourceArgs = Macros.Substitute(args, values, env) as JsonObject ?? new JsonObject();
        spec.SetResourceArgs(job.Resource, resourceArgs);
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
            CodeMount = codeMount,
        };
    }
}
