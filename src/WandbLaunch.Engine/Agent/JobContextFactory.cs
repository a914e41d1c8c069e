using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Secrets;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Agent;

/// <summary>Resolves what a runner needs for a job: macros in resource_args and the job's W&amp;B environment.</summary>
internal static class JobContextFactory
{
    public static JobContext Create(LaunchJob job, AgentOptions options, JobLog log, string? imageUri = null, Func<Task>? launching = null, Action<string>? warn = null)
    {
        var spec = job.GetSpec();
        SpecNames.CheckStored(job.RunId, spec);
        var env = options.Environment;
        var values = new Macros.Values(
            Str(spec["project"]) ?? job.Project,
            Str(spec["entity"]) ?? job.Entity,
            job.RunId,
            Str(spec["name"]),
            imageUri ?? LaunchSpecRules.DockerImage(spec),
            Str(spec["author"]));
        var args = (spec["resource_args"] as JsonObject)?[job.Resource] as JsonObject ?? new JsonObject();
        var resourceArgs = Macros.Substitute(args, values, env) as JsonObject ?? new JsonObject();
        spec["resource_args"] = new JsonObject { [job.Resource] = resourceArgs.DeepClone() };
        var apiKey = env(JobEnvironment.ApiKeyVariable);
        var environment = JobEnvironment.Build(new JobEnvironment.Inputs(
            spec, job.RunId, job.Id, job.Queue, job.Entity, imageUri ?? LaunchSpecRules.DockerImage(spec), job.Resumed, env("WANDB_BASE_URL"), apiKey));
        return new JobContext
        {
            Job = job,
            Spec = spec,
            ResourceArgs = resourceArgs,
            Environment = environment,
            ImageUri = imageUri ?? LaunchSpecRules.DockerImage(spec),
            AgentConfig = options.Config,
            WorkDirectory = options.WorkDirectory,
            Log = log,
            Secrets = SecretRedactor.FromEnvironment(env, options.RegistryCredential).WithSpec(spec).Values,
            Launching = launching ?? (() => Task.CompletedTask),
            Warn = warn ?? (_ => { }),
        };
    }

    private static string? Str(JsonNode? node) => JsonTree.TryGetString(node, out var s) ? s : null;
}
