using System.Text.Json.Nodes;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Runners.Kubernetes;

namespace WandbLaunch.Engine.Builders.Kaniko;

/// <summary>
/// What the kaniko builder would create on the cluster for a job, shown without contacting anything: the ConfigMap
/// <c>docker-config-&lt;job&gt;</c> (its content comes from the registry Secret when the build starts, so it is shown as a
/// placeholder) and the build Job, as YAML documents.
/// </summary>
public static class KanikoPreview
{
    /// <param name="job">The job (stored, or a preview of a push).</param>
    /// <param name="resourceArgs">Its resource_args for its resource, macros substituted.</param>
    /// <param name="settings">The agent's builder block.</param>
    /// <param name="image">The image the build would push.</param>
    /// <param name="environment">The agent's environment (KUBECONFIG for the namespace, the service account).</param>
    /// <returns>A one-line summary and the YAML documents.</returns>
    public static (string Summary, string Yaml) Render(LaunchJob job, JsonObject resourceArgs, BuilderSettings settings, string image, Func<string, string?> environment)
    {
        var (_, store) = KanikoBuilder.Required(settings);
        var contextNamespace = KubeAccess.ContextNamespaceOrNull(KanikoBuilder.BuildContext(job, resourceArgs), environment);
        var @namespace = KanikoBuilder.BuildNamespace(job, resourceArgs, contextNamespace);
        var manifest = KanikoJob.Render(settings, job.RunId, @namespace, ContextStore.ObjectUri(store, job.RunId), image, KanikoBuilder.ServiceAccount(environment), _ => { });
        var name = manifest["metadata"]!["name"]!.GetValue<string>();
        var jobNamespace = manifest["metadata"]!["namespace"]!.GetValue<string>();
        var documents = new List<string>();
        if (settings.SecretName is { } secret && settings.SecretKey is { } key)
        {
            documents.Add(YamlWriter.Write(KanikoJob.DockerConfigMap(name, jobNamespace, job.RunId, $"<key {key} of Secret {jobNamespace}/{secret}, copied when the build starts>")));
        }
        documents.Add(YamlWriter.Write(manifest));
        return ($"kaniko build Job {jobNamespace}/{name} (pushes {image})", string.Join("---\n", documents));
    }
}
