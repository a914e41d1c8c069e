using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using WandbLaunch.Tests.KubeApi;

namespace WandbLaunch.Engine.KubeTests;

/// <summary>The loopback server refuses what a real API server refuses, with Status objects the client understands.</summary>
public sealed class KubeApiServerTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly KubeApiServer _server = new();
    private readonly Kubernetes _client;

    public KubeApiServerTests()
    {
        _server.AddNamespace("ml");
        _client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(_server.WriteKubeconfig(_dir.File("kubeconfig"), "ml")));
    }

    public void Dispose()
    {
        _client.Dispose();
        _server.Dispose();
        _dir.Dispose();
    }

    private static V1Job Job(string name, string? image = "busybox:1.36", string? restartPolicy = "Never") => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Spec = new V1JobSpec
        {
            Template = new V1PodTemplateSpec
            {
                Spec = new V1PodSpec { RestartPolicy = restartPolicy, Containers = [new V1Container { Name = "main", Image = image }] },
            },
        },
    };

    private static JsonObject Status(HttpOperationException e) => (JsonObject)JsonNode.Parse(e.Response.Content)!;

    [Fact]
    public async Task AJobWithoutAnImageOrRestartPolicyIsInvalid()
    {
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => _client.BatchV1.CreateNamespacedJobAsync(Job("bad", image: null, restartPolicy: null), "ml"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, e.Response.StatusCode);
        var status = Status(e);
        Assert.Equal("Invalid", status["reason"]!.GetValue<string>());
        Assert.Contains("spec.template.spec.containers[0].image: Required value", status["message"]!.GetValue<string>());
        Assert.Contains("spec.template.spec.restartPolicy: Required value", status["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task AVolumeMountMustNameAVolumeAndASecretVolumeItsSecret()
    {
        var job = Job("mounts");
        job.Spec.Template.Spec.Volumes = [new V1Volume { Name = "docker-config", Secret = new V1SecretVolumeSource() }];
        job.Spec.Template.Spec.Containers[0].VolumeMounts = [new V1VolumeMount { Name = "cache", MountPath = "/cache" }];
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => _client.BatchV1.CreateNamespacedJobAsync(job, "ml"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, e.Response.StatusCode);
        var message = Status(e)["message"]!.GetValue<string>();
        Assert.Contains("spec.template.spec.volumes[0].secret.secretName: Required value", message);
        Assert.Contains("spec.template.spec.containers[0].volumeMounts[0].name: Not found: \"cache\"", message);
    }

    [Fact]
    public async Task ATakenNameConflictsAndAMissingOneIsNotFound()
    {
        await _client.BatchV1.CreateNamespacedJobAsync(Job("train"), "ml");
        var conflict = await Assert.ThrowsAsync<HttpOperationException>(() => _client.BatchV1.CreateNamespacedJobAsync(Job("train"), "ml"));
        Assert.Equal(HttpStatusCode.Conflict, conflict.Response.StatusCode);
        Assert.Equal("jobs.batch \"train\" already exists", Status(conflict)["message"]!.GetValue<string>());
        var missing = await Assert.ThrowsAsync<HttpOperationException>(() => _client.BatchV1.ReadNamespacedJobAsync("nope", "ml"));
        Assert.Equal(HttpStatusCode.NotFound, missing.Response.StatusCode);
        Assert.Equal("NotFound", Status(missing)["reason"]!.GetValue<string>());
        Assert.Single(_server.PodsOf("ml", "train"));
    }

    [Fact]
    public async Task TheNamespaceInTheBodyMustMatchThePath()
    {
        var job = Job("train");
        job.Metadata.NamespaceProperty = "other";
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => _client.BatchV1.CreateNamespacedJobAsync(job, "ml"));
        Assert.Equal(HttpStatusCode.BadRequest, e.Response.StatusCode);
        Assert.Contains("does not match the namespace sent on the request", Status(e)["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task BodiesMustBeJsonAndTokensValid()
    {
        using var http = new HttpClient { BaseAddress = _server.Url };
        var request = new HttpRequestMessage(HttpMethod.Post, "/apis/batch/v1/namespaces/ml/jobs") { Content = new StringContent("kind: Job", Encoding.UTF8, "text/yaml") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _server.Token);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await http.SendAsync(request)).StatusCode);
        var anonymous = await http.GetAsync("/api/v1/namespaces/ml/pods");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("Status", JsonNode.Parse(await anonymous.Content.ReadAsStringAsync())!["kind"]!.GetValue<string>());
    }

    [Fact]
    public async Task SecretsKeepStringDataOnlyAsBase64Data()
    {
        await _client.CoreV1.CreateNamespacedSecretAsync(new V1Secret { Metadata = new V1ObjectMeta { Name = "key" }, StringData = new Dictionary<string, string> { ["password"] = "s3cret" } }, "ml");
        var secret = await _client.CoreV1.ReadNamespacedSecretAsync("key", "ml");
        Assert.Null(secret.StringData);
        Assert.Equal("s3cret", Encoding.UTF8.GetString(secret.Data["password"]));
    }

    [Fact]
    public async Task AWatchFromACompactedResourceVersionIsGone()
    {
        var list = await _client.BatchV1.ListNamespacedJobAsync("ml");
        _server.ExpireWatches();
        Exception? error = null;
        await foreach (var _ in _client.BatchV1.WatchListNamespacedJobAsync("ml", resourceVersion: list.Metadata.ResourceVersion, onError: e => error = e))
        {
        }
        Assert.Equal(410, Assert.IsType<KubernetesException>(error).Status.Code);
    }

    [Fact]
    public async Task ForegroundDeletionRemovesThePodsAndTheJob()
    {
        await _client.BatchV1.CreateNamespacedJobAsync(Job("train"), "ml");
        var pod = Assert.Single(_server.PodsOf("ml", "train"));
        await _client.BatchV1.DeleteNamespacedJobAsync("train", "ml", propagationPolicy: "Foreground");
        await Eventually.Until(() => _server.Job("ml", "train") is null, "the Job to go");
        Assert.Null(_server.Get(ApiResource.Pods, "ml", pod));
        Assert.Equal("Foreground", Assert.Single(_server.Deletions).PropagationPolicy);
    }
}
