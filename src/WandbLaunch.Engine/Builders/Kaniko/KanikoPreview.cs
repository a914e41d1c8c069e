using System.Text.Json.Nodes;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Runners.Kubernetes;

namespace WandbLaunch.Engine.Builders.Kaniko;

/// <summary>
/// What the kaniko builder would create on the cluster for a job, shown without contacting anything: the Secret or
/// ConfigMap <c>docker-config-&lt;job&gt;</c> with kaniko's Docker config (a registry login is made when the build
/// starts, so it is shown as a placeholder) and the build Job, as YAML documents.
/// </summary>
public static class KanikoPreview
{
    /// <param name="job">The job (stored, or a preview of a push).</param>
    /// <param name="settings">The agent's builder block.</param>
    /// <param name="cloud">The agent's environment block.</param>
    /// <param name="image">The image the build would push.</param>
    /// <param name="environment">The agent's environment (the service account, WANDB_LAUNCH_KANIKO_AUTH_SECRET).</param>
    /// <param name="podNamespaceFile">Where the agent pod's namespace is read.</param>
    /// <returns>A one-line summary and the YAML documents.</returns>
    public static (string Summary, string Yaml) Render(LaunchJob job, BuilderSettings settings, EnvironmentSettings cloud, string image, Func<string, string?> environment,
        string podNamespaceFile = KanikoBuilder.PodNamespaceFile)
    {
        var (_, store) = KanikoBuilder.Required(settings);
        var auth = KanikoAuth.For(settings, cloud, environment);
        var @namespace = KanikoBuilder.BuildNamespace(podNamespaceFile);
        var manifest = KanikoJob.Render(settings, job.RunId, @namespace, ContextStore.ObjectUri(store, job.RunId), image, KanikoBuilder.ServiceAccount(environment), auth, _ => { });
        var name = manifest["metadata"]!["name"]!.GetValue<string>();
        var jobNamespace = manifest["metadata"]!["namespace"]!.GetValue<string>();
        var documents = new List<string>();
        switch (auth.Mode)
        {
            case KanikoAuthMode.RegistryLogin:
                documents.Add(YamlWriter.Write(KanikoAuth.LoginSecret(name, jobNamespace, job.RunId,
                    $"<the agent's login to {auth.RegistryHost} as {{\"auths\": {{\"{settings.Destination}\": {{\"auth\": ...}}}}}}, made when the build starts>")));
                break;
            case KanikoAuthMode.AcrHelper:
                documents.Add(YamlWriter.Write(auth.AcrConfigMap(name, jobNamespace, job.RunId)));
                break;
        }
        documents.Add(YamlWriter.Write(manifest));
        return ($"kaniko build Job {jobNamespace}/{name} (pushes {image})", string.Join("---\n", documents));
    }
}
