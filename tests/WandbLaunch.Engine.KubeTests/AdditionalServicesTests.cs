using System.Text.Json.Nodes;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners.Kubernetes;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Tests.KubeApi;

namespace WandbLaunch.Engine.KubeTests;

/// <summary>
/// W&amp;B's <c>additional_services</c> (wandb/sdk/launch/runner/kubernetes_runner.py: run, _prepare_resource,
/// _wait_for_resource_ready, _wait_with_timeout, add_label_to_pods; runner/kubernetes_monitor.py:
/// WANDB_K8S_LABEL_AUXILIARY_RESOURCE; utils.py: make_k8s_label_safe, sanitize_identifiers_for_k8s) run by a real agent
/// against the loopback API server, and the refusals ours adds.
/// </summary>
public sealed class AdditionalServicesTests
{
    private const string Ns = AgentHarness.Namespace;
    private const string Config = """{"spec": {"template": {"spec": {"containers": [{"name": "trainer"}]}}}}""";

    private static string Database(string name = "db-${run_id}") => """
        {"config": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "NAME"},
          "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "db"}},
                   "template": {"metadata": {"labels": {"app": "db"}},
                                "spec": {"containers": [{"name": "postgres", "image": "postgres:16", "env": [{"name": "POSTGRES_DB", "value": "${project_name}"}]}]}}}}}
        """.Replace("NAME", name);

    private static string DatabaseService(string name = "db-${run_id}") => """
        {"config": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "NAME"},
          "spec": {"selector": {"app": "db"}, "ports": [{"name": "pg", "port": 5432}]}}}
        """.Replace("NAME", name);

    private static string Spec(string services, string overrides = """{"run_config": {"lr": 0.1}}""") =>
        $$"""{"overrides": {{overrides}}, "additional_services": {{services}}}""";

    private static JsonArray EnvOf(JsonObject podSpec, int container = 0) => (JsonArray)podSpec["containers"]![container]!["env"]!;

    private static async Task<JsonObject> ObjectAsync(AgentHarness h, ApiResource resource, string name) =>
        await Eventually.Until(() => Task.FromResult(h.Server.Get(resource, Ns, name)), $"{resource.Plural} {name}");

    [Fact]
    public async Task ServicesAreCreatedLabelledAndAwaitedBeforeTheJobAndDeletedWhenItEnds()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", Config);
        var submitted = await h.SubmitAsync("k8s", extraSpecJson: Spec($"[{Database()}, {DatabaseService()}]"));
        var runId = submitted.RunId;
        h.StartAgent("k8s");

        // Macros are substituted in the services as in resource_args (recursive_macro_sub).
        var deployment = await ObjectAsync(h, ApiResource.Deployments, $"db-{runId}");
        var service = await ObjectAsync(h, ApiResource.Services, $"db-{runId}");
        var aux = AdditionalServices.LabelValue(AgentHarness.Entity, "llm", runId);
        Assert.Equal($"aux-{AgentHarness.Entity}-llm-{runId}", aux);
        foreach (var created in new[] { deployment, service })
        {
            var labels = created["metadata"]!["labels"]!;
            Assert.Equal(runId, labels["wandb.ai/run-id"]!.GetValue<string>());
            Assert.Equal("launch-agent", labels["wandb.ai/created-by"]!.GetValue<string>());
            Assert.Equal(aux, labels["wandb.ai/auxiliary-resource"]!.GetValue<string>());
        }
        var template = deployment["spec"]!["template"]!;
        Assert.Equal(aux, template["metadata"]!["labels"]!["wandb.ai/auxiliary-resource"]!.GetValue<string>());
        Assert.Equal("db", template["metadata"]!["labels"]!["app"]!.GetValue<string>());
        var podSpec = (JsonObject)template["spec"]!;
        var env = EnvOf(podSpec).OfType<JsonObject>().ToDictionary(e => e["name"]!.GetValue<string>());
        Assert.Equal("llm", env["POSTGRES_DB"]["value"]!.GetValue<string>());
        Assert.Equal("""{"lr":0.1}""", env["WANDB_CONFIG"]["value"]!.GetValue<string>());
        Assert.Equal($"wandb-api-key-{runId}", env["WANDB_API_KEY"]["valueFrom"]!["secretKeyRef"]!["name"]!.GetValue<string>());
        Assert.False(env.ContainsKey("WANDB_RUN_ID")); // W&B gives services WANDB_CONFIG and the key only
        Assert.DoesNotContain(Contexts.ApiKey, deployment.ToJsonString());
        // inject_restricted_security_context, as for the Job.
        Assert.False(podSpec["containers"]![0]!["securityContext"]!["allowPrivilegeEscalation"]!.GetValue<bool>());

        // Awaited before the Job: nothing is created until the Deployment's replicas and the Service's endpoints are ready.
        await Task.Delay(700);
        Assert.Empty(h.Server.All(ApiResource.Jobs, Ns));
        h.Server.SetReadyReplicas(ApiResource.Deployments, Ns, $"db-{runId}", 1);
        await Task.Delay(700);
        Assert.Empty(h.Server.All(ApiResource.Jobs, Ns));
        h.Server.SetEndpoints(Ns, $"db-{runId}", "10.244.1.9");
        var name = (await h.KubeJobAsync(runId))["metadata"]!["name"]!.GetValue<string>();
        var pod = await h.PodAsync(name);
        h.Server.SetPodPhase(Ns, pod, "Running");
        var running = await h.StateAsync(submitted.Id, LaunchJobState.Running);
        var log = h.Log(running);
        Assert.Contains($"creating additional services: Deployment {Ns}/db-{runId}, Service {Ns}/db-{runId}", log);
        Assert.Contains($"waiting up to 300 s for Deployment {Ns}/db-{runId}, Service {Ns}/db-{runId} to be ready", log);
        Assert.Contains($"Service {Ns}/db-{runId} is ready after", log);

        h.Server.CompleteJob(Ns, name);
        Assert.Equal(LaunchJobState.Finished, (await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed)).State);
        // Ours deletes them when the job ends (W&B never calls _delete_auxiliary_resources_by_label).
        await Eventually.Until(() => h.Server.Get(ApiResource.Deployments, Ns, $"db-{runId}") is null && h.Server.Get(ApiResource.Services, Ns, $"db-{runId}") is null,
            "the services to be deleted");
        Assert.Null(h.Server.Get(ApiResource.Endpoints, Ns, $"db-{runId}"));
        Assert.Contains($"deleted additional service Deployment {Ns}/db-{runId}", h.Log(running));
        Assert.Contains(h.Server.Requests, r => r.Path.EndsWith("/deployments") && r.Query.Contains("labelSelector=wandb.ai%2Fauxiliary-resource%3D" + aux));
    }

    [Fact]
    public async Task AServiceNotReadyInTimeFailsTheJobWithWandbsMessage()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", """{"wait_timeout": 1, "spec": {"template": {"spec": {"containers": [{"name": "trainer"}]}}}}""");
        var submitted = await h.SubmitAsync("k8s", extraSpecJson: Spec($"[{Database("db")}]"));
        h.StartAgent("k8s");

        var failed = await h.StateAsync(submitted.Id, LaunchJobState.Failed, LaunchJobState.Running, LaunchJobState.Finished);
        Assert.Equal(LaunchJobState.Failed, failed.State);
        // _wait_with_timeout's LaunchError, naming the service.
        Assert.Contains("Resource 'db' not ready within 1 seconds (Deployment ml/db: 0 of 1 replicas ready)", failed.FailureMessage);
        Assert.Empty(h.Server.All(ApiResource.Jobs, Ns));
        await Eventually.Until(() => h.Server.Get(ApiResource.Deployments, Ns, "db") is null, "the service to be deleted");
        await Eventually.Until(() => h.Server.Secret(Ns, $"wandb-api-key-{submitted.RunId}") is null, "the API-key Secret to be deleted");
    }

    [Fact]
    public async Task APodServiceIsAwaitedUntilEveryContainerIsReadyAndIsNotTakenForTheJobsPod()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", Config);
        const string redis = """{"config": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "cache"}, "spec": {"containers": [{"name": "redis", "image": "redis:7"}]}}}""";
        var submitted = await h.SubmitAsync("k8s", extraSpecJson: Spec($"[{redis}]"));
        h.StartAgent("k8s");

        var pod = await ObjectAsync(h, ApiResource.Pods, "cache");
        Assert.Equal(submitted.RunId, pod["metadata"]!["labels"]!["wandb.ai/run-id"]!.GetValue<string>());
        h.Server.SetPodPhase(Ns, "cache", "Running");
        h.Server.SetPodReady(Ns, "cache", false);
        await Task.Delay(1000);
        Assert.Empty(h.Server.All(ApiResource.Jobs, Ns));
        h.Server.SetPodReady(Ns, "cache", true);

        var name = (await h.KubeJobAsync(submitted.RunId))["metadata"]!["name"]!.GetValue<string>();
        await h.PodAsync(name);
        // The running service pod carries the run id, but the job is still starting: its own pod is pending.
        await Task.Delay(700);
        Assert.Equal(LaunchJobState.Starting, (await h.JobAsync(submitted.Id)).State);
        h.Server.FailJob(Ns, name);
        Assert.Equal(LaunchJobState.Failed, (await h.StateAsync(submitted.Id, LaunchJobState.Failed, LaunchJobState.Finished)).State);
        await Eventually.Until(() => h.Server.Get(ApiResource.Pods, Ns, "cache") is null, "the service pod to be deleted");
    }

    [Fact]
    public async Task WithoutWaitForReadyTheJobIsCreatedRightAfterTheServices()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", """{"wait_for_ready": false, "spec": {"template": {"spec": {"containers": [{"name": "trainer"}]}}}}""");
        var submitted = await h.SubmitAsync("k8s", extraSpecJson: Spec($"[{Database("db")}]"));
        h.StartAgent("k8s");

        var job = await h.KubeJobAsync(submitted.RunId);
        Assert.NotNull(h.Server.Get(ApiResource.Deployments, Ns, "db"));
        // The runner's keys are not part of the Job.
        Assert.DoesNotContain("wait_for_ready", job.ToJsonString());
        Assert.Contains("not waiting for the additional services to be ready (wait_for_ready: false)", h.Log(await h.JobAsync(submitted.Id)));
    }

    [Fact]
    public async Task KeepAdditionalServicesLeavesThemRunningAsWandbDoes()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", """{"wait_for_ready": false, "spec": {"template": {"spec": {"containers": [{"name": "trainer"}]}}}}""");
        var submitted = await h.SubmitAsync("k8s", extraSpecJson: Spec($"[{Database("db")}]"));
        h.StartAgent("k8s", keepAdditionalServices: true);
        var name = (await h.KubeJobAsync(submitted.RunId))["metadata"]!["name"]!.GetValue<string>();
        await h.PodAsync(name);

        h.Server.CompleteJob(Ns, name);
        await h.StateAsync(submitted.Id, LaunchJobState.Finished);
        await Eventually.Until(() => h.Server.Secret(Ns, $"wandb-api-key-{submitted.RunId}") is null, "the API-key Secret to be deleted");
        Assert.NotNull(h.Server.Get(ApiResource.Deployments, Ns, "db"));
        Assert.DoesNotContain(h.Server.Deletions, d => d.Resource == "deployments.apps");
    }

    [Fact]
    public async Task AnAgentThatReattachesDeletesTheServicesWhenTheJobEnds()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", """{"wait_for_ready": false, "spec": {"template": {"spec": {"containers": [{"name": "trainer"}]}}}}""");
        var submitted = await h.SubmitAsync("k8s", extraSpecJson: Spec($"[{Database("db")}, {DatabaseService("db")}]"));
        var first = h.StartAgent("k8s", leaveJobsRunning: true);
        var name = (await h.KubeJobAsync(submitted.RunId))["metadata"]!["name"]!.GetValue<string>();
        var pod = await h.PodAsync(name);
        h.Server.SetPodPhase(Ns, pod, "Running");
        await h.StateAsync(submitted.Id, LaunchJobState.Running);
        await first.StopAsync();
        Assert.NotNull(h.Server.Get(ApiResource.Deployments, Ns, "db")); // left with the job

        var second = h.StartAgent("k8s");
        await Eventually.Until(async () => (await h.JobAsync(submitted.Id)).AgentId == second.Id, "the second agent to re-attach");
        h.Server.CompleteJob(Ns, name);
        await h.StateAsync(submitted.Id, LaunchJobState.Finished);
        await Eventually.Until(() => h.Server.Get(ApiResource.Deployments, Ns, "db") is null && h.Server.Get(ApiResource.Services, Ns, "db") is null,
            "the re-attached agent to delete the services");
    }

    [Fact]
    public async Task APreemptedRunLeftWithItsServicesReplacesThemOnItsNextAttempt()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", """{"wait_for_ready": false, "spec": {"template": {"spec": {"containers": [{"name": "trainer"}]}}}}""");
        var submitted = await h.SubmitAsync("k8s", extraSpecJson: Spec($"[{Database("db")}]"));
        h.StartAgent("k8s", keepAdditionalServices: true);
        var first = await h.KubeJobAsync(submitted.RunId);
        var firstDb = h.Server.Get(ApiResource.Deployments, Ns, "db")!["metadata"]!["uid"]!.GetValue<string>();
        var pod = await h.PodAsync(first["metadata"]!["name"]!.GetValue<string>());
        h.Server.SetPodPhase(Ns, pod, "Running");
        await h.StateAsync(submitted.Id, LaunchJobState.Running);

        h.Server.PreemptJob(Ns, first["metadata"]!["name"]!.GetValue<string>());

        // The same run again: its own Deployment of that name (labelled with its run id) is replaced, not a conflict.
        await h.KubeJobAsync(submitted.RunId, notUid: first["metadata"]!["uid"]!.GetValue<string>());
        var secondDb = await Eventually.Until(() => Task.FromResult(h.Server.Get(ApiResource.Deployments, Ns, "db")), "the second attempt's Deployment");
        Assert.NotEqual(firstDb, secondDb["metadata"]!["uid"]!.GetValue<string>());
        Assert.Contains($"replacing additional service Deployment {Ns}/db left by an earlier attempt of this run", h.Log(await h.JobAsync(submitted.Id)));
    }

    [Fact]
    public async Task AServiceTheApiServerRefusesFailsTheJobNamingIt()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", Config);
        const string mismatched = """
            {"config": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
              "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "other"}}, "spec": {"containers": [{"name": "w", "image": "nginx"}]}}}}}
            """;
        var submitted = await h.SubmitAsync("k8s", extraSpecJson: Spec($"[{mismatched}]"));
        h.StartAgent("k8s");

        var failed = await h.StateAsync(submitted.Id, LaunchJobState.Failed, LaunchJobState.Running);
        Assert.Equal(LaunchJobState.Failed, failed.State);
        Assert.Contains("refused to create additional service Deployment ml/web (422 Invalid)", failed.FailureMessage);
        Assert.Contains("`selector` does not match template `labels`", failed.FailureMessage);
        Assert.Empty(h.Server.All(ApiResource.Jobs, Ns));
    }

    [Fact]
    public async Task AnObjectOfTheSameNameThatIsNotTheRunsIsNeverReplaced()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", """{"wait_for_ready": false, "spec": {"template": {"spec": {"containers": [{"name": "trainer"}]}}}}""");
        var other = await h.SubmitAsync("k8s", extraSpecJson: Spec($"[{Database("db")}]"));
        var agent = h.StartAgent("k8s", keepAdditionalServices: true);
        var otherUid = (await ObjectAsync(h, ApiResource.Deployments, "db"))["metadata"]!["uid"]!.GetValue<string>();

        var submitted = await h.SubmitAsync("k8s", extraSpecJson: Spec($"[{Database("db")}]"));
        var failed = await h.StateAsync(submitted.Id, LaunchJobState.Failed, LaunchJobState.Running);
        Assert.Equal(LaunchJobState.Failed, failed.State);
        Assert.Contains($"Cannot create additional service Deployment ml/db: a Deployment of that name already exists for run {other.RunId} and is not this run's", failed.FailureMessage);
        Assert.Equal(otherUid, h.Server.Get(ApiResource.Deployments, Ns, "db")!["metadata"]!["uid"]!.GetValue<string>());
        await agent.StopAsync();
    }

    // ---- rendering (no cluster)

    private static JobManifestRender Render(string servicesJson, string queueJson = Config, bool secureMode = false)
    {
        var dir = new TempDirectory();
        var log = new JobLog(dir.File("job.log"), []);
        var spec = new JsonObject
        {
            ["run_id"] = "svc0run1",
            ["project"] = "LLM_Fine",
            ["docker"] = new JsonObject { ["docker_image"] = "registry.example.com/ml/train:1" },
            ["overrides"] = new JsonObject { ["run_config"] = new JsonObject { ["lr"] = 0.1 } },
            ["additional_services"] = JsonNode.Parse(servicesJson),
            ["resource_args"] = new JsonObject { ["kubernetes"] = JsonNode.Parse(queueJson) },
        };
        var env = new Dictionary<string, string> { ["HOME"] = dir.Path, ["KUBECONFIG"] = Contexts.Kubeconfig(dir, "ml") };
        return new JobManifestRender(dir, log, Contexts.For(spec, log, dir.Path, secureMode), new KubernetesRunner(n => env.GetValueOrDefault(n)));
    }

    private sealed record JobManifestRender(TempDirectory Dir, JobLog Log, Runners.JobContext Context, KubernetesRunner Runner) : IDisposable
    {
        public JobManifest.Rendered Objects => JobManifest.Render(Context, "agent-1", "ml", Context.AgentConfig.SecureMode);

        public string Preview => Runner.Render(Context).Text;

        public LaunchException Refusal() => Assert.ThrowsAny<LaunchException>(() => Runner.Render(Context));

        public void Dispose()
        {
            Log.Dispose();
            Dir.Dispose();
        }
    }

    public static TheoryData<string, string> RefusedKinds => new()
    {
        { "rbac.authorization.k8s.io/v1", "ClusterRoleBinding" },
        { "rbac.authorization.k8s.io/v1", "Role" },
        { "v1", "Secret" },
        { "v1", "Namespace" },
        { "v1", "ServiceAccount" },
        { "apps/v1", "DaemonSet" },
        { "kubeflow.org/v1", "PyTorchJob" },
        { "extensions/v1beta1", "Deployment" },
    };

    [Theory]
    [MemberData(nameof(RefusedKinds))]
    public void KindsOffTheAllowListAreRefusedNamingThePathAndTheAllowedKinds(string apiVersion, string kind)
    {
        using var r = Render("""[{"config": {}}, {"config": {"apiVersion": "V", "kind": "K", "metadata": {"name": "x"}}}]""".Replace("\"V\"", $"\"{apiVersion}\"").Replace("\"K\"", $"\"{kind}\""));
        var e = r.Refusal();
        Assert.Equal("AdditionalServiceKindNotAllowed", e.ErrorId);
        Assert.Contains($"additional_services[1].config is a {apiVersion} {kind}", e.Message);
        Assert.Contains("allowed: apps/v1 Deployment, apps/v1 StatefulSet, v1 Service, v1 Pod, v1 ConfigMap, v1 PersistentVolumeClaim, networking.k8s.io/v1 NetworkPolicy, batch/v1 Job", e.Message);
    }

    [Fact]
    public void AServiceInAnotherNamespaceIsRefusedAndOneWithoutIsPutInTheJobs()
    {
        using (var r = Render("""[{"config": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "kube-system"}, "data": {"a": "b"}}}]"""))
        {
            var e = r.Refusal();
            Assert.Equal("AdditionalServiceNamespace", e.ErrorId);
            Assert.Contains("additional_services[0].config.metadata.namespace is \"kube-system\"", e.Message);
            Assert.Contains("only in the job's namespace (ml)", e.Message);
        }
        using (var r = Render("""[{"config": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "ml"}, "data": {"a": "b"}}}, {"config": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y"}}}]"""))
        {
            Assert.All(r.Objects.Services, s => Assert.Equal("ml", s["metadata"]!["namespace"]!.GetValue<string>()));
        }
    }

    public static TheoryData<string, bool, string> RefusedPodSpecs => new()
    {
        { """{"volumes": [{"name": "sock", "hostPath": {"path": "/var/run/docker.sock"}}], "containers": [{"name": "a", "image": "a"}]}""", false, "additional_services[0].config.spec.template.spec.volumes[0].hostPath" },
        { """{"serviceAccountName": "admin", "containers": [{"name": "a", "image": "a"}]}""", false, "additional_services[0].config.spec.template.spec.serviceAccountName" },
        { """{"containers": [{"name": "a", "image": "a", "securityContext": {"privileged": true}}]}""", false, "additional_services[0].config.spec.template.spec.containers[0].securityContext.privileged" },
        { """{"containers": [{"name": "a", "image": "a", "command": ["sh"]}]}""", true, "additional_services[0].config.spec.template.spec.containers[0].command" },
        { """{"hostNetwork": false, "containers": [{"name": "a", "image": "a"}]}""", true, "additional_services[0].config.spec.template.spec.hostNetwork" },
    };

    [Theory]
    [MemberData(nameof(RefusedPodSpecs))]
    public void TheManifestPolicyAndSecureModeApplyToServicesAsToTheJob(string podSpec, bool secureMode, string path)
    {
        using var r = Render("""[{"config": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": """ + podSpec + "}}}}]", secureMode: secureMode);
        var e = r.Refusal();
        Assert.Equal("ForbiddenManifestField", e.ErrorId);
        Assert.Equal(path, e.Target);
    }

    public static TheoryData<string, string> BadShapes => new()
    {
        { """{"config": {"apiVersion": "v1", "kind": "ConfigMap"}}""", "additional_services[0].config.metadata.name is required" },
        { """{"config": {"kind": "ConfigMap", "metadata": {"name": "x"}}}""", "additional_services[0].config.apiVersion is required" },
        { """{"config": ["not", "a", "manifest"]}""", "additional_services[0].config must be a Kubernetes manifest" },
        { """{"config": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "__"}}}""", "additional_services[0].config.metadata.name is \"__\", which has no letter or digit" },
    };

    [Theory]
    [MemberData(nameof(BadShapes))]
    public void BadShapesAreRefusedNamingThePath(string service, string message)
    {
        using var r = Render($"[{service}]");
        var e = r.Refusal();
        Assert.Equal("InvalidAdditionalService", e.ErrorId);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void NamesAreMadeLabelSafeAsWandbDoesButEnvironmentNamesAreKept()
    {
        // utils.py sanitize_identifiers_for_k8s: every `name` (W&B's also rewrites env names: WANDB_API_KEY → wandb-api-key).
        using var r = Render("""
            [{"config": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Redis_Cache", "labels": {"name": "Keep_Me"}},
              "spec": {"containers": [{"name": "Main_Container", "image": "redis", "env": [{"name": "MY_VAR", "value": "1"}]}]}}}]
            """);
        var pod = Assert.Single(r.Objects.Services);
        Assert.Equal("redis-cache", pod["metadata"]!["name"]!.GetValue<string>());
        Assert.Equal("Keep_Me", pod["metadata"]!["labels"]!["name"]!.GetValue<string>());
        var container = pod["spec"]!["containers"]![0]!;
        Assert.Equal("main-container", container["name"]!.GetValue<string>());
        Assert.Equal(["MY_VAR", "WANDB_CONFIG", "WANDB_API_KEY"], ((JsonArray)container["env"]!).Select(e => e!["name"]!.GetValue<string>()));
        // make_k8s_label_safe("aux-<entity>-<project>-<run id>"): lower case, _ → -.
        Assert.Equal("aux-ml-team-llm-fine-svc0run1", pod["metadata"]!["labels"]!["wandb.ai/auxiliary-resource"]!.GetValue<string>());
    }

    [Fact]
    public void ANetworkPolicyIsHeldToTheRunsPods()
    {
        using var r = Render("""[{"config": {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny-all"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}}]""");
        var policy = Assert.Single(r.Objects.Services);
        Assert.Equal("svc0run1", policy["spec"]!["podSelector"]!["matchLabels"]!["wandb.ai/run-id"]!.GetValue<string>());
    }

    [Fact]
    public void ThePreviewShowsTheServicesBeforeTheJobWithoutTheKey()
    {
        using var r = Render($"[{Database("db")}]");
        var preview = r.Preview;
        Assert.True(preview.IndexOf("kind: Deployment", StringComparison.Ordinal) < preview.IndexOf("kind: Job", StringComparison.Ordinal), preview);
        Assert.Contains("secretKeyRef:", preview);
        Assert.DoesNotContain(Contexts.ApiKey, preview);
    }

    [Fact]
    public void WaitSettingsAreChecked()
    {
        using (var r = Render($"[{Database("db")}]", """{"wait_timeout": "soon"}"""))
        {
            var e = r.Refusal();
            Assert.Equal("InvalidKubernetesWait", e.ErrorId);
            Assert.Contains("wait_timeout must be a number of seconds", e.Message);
        }
        using (var r = Render($"[{Database("db")}]", """{"wait_for_ready": "yes"}"""))
        {
            Assert.Equal("InvalidKubernetesWait", r.Refusal().ErrorId);
        }
        using (var r = Render($"[{Database("db")}]", """{"wait_for_ready": false, "wait_timeout": 30}"""))
        {
            Assert.Equal(new AuxiliaryObjects.Wait(false, 30), r.Objects.ServiceWait);
            Assert.DoesNotContain("wait_timeout", r.Objects.Workload.ToJsonString());
        }
    }

    // ---- at submit

    [Fact]
    public async Task ABadServiceIsRefusedBeforeTheJobIsQueued()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", Config);
        var e = await Assert.ThrowsAnyAsync<LaunchException>(() =>
            h.SubmitAsync("k8s", extraSpecJson: """{"additional_services": [{"config": {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "x"}}}]}"""));
        Assert.Equal("AdditionalServiceKindNotAllowed", e.ErrorId);
        e = await Assert.ThrowsAnyAsync<LaunchException>(() => h.SubmitAsync("k8s", extraSpecJson: """{"additional_services": {"config": {}}}"""));
        Assert.Equal("InvalidLaunchSpec", e.ErrorId);
        Assert.Empty(await h.Backend.GetJobsAsync(new JobQuery(), CancellationToken.None));
    }

    [Fact]
    public async Task ServicesOnAQueueThatIsNotKubernetesAreRefused()
    {
        await using var h = new AgentHarness();
        await TestQueues.CreateAsync(h.Backend, AgentHarness.Entity, "local", LaunchResource.LocalContainer, "{}", createdBy: "tester");
        var e = await Assert.ThrowsAnyAsync<LaunchException>(() => h.SubmitAsync("local", extraSpecJson: Spec($"[{Database("db")}]")));
        Assert.Equal("AdditionalServicesNotSupported", e.ErrorId);
        // Items without a config are skipped, as W&B skips them: nothing to refuse.
        await h.SubmitAsync("local", extraSpecJson: """{"additional_services": [{"config": {}}]}""");
    }
}
