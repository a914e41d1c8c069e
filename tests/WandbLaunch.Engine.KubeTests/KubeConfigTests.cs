using System.Text.Json.Nodes;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Runners.Kubernetes;
using WandbLaunch.Tests.KubeApi;

namespace WandbLaunch.Engine.KubeTests;

/// <summary>Finding the cluster: kubeconfig files, contexts, and what the API server says about the credentials.</summary>
public sealed class KubeConfigTests
{
    private static Func<string, string?> Env(params (string Name, string Value)[] values)
    {
        var map = values.ToDictionary(v => v.Name, v => v.Value);
        return n => map.GetValueOrDefault(n);
    }

    [Fact]
    public void AMissingKubeconfigFileIsNamed()
    {
        using var dir = new TempDirectory();
        var missing = dir.File("nope.yaml");
        var e = Assert.ThrowsAny<LaunchException>(() => KubeAccess.Connect(null, Env(("KUBECONFIG", missing))));
        Assert.Equal("KubeConfigNotFound", e.ErrorId);
        Assert.Contains(missing, e.Message);
        Assert.Contains("KUBECONFIG", e.Message);
    }

    [Fact]
    public void WithoutKubeconfigTheDefaultFileIsLookedFor()
    {
        using var dir = new TempDirectory();
        var e = Assert.ThrowsAny<LaunchException>(() => KubeAccess.Connect(null, Env(("HOME", dir.Path))));
        Assert.Equal("KubeConfigNotFound", e.ErrorId);
        Assert.Contains(Path.Combine(dir.Path, ".kube", "config"), e.Message);
    }

    [Fact]
    public void BadYamlIsReportedWithTheFileAndPosition()
    {
        using var dir = new TempDirectory();
        var file = dir.Write("kubeconfig", "apiVersion: v1\nclusters:\n- name: a\n  cluster: [unclosed\ncontexts: []\n");
        var e = Assert.ThrowsAny<LaunchException>(() => KubeAccess.Connect(null, Env(("KUBECONFIG", file))));
        Assert.Equal("KubeConfigInvalid", e.ErrorId);
        Assert.Contains(file, e.Message);
        Assert.Matches(@"line \d+, column \d+", e.Message);
    }

    [Fact]
    public void AnUnknownContextListsTheContexts()
    {
        using var dir = new TempDirectory();
        var file = Contexts.Kubeconfig(dir, "ml");
        var e = Assert.ThrowsAny<LaunchException>(() => KubeAccess.Connect("prod", Env(("KUBECONFIG", file))));
        Assert.Equal("KubeContextNotFound", e.ErrorId);
        Assert.Contains("'prod'", e.Message);
        Assert.Contains("its contexts: work", e.Message);
    }

    [Fact]
    public void SeveralKubeconfigFilesAreMergedFirstWins()
    {
        using var dir = new TempDirectory();
        var first = Contexts.Kubeconfig(dir, "ml", "first");
        var second = dir.Write("second", """
            apiVersion: v1
            kind: Config
            clusters:
            - name: other
              cluster:
                server: http://127.0.0.1:10
            users:
            - name: other
              user:
                token: t
            contexts:
            - name: staging
              context:
                cluster: other
                user: other
                namespace: staging-jobs
            - name: work
              context:
                cluster: other
                user: other
                namespace: ignored
            current-context: staging
            """);
        var env = Env(("KUBECONFIG", $"{dir.File("missing")}{Path.PathSeparator}{first}{Path.PathSeparator}{second}"));
        using var current = KubeAccess.Connect(null, env);
        Assert.Equal("work", current.Context);
        Assert.Equal("ml", current.ContextNamespace);
        Assert.Equal("http://127.0.0.1:9", current.Server.TrimEnd('/'));
        using var staging = KubeAccess.Connect("staging", env);
        Assert.Equal("staging-jobs", staging.ContextNamespace);
        Assert.Equal("http://127.0.0.1:10", staging.Server.TrimEnd('/'));
    }

    private static async Task<LaunchException> StartFails(KubeApiServer server, string kubeconfig, string @namespace = "ml")
    {
        using var dir = new TempDirectory();
        using var log = new JobLog(dir.File("job.log"), []);
        var spec = (JsonObject)JsonNode.Parse("""
            {"run_id": "cfg0run1", "docker": {"docker_image": "registry.example.com/ml/train:1"}, "resource_args": {"kubernetes": {}}}
            """)!;
        ((JsonObject)spec["resource_args"]!["kubernetes"]!)["namespace"] = @namespace;
        var runner = new KubernetesRunner(Env(("KUBECONFIG", kubeconfig)));
        return await Assert.ThrowsAnyAsync<LaunchException>(() => runner.StartAsync(Contexts.For(spec, log, dir.Path), CancellationToken.None));
    }

    [Fact]
    public async Task AWrongTokenIsUnauthorized()
    {
        using var dir = new TempDirectory();
        using var server = new KubeApiServer();
        server.AddNamespace("ml");
        var e = await StartFails(server, server.WriteKubeconfig(dir.File("kubeconfig"), "ml", token: "expired-token"));
        Assert.Equal("KubeUnauthorized", e.ErrorId);
        Assert.Contains("401 Unauthorized", e.Message);
        Assert.Contains("launch-agent", e.Message);
        Assert.Contains(server.Url.ToString().TrimEnd('/'), e.Message);
        Assert.Empty(server.All(ApiResource.Jobs, "ml"));
    }

    [Fact]
    public async Task AForbiddenNamespaceNamesVerbResourceAndNamespace()
    {
        using var dir = new TempDirectory();
        using var server = new KubeApiServer();
        server.AddNamespace("restricted");
        server.Forbid("restricted");
        var e = await StartFails(server, server.WriteKubeconfig(dir.File("kubeconfig")), "restricted");
        Assert.Equal("KubeForbidden", e.ErrorId);
        Assert.Contains("to create secrets in namespace 'restricted'", e.Message);
        Assert.Contains("kubectl auth can-i create secrets -n restricted", e.Message);
        Assert.Contains("403 Forbidden", e.Message);
    }

    [Fact]
    public async Task AnUnreachableServerSaysSo()
    {
        using var dir = new TempDirectory();
        var e = await StartFails(null!, Contexts.Kubeconfig(dir, "ml"));
        Assert.Equal("KubeUnreachable", e.ErrorId);
        Assert.Contains("Cannot reach the Kubernetes API server at http://127.0.0.1:9", e.Message);
    }

    [Fact]
    public async Task ANamespaceThatDoesNotExistFailsTheRun()
    {
        using var dir = new TempDirectory();
        using var server = new KubeApiServer();
        using var log = new JobLog(dir.File("job.log"), []);
        var spec = (JsonObject)JsonNode.Parse("""
            {"run_id": "cfg0run2", "docker": {"docker_image": "img:1"}, "resource_args": {"kubernetes": {"namespace": "typo-ns"}}}
            """)!;
        var runner = new KubernetesRunner(Env(("KUBECONFIG", server.WriteKubeconfig(dir.File("kubeconfig")))));
        var e = await Assert.ThrowsAsync<JobFailedException>(() => runner.StartAsync(Contexts.For(spec, log, dir.Path), CancellationToken.None));
        Assert.Equal(FailureStage.Run, e.Stage);
        Assert.Equal("The Kubernetes API server refused to create Secret typo-ns/wandb-api-key-cfg0run2 (404 NotFound): namespaces \"typo-ns\" not found", e.Message);
    }

    [Fact]
    public async Task ACustomResourceTheClusterDoesNotServeFailsTheRunAndTheSecretIsRemoved()
    {
        using var dir = new TempDirectory();
        using var server = new KubeApiServer();
        server.AddNamespace("ml");
        using var log = new JobLog(dir.File("job.log"), []);
        var spec = (JsonObject)JsonNode.Parse("""
            {"run_id": "cfg0run3", "docker": {"docker_image": "img:1"},
             "resource_args": {"kubernetes": {"namespace": "ml", "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
               "spec": {"pytorchReplicaSpecs": {"Master": {"template": {"spec": {"containers": [{"name": "pytorch"}]}}}}}}}}
            """)!;
        var runner = new KubernetesRunner(Env(("KUBECONFIG", server.WriteKubeconfig(dir.File("kubeconfig")))));
        var e = await Assert.ThrowsAsync<JobFailedException>(() => runner.StartAsync(Contexts.For(spec, log, dir.Path), CancellationToken.None));
        Assert.StartsWith("The cluster has no pytorchjobs.kubeflow.org resource (kubeflow.org/v1 PyTorchJob, plural 'pytorchjobs')", e.Message);
        Assert.Contains("resource_args.kubernetes.plural", e.Message);
        Assert.Null(server.Secret("ml", "wandb-api-key-cfg0run3"));
        Assert.Contains(server.Deletions, d => d.Resource == "secrets" && d.Name == "wandb-api-key-cfg0run3");
    }

    [Fact]
    public void NothingIsReadUntilAKubernetesJobRuns()
    {
        // The registry builds the runner with a broken environment: that is only a problem once a job runs.
        var registry = Runners.RunnerRegistry.Default(new Lazy<Docker.DockerEngine>(() => throw new InvalidOperationException("no docker")),
            environment: Env(("KUBECONFIG", "/nonexistent/kubeconfig")));
        Assert.True(registry.For("kubernetes").RequiresImage);
    }
}
