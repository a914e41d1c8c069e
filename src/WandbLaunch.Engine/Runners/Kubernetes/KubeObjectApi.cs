using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Runners.Kubernetes;

/// <summary>
/// The typed calls for one kind of namespaced object (the generic custom objects API cannot reach the core group):
/// what run-scoped objects (<see cref="RunScopedObject"/>) and additional services (<see cref="AuxiliaryObjects"/>)
/// are created, read, listed and deleted with.
/// </summary>
internal sealed record KubeObjectApi(
    string Plural,
    Func<JsonObject, object> Typed,
    Func<IKubernetes, object, string, CancellationToken, Task> Create,
    Func<IKubernetes, string, string, CancellationToken, Task<object>> Read,
    Func<IKubernetes, string, string, CancellationToken, Task<IReadOnlyList<string>>> List,
    Func<IKubernetes, string, string, Task> Delete)
{
    private static readonly V1DeleteOptions Background = new() { PropagationPolicy = "Background" };

    private static KubeObjectApi Make<T, TList>(
        string plural,
        Func<IKubernetes, T, string, CancellationToken, Task<T>> create,
        Func<IKubernetes, string, string, CancellationToken, Task<T>> read,
        Func<IKubernetes, string, string, CancellationToken, Task<TList>> list,
        Func<IKubernetes, string, string, Task> delete)
        where T : class, IMetadata<V1ObjectMeta>
        where TList : IItems<T> =>
        new(plural, body => KubeWorkload.ToTyped<T>(body),
            async (c, body, ns, ct) => await create(c, (T)body, ns, ct).ConfigureAwait(false),
            async (c, name, ns, ct) => await read(c, name, ns, ct).ConfigureAwait(false),
            async (c, ns, selector, ct) => (await list(c, ns, selector, ct).ConfigureAwait(false)).Items.Select(i => i.Metadata.Name).ToList(),
            delete);

    private static readonly KubeObjectApi Secrets = Make<V1Secret, V1SecretList>(
        "secrets",
        (c, b, ns, ct) => c.CoreV1.CreateNamespacedSecretAsync(b, ns, cancellationToken: ct),
        (c, n, ns, ct) => c.CoreV1.ReadNamespacedSecretAsync(n, ns, cancellationToken: ct),
        (c, ns, s, ct) => c.CoreV1.ListNamespacedSecretAsync(ns, labelSelector: s, cancellationToken: ct),
        (c, n, ns) => c.CoreV1.DeleteNamespacedSecretAsync(n, ns, Background, propagationPolicy: "Background"));

    private static readonly KubeObjectApi Deployments = Make<V1Deployment, V1DeploymentList>(
        "deployments",
        (c, b, ns, ct) => c.AppsV1.CreateNamespacedDeploymentAsync(b, ns, cancellationToken: ct),
        (c, n, ns, ct) => c.AppsV1.ReadNamespacedDeploymentAsync(n, ns, cancellationToken: ct),
        (c, ns, s, ct) => c.AppsV1.ListNamespacedDeploymentAsync(ns, labelSelector: s, cancellationToken: ct),
        (c, n, ns) => c.AppsV1.DeleteNamespacedDeploymentAsync(n, ns, Background, propagationPolicy: "Background"));

    private static readonly KubeObjectApi StatefulSets = Make<V1StatefulSet, V1StatefulSetList>(
        "statefulsets",
        (c, b, ns, ct) => c.AppsV1.CreateNamespacedStatefulSetAsync(b, ns, cancellationToken: ct),
        (c, n, ns, ct) => c.AppsV1.ReadNamespacedStatefulSetAsync(n, ns, cancellationToken: ct),
        (c, ns, s, ct) => c.AppsV1.ListNamespacedStatefulSetAsync(ns, labelSelector: s, cancellationToken: ct),
        (c, n, ns) => c.AppsV1.DeleteNamespacedStatefulSetAsync(n, ns, Background, propagationPolicy: "Background"));

    private static readonly KubeObjectApi Services = Make<V1Service, V1ServiceList>(
        "services",
        (c, b, ns, ct) => c.CoreV1.CreateNamespacedServiceAsync(b, ns, cancellationToken: ct),
        (c, n, ns, ct) => c.CoreV1.ReadNamespacedServiceAsync(n, ns, cancellationToken: ct),
        (c, ns, s, ct) => c.CoreV1.ListNamespacedServiceAsync(ns, labelSelector: s, cancellationToken: ct),
        (c, n, ns) => c.CoreV1.DeleteNamespacedServiceAsync(n, ns, Background, propagationPolicy: "Background"));

    private static readonly KubeObjectApi Pods = Make<V1Pod, V1PodList>(
        "pods",
        (c, b, ns, ct) => c.CoreV1.CreateNamespacedPodAsync(b, ns, cancellationToken: ct),
        (c, n, ns, ct) => c.CoreV1.ReadNamespacedPodAsync(n, ns, cancellationToken: ct),
        (c, ns, s, ct) => c.CoreV1.ListNamespacedPodAsync(ns, labelSelector: s, cancellationToken: ct),
        (c, n, ns) => c.CoreV1.DeleteNamespacedPodAsync(n, ns, Background, propagationPolicy: "Background"));

    private static readonly KubeObjectApi ConfigMaps = Make<V1ConfigMap, V1ConfigMapList>(
        "configmaps",
        (c, b, ns, ct) => c.CoreV1.CreateNamespacedConfigMapAsync(b, ns, cancellationToken: ct),
        (c, n, ns, ct) => c.CoreV1.ReadNamespacedConfigMapAsync(n, ns, cancellationToken: ct),
        (c, ns, s, ct) => c.CoreV1.ListNamespacedConfigMapAsync(ns, labelSelector: s, cancellationToken: ct),
        (c, n, ns) => c.CoreV1.DeleteNamespacedConfigMapAsync(n, ns, Background, propagationPolicy: "Background"));

    private static readonly KubeObjectApi Claims = Make<V1PersistentVolumeClaim, V1PersistentVolumeClaimList>(
        "persistentvolumeclaims",
        (c, b, ns, ct) => c.CoreV1.CreateNamespacedPersistentVolumeClaimAsync(b, ns, cancellationToken: ct),
        (c, n, ns, ct) => c.CoreV1.ReadNamespacedPersistentVolumeClaimAsync(n, ns, cancellationToken: ct),
        (c, ns, s, ct) => c.CoreV1.ListNamespacedPersistentVolumeClaimAsync(ns, labelSelector: s, cancellationToken: ct),
        (c, n, ns) => c.CoreV1.DeleteNamespacedPersistentVolumeClaimAsync(n, ns, Background, propagationPolicy: "Background"));

    private static readonly KubeObjectApi NetworkPolicies = Make<V1NetworkPolicy, V1NetworkPolicyList>(
        "networkpolicies",
        (c, b, ns, ct) => c.NetworkingV1.CreateNamespacedNetworkPolicyAsync(b, ns, cancellationToken: ct),
        (c, n, ns, ct) => c.NetworkingV1.ReadNamespacedNetworkPolicyAsync(n, ns, cancellationToken: ct),
        (c, ns, s, ct) => c.NetworkingV1.ListNamespacedNetworkPolicyAsync(ns, labelSelector: s, cancellationToken: ct),
        (c, n, ns) => c.NetworkingV1.DeleteNamespacedNetworkPolicyAsync(n, ns, Background, propagationPolicy: "Background"));

    private static readonly KubeObjectApi Jobs = Make<V1Job, V1JobList>(
        "jobs",
        (c, b, ns, ct) => c.BatchV1.CreateNamespacedJobAsync(b, ns, cancellationToken: ct),
        (c, n, ns, ct) => c.BatchV1.ReadNamespacedJobAsync(n, ns, cancellationToken: ct),
        (c, ns, s, ct) => c.BatchV1.ListNamespacedJobAsync(ns, labelSelector: s, cancellationToken: ct),
        (c, n, ns) => c.BatchV1.DeleteNamespacedJobAsync(n, ns, Background, propagationPolicy: "Background"));

    /// <summary>A Service's Endpoints, read to await it (W&amp;B's read_namespaced_endpoints).</summary>
    public static readonly KubeObjectApi Endpoints = Make<V1Endpoints, V1EndpointsList>(
        "endpoints",
        (c, b, ns, ct) => c.CoreV1.CreateNamespacedEndpointsAsync(b, ns, cancellationToken: ct),
        (c, n, ns, ct) => c.CoreV1.ReadNamespacedEndpointsAsync(n, ns, cancellationToken: ct),
        (c, ns, s, ct) => c.CoreV1.ListNamespacedEndpointsAsync(ns, labelSelector: s, cancellationToken: ct),
        (c, n, ns) => c.CoreV1.DeleteNamespacedEndpointsAsync(n, ns, Background, propagationPolicy: "Background"));

    /// <summary>The object, as JSON, or null when there is none of that name.</summary>
    public async Task<JsonObject?> ReadOrNullAsync(KubeAccess access, string name, string @namespace, CancellationToken cancellationToken)
    {
        try
        {
            return KubeWorkload.ToJson(await access.CallAsync("get", Plural, @namespace, c => Read(c, name, @namespace, cancellationToken)).ConfigureAwait(false));
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public static KubeObjectApi For(AdditionalServiceShape.ServiceKind kind) => Named(kind.Kind);

    /// <summary>The calls for <paramref name="kind"/> (a manifest's <c>kind</c>).</summary>
    public static KubeObjectApi Named(string kind) => kind switch
    {
        "Secret" => Secrets,
        "Deployment" => Deployments,
        "StatefulSet" => StatefulSets,
        "Service" => Services,
        "Pod" => Pods,
        "ConfigMap" => ConfigMaps,
        "PersistentVolumeClaim" => Claims,
        "NetworkPolicy" => NetworkPolicies,
        "Job" => Jobs,
        _ => throw new ArgumentException($"No calls for {kind}.", nameof(kind)),
    };
}
