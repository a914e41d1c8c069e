using System.Text.Json.Nodes;
using k8s;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Tests.CloudStorage;
using WandbLaunch.Tests.KubeApi;

namespace WandbLaunch.Engine.KanikoTests;

/// <summary>
/// A real agent with builder.type kaniko: the context goes to a loopback store through the cloud SDK, the kaniko
/// Job to the loopback API server (where the tests play the job controller and kaniko), and the run to a
/// kubernetes queue in the image kaniko built.
/// </summary>
public sealed class KanikoAgentTests
{
    private const string FailedInstall = "ERROR: Failed to install: bad-pkg==1.0. During automated build process.";

    private const string RunConfig = """{"spec": {"template": {"spec": {"containers": [{"name": "trainer"}]}}}}""";

    private const string KanikoConfig = """
        {
          "metadata": {"annotations": {"karpenter.sh/do-not-disrupt": "true"}},
          "spec": {"template": {"spec": {
            "nodeSelector": {"node.kubernetes.io/instance-type": "m5.xlarge"},
            "tolerations": [{"key": "build", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [{
              "args": ["--verbosity=debug", "--cache=false", "--destination=elsewhere.example.com/x:latest"],
              "env": [{"name": "AWS_REGION", "value": "eu-central-1"}],
              "resources": {"requests": {"cpu": "2", "memory": "4Gi"}}
            }]
          }}}
        }
        """;

    private static string Name(JsonObject obj) => obj["metadata"]!["name"]!.GetValue<string>();

    private static JsonObject PodSpec(JsonObject job) => (JsonObject)job["spec"]!["template"]!["spec"]!;

    private static void AssertJson(string expected, JsonNode? actual) =>
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), actual), $"expected\n{JsonNode.Parse(expected)!.ToJsonString()}\nactual\n{actual?.ToJsonString()}");

    [Theory]
    [InlineData(StoreKind.S3)]
    [InlineData(StoreKind.Gcs)]
    [InlineData(StoreKind.Azure)]
    public async Task BuildsOnTheClusterCleansUpAndRunsTheJobInTheBuiltImage(StoreKind kind)
    {
        await using var h = new KanikoHarness(kind);
        await h.QueueAsync("k8s", RunConfig);
        var job = await h.SubmitCodeAsync("k8s");
        var image = h.ImageFor(job);
        h.StartAgent("k8s", h.Builder(kanikoConfigJson: KanikoConfig));

        var buildName = $"wandb-launch-container-build-{job.RunId}";
        var build = await h.KubeJobAsync(buildName);

        // The context was uploaded first: a gzip tar of the code with the generated Dockerfile.wandb.
        var files = Tgz.Read(h.Uploaded(job.RunId) ?? throw new Xunit.Sdk.XunitException("no context was uploaded"));
        Assert.Equal(["Dockerfile.wandb", "data/labels.csv", "requirements.txt", "train.py"], files.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("import wandb\nprint('training')\n", files["train.py"]);
        Assert.Contains("RUN /env/bin/pip install --no-cache-dir -r /tmp/requirements.txt", files["Dockerfile.wandb"]);
        Assert.Contains("""ENTRYPOINT ["python","train.py"]""", files["Dockerfile.wandb"]);

        // The Job, field by field: W&B's kaniko Job, with kaniko-config merged in.
        var context = $"{h.StoreUri}/{job.RunId}.tgz";
        Assert.Equal("batch/v1", build["apiVersion"]!.GetValue<string>());
        Assert.Equal(KanikoHarness.Namespace, build["metadata"]!["namespace"]!.GetValue<string>());
        AssertJson($$"""{"wandb": "launch", "wandb.ai/run-id": "{{job.RunId}}"}""", build["metadata"]!["labels"]);
        AssertJson("""{"karpenter.sh/do-not-disrupt": "true"}""", build["metadata"]!["annotations"]);
        Assert.Equal(0, build["spec"]!["backoffLimit"]!.GetValue<int>());
        Assert.Equal("launch", build["spec"]!["template"]!["metadata"]!["labels"]!["wandb"]!.GetValue<string>());
        AssertJson($$$"""
            {
              "restartPolicy": "Never",
              "activeDeadlineSeconds": 1800,
              "serviceAccountName": "{{{KanikoHarness.ServiceAccount}}}",
              "containers": [{
                "name": "wandb-container-build",
                "image": "registry.example.com/mirror/kaniko-project/executor:v1.23.2",
                "args": [
                  "--context={{{context}}}",
                  "--dockerfile=Dockerfile.wandb",
                  "--destination={{{image}}}",
                  "--cache=false",
                  "--cache-repo={{{h.Destination}}}",
                  "--snapshot-mode=redo",
                  "--compressed-caching=false",
                  "--verbosity=debug"
                ],
                "volumeMounts": [{"name": "docker-config", "mountPath": "/kaniko/.docker", "readOnly": true}],
                "env": [{"name": "AWS_REGION", "value": "eu-central-1"}],
                "resources": {"requests": {"cpu": "2", "memory": "4Gi"}}
              }],
              "volumes": [{"name": "docker-config", "secret": {"secretName": "docker-config-{{{buildName}}}"}}],
              "nodeSelector": {"node.kubernetes.io/instance-type": "m5.xlarge"},
              "tolerations": [{"key": "build", "operator": "Exists", "effect": "NoSchedule"}]
            }
            """, PodSpec(build));
        // With builder.secret-name, kaniko pushes with the agent's own login to the registry, as W&B's builder does
        // (its Docker config keyed by the repository), in Secret docker-config-<job> made before the Job (the pod could
        // not mount it otherwise). The loopback registry is neither ECR nor Artifact Registry: regcred is not mounted.
        var dockerConfig = h.Kube.Secret(KanikoHarness.Namespace, $"docker-config-{buildName}")
                           ?? throw new Xunit.Sdk.XunitException("no docker-config Secret");
        AssertJson($$"""{"wandb": "launch", "wandb.ai/run-id": "{{job.RunId}}"}""", dockerConfig["metadata"]!["labels"]);
        Assert.True(dockerConfig["immutable"]!.GetValue<bool>());
        AssertJson(h.LoginDockerConfig, JsonNode.Parse(System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(dockerConfig["data"]!["config.json"]!.GetValue<string>()))));
        Assert.Empty(h.Kube.All(ApiResource.ConfigMaps, KanikoHarness.Namespace));
        var posts = h.Kube.Requests.Where(r => r.Method == "POST").Select(r => r.Path).ToList();
        Assert.True(posts.FindIndex(p => p.EndsWith("/secrets")) is >= 0 and var c && c < posts.FindIndex(p => p.EndsWith("/jobs")), string.Join(", ", posts));

        // Kaniko runs, logs and succeeds; the run's Job is then created with the image it pushed.
        var pod = await h.PodAsync(buildName);
        h.Kube.SetPodPhase(KanikoHarness.Namespace, pod, "Running");
        h.Kube.AppendPodLog(KanikoHarness.Namespace, pod, "INFO[0000] Retrieving image manifest python:3.10-slim", FailedInstall, $"INFO[0042] Pushing image to {image}");
        await Eventually.Until(async () => h.Log(await h.JobAsync(job.Id)).Contains("Pushing image to"), "the kaniko log in the job log");
        h.Kube.AppendPodLog(KanikoHarness.Namespace, pod, $"INFO[0044] Pushed {image}");
        h.Kube.CompleteJob(KanikoHarness.Namespace, buildName);

        var run = await h.KubeJobAsync($"launch-{job.RunId}");
        Assert.Equal(image, PodSpec(run)["containers"]![0]!["image"]!.GetValue<string>());

        // Cleaned up: the Job (pods first), the credentials' Secret and the uploaded context.
        Assert.Contains(h.Kube.Deletions, d => d.Resource == "jobs.batch" && d.Name == buildName && d.PropagationPolicy == "Foreground");
        Assert.Null(h.Kube.Secret(KanikoHarness.Namespace, $"docker-config-{buildName}"));
        await Eventually.Until(() => h.Kube.Job(KanikoHarness.Namespace, buildName) is null && h.Kube.PodsOf(KanikoHarness.Namespace, buildName).Count == 0, "the build Job and pod to be gone");
        await Eventually.Until(() => h.StoredObjects == 0, "the uploaded context to be deleted");

        var runPod = await h.PodAsync(Name(run));
        h.Kube.SetPodPhase(KanikoHarness.Namespace, runPod, "Running");
        h.Kube.AppendPodLog(KanikoHarness.Namespace, runPod, "training");
        h.Kube.CompleteJob(KanikoHarness.Namespace, Name(run));
        var finished = await h.StateAsync(job.Id, LaunchJobState.Finished, LaunchJobState.Failed);
        Assert.Equal(LaunchJobState.Finished, finished.State);

        // The build's output is in the job's log, before the run's.
        var output = h.Log(finished).Split('\n').Where(l => l.Length > 0 && !l.StartsWith("[agent]")).ToList();
        Assert.Equal(["INFO[0000] Retrieving image manifest python:3.10-slim", FailedInstall, $"INFO[0042] Pushing image to {image}", $"INFO[0044] Pushed {image}", "training"], output);
        // The bootstrap's line about requirements that would not install becomes a build warning, as W&B's agent reports it.
        Assert.Contains(finished.Warnings, w => w.Stage == FailureStage.Build &&
            w.Message == $"builder.secret-name 'regcred' is mounted as cloud credentials for ECR and Artifact Registry destinations only; for {h.Registry.HostPort} it is not mounted, " +
            "and kaniko pushes with the agent's login to the registry.");
        Assert.Contains(finished.Warnings, w => w.Stage == FailureStage.Build &&
            w.Message == $"Failed to install the following packages: bad-pkg==1.0 for image: {image}. Will attempt to launch image without them.");
        var log = h.Log(finished);
        Assert.Contains($"[agent] uploading the build context", log);
        Assert.Contains("builder.kaniko-config sets --destination, which only the builder sets; it is ignored.", log);
        Assert.DoesNotContain(ContextStoreTests.Secret, log);
        Assert.DoesNotContain(KanikoHarness.PushPassword, log);
        Assert.DoesNotContain(KanikoHarness.DockerConfigJson, log);
        Assert.DoesNotContain(h.LoginDockerConfig, log);
        Assert.Contains($"created Secret {KanikoHarness.Namespace}/docker-config-{buildName} with kaniko's Docker config, mounted at /kaniko/.docker", log);
        Assert.Contains(h.Events, e => e.Kind == AgentEventKind.Progress && e.Activity == $"Building {image} with kaniko" && e.Percent == 100);
    }

    [Fact]
    public async Task AFailedBuildFailsTheJobAtStageBuildWithTheLogTailAndCleansUp()
    {
        await using var h = new KanikoHarness(StoreKind.S3);
        h.Kube.AddNamespace("training");
        await h.QueueAsync("k8s", """{"namespace": "training", "spec": {"template": {"spec": {"containers": [{"name": "trainer"}]}}}}""");
        var job = await h.SubmitCodeAsync("k8s");
        h.StartAgent("k8s", h.Builder(jobName: "ml-build", secret: false));

        // In the agent pod's namespace (not the job's, as W&B's); named after builder.build-job-name.
        var buildName = $"ml-build-{job.RunId}";
        var build = await Eventually.Until(() => Task.FromResult(h.Kube.Job(KanikoHarness.Namespace, buildName)), "the build Job in the agent's namespace");
        Assert.False(PodSpec(build).ContainsKey("volumes"));
        Assert.False(((JsonObject)PodSpec(build)["containers"]![0]!).ContainsKey("volumeMounts"));
        var pod = await Eventually.Until(() => Task.FromResult(h.Kube.PodsOf(KanikoHarness.Namespace, buildName).FirstOrDefault()), "the build pod");
        h.Kube.SetPodPhase(KanikoHarness.Namespace, pod, "Running");
        h.Kube.AppendPodLog(KanikoHarness.Namespace, pod,
            "INFO[0003] RUN /env/bin/pip install --no-cache-dir -r /tmp/requirements.txt",
            "ERROR: Could not find a version that satisfies the requirement wandb",
            "error building image: error building stage: failed to execute command: waiting for process to exit: exit status 1");
        await Eventually.Until(async () => h.Log(await h.JobAsync(job.Id)).Contains("error building image"), "the kaniko log in the job log");
        h.Kube.FailJob(KanikoHarness.Namespace, buildName, exitCode: 1);

        var failed = await h.StateAsync(job.Id, LaunchJobState.Failed, LaunchJobState.Finished);
        Assert.Equal(LaunchJobState.Failed, failed.State);
        Assert.Equal(FailureStage.Build, failed.FailureStage);
        Assert.StartsWith($"The kaniko build of {h.ImageFor(job)} failed: Job {KanikoHarness.Namespace}/{buildName} failed (BackoffLimitExceeded", failed.FailureMessage);
        Assert.Contains($"container wandb-container-build: exited with code 1 (Error)", failed.FailureMessage);
        Assert.Contains("ERROR: Could not find a version that satisfies the requirement wandb\nerror building image: error building stage", failed.FailureMessage);

        Assert.Contains(h.Kube.Deletions, d => d.Resource == "jobs.batch" && d.Namespace == KanikoHarness.Namespace && d.Name == buildName && d.PropagationPolicy == "Foreground");
        await Eventually.Until(() => h.Kube.Job(KanikoHarness.Namespace, buildName) is null, "the build Job to be deleted");
        Assert.Equal(0, h.StoredObjects);
        // No run was started.
        Assert.Null(h.Kube.Job("training", $"launch-{job.RunId}"));
    }

    [Fact]
    public async Task AnImageAlreadyInTheRegistryIsNotBuiltAgain()
    {
        await using var h = new KanikoHarness(StoreKind.Gcs);
        await h.QueueAsync("k8s", RunConfig);
        var job = await h.SubmitCodeAsync("k8s");
        var image = h.ImageFor(job);
        h.Registry.AddTag("ml/train", image[(image.LastIndexOf(':') + 1)..]);
        h.StartAgent("k8s", h.Builder());

        var run = await h.KubeJobAsync($"launch-{job.RunId}");

        Assert.Equal(image, PodSpec(run)["containers"]![0]!["image"]!.GetValue<string>());
        Assert.Contains(h.Registry.Requests, r => r.Method == "HEAD" && r.Path == $"/v2/ml/train/manifests/{image[(image.LastIndexOf(':') + 1)..]}" && r.Status == 200);
        Assert.Null(h.Kube.Job(KanikoHarness.Namespace, $"wandb-launch-container-build-{job.RunId}"));
        // One Job was created: the run's.
        Assert.Single(h.Kube.Requests, r => r.Method == "POST" && r.Path.EndsWith("/jobs"));
        Assert.Empty(h.Gcs!.Requests);
        Assert.Contains($"{image} is already in {h.Registry.HostPort}: build skipped", h.Log(await h.JobAsync(job.Id)));
    }

    [Fact]
    public async Task AWrongS3SecretFailsTheBuildWithAClearMessageAndNoSecret()
    {
        await using var h = new KanikoHarness(StoreKind.S3);
        const string wrong = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGWRONGK";
        h.Env["AWS_SECRET_ACCESS_KEY"] = wrong;
        await h.QueueAsync("k8s", RunConfig);
        var job = await h.SubmitCodeAsync("k8s");
        h.StartAgent("k8s", h.Builder());

        var failed = await h.FailedAtBuildAsync(job);

        Assert.StartsWith($"Uploading the build context to {h.StoreUri}/{job.RunId}.tgz failed: the S3 endpoint", failed.FailureMessage);
        Assert.Contains("403 SignatureDoesNotMatch", failed.FailureMessage);
        Assert.Contains("the secret access key is wrong. Fix AWS_SECRET_ACCESS_KEY", failed.FailureMessage);
        Assert.DoesNotContain(wrong, failed.FailureMessage);
        Assert.DoesNotContain(wrong, h.Log(failed));
        Assert.Contains("signature mismatch", h.S3!.Rejections);
        Assert.Empty(h.Kube.All(ApiResource.Jobs, KanikoHarness.Namespace));
    }

    [Fact]
    public async Task WithoutADestinationTheBuildFailsClearly()
    {
        await using var h = new KanikoHarness(StoreKind.Azure);
        await h.QueueAsync("k8s", RunConfig);
        var job = await h.SubmitCodeAsync("k8s");
        h.StartAgent("k8s", h.Builder(destination: null));

        var failed = await h.FailedAtBuildAsync(job);

        Assert.StartsWith("builder.type kaniko pushes every image it builds to a registry, and builder.destination is not set", failed.FailureMessage);
        Assert.Empty(h.Azure!.Requests);
        Assert.Empty(h.Kube.Requests);
    }

    [Fact]
    public async Task StoppingAJobWhileKanikoBuildsDeletesTheBuildJobAndTheContext()
    {
        await using var h = new KanikoHarness(StoreKind.Azure);
        var (job, buildName, pod) = await h.BuildingAsync(RunConfig);
        h.Kube.SetPodPhase(KanikoHarness.Namespace, pod, "Running");
        Assert.NotNull(h.Uploaded(job.RunId));

        await h.Backend.RequestStopAsync(job.Id, CancellationToken.None);

        var stopped = await h.StateAsync(job.Id, LaunchJobState.Stopped, LaunchJobState.Failed, LaunchJobState.Finished);
        Assert.Equal(LaunchJobState.Stopped, stopped.State);
        Assert.Contains(h.Kube.Deletions, d => d.Resource == "jobs.batch" && d.Name == buildName && d.PropagationPolicy == "Foreground");
        await Eventually.Until(() => h.Kube.Job(KanikoHarness.Namespace, buildName) is null, "the build Job to be deleted");
        await Eventually.Until(() => h.StoredObjects == 0, "the uploaded context to be deleted");
        Assert.Null(h.Kube.Job(KanikoHarness.Namespace, $"launch-{job.RunId}"));
        await Eventually.Until(() => h.Kube.Secret(KanikoHarness.Namespace, $"docker-config-{buildName}") is null, "the Docker config Secret to be deleted");
    }

    [Fact]
    public async Task AnUnschedulableBuildPodIsAWarningOnTheJobAtStageBuild()
    {
        await using var h = new KanikoHarness(StoreKind.S3);
        var (job, buildName, pod) = await h.BuildingAsync(RunConfig);

        h.Kube.MarkUnschedulable(KanikoHarness.Namespace, pod, "0/3 nodes are available: 3 node(s) had untolerated taint {build: true}.");

        var warned = await Eventually.Until(async () => await h.JobAsync(job.Id) is var j && j.Warnings.Any(w => w.Message.Contains("cannot be scheduled", StringComparison.Ordinal)) ? j : null,
            "a scheduling warning on the job");
        Assert.Equal(LaunchJobState.Starting, warned.State);
        var warning = Assert.Single(warned.Warnings, w => w.Message.Contains("cannot be scheduled", StringComparison.Ordinal));
        Assert.Equal(FailureStage.Build, warning.Stage);
        Assert.Contains($"Pod {pod} cannot be scheduled: 0/3 nodes are available: 3 node(s) had untolerated taint", warning.Message);
        Assert.Contains(h.Events, e => e.Kind == AgentEventKind.Warning && e.Message.Contains("cannot be scheduled", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WithoutTheAgentsLoginToTheRegistryASecretNameBuildFailsSayingWhatToDo()
    {
        await using var h = new KanikoHarness(StoreKind.S3);
        File.Delete(Path.Combine(h.Env["DOCKER_CONFIG"], "config.json"));
        await h.QueueAsync("k8s", RunConfig);
        var job = await h.SubmitCodeAsync("k8s");
        h.StartAgent("k8s", h.Builder());

        var failed = await h.FailedAtBuildAsync(job);

        Assert.StartsWith($"builder.secret-name is set, so kaniko pushes with the agent's login to {h.Registry.HostPort}, and the agent has none: log in to the registry", failed.FailureMessage);
        Assert.Empty(h.Kube.All(ApiResource.Jobs, KanikoHarness.Namespace));
        Assert.Null(h.Kube.Secret(KanikoHarness.Namespace, $"docker-config-wandb-launch-container-build-{job.RunId}"));
        await Eventually.Until(() => h.StoredObjects == 0, "the uploaded context to be deleted");
    }

    [Fact]
    public async Task ForAnAcrDestinationWithASecretNameKanikoGetsTheAgentsAcrLogin()
    {
        await using var h = new KanikoHarness(StoreKind.Azure);
        using var acr = new AcrServer("tenant-1", "client-1", "client-s3cret");
        using var router = acr.Router();
        h.AzureHandler = router;
        foreach (var (k, v) in new Dictionary<string, string>
                 {
                     ["AZURE_TENANT_ID"] = "tenant-1", ["AZURE_CLIENT_ID"] = "client-1", ["AZURE_CLIENT_SECRET"] = "client-s3cret",
                     ["AZURE_AUTHORITY_HOST"] = "https://login.stand-in.example/",
                 })
        {
            h.Env[k] = v;
        }
        await h.QueueAsync("k8s", RunConfig);
        var job = await h.SubmitCodeAsync("k8s");
        h.StartAgent("k8s", h.Builder(destination: "mlteam.azurecr.io/ml/train"));

        var buildName = $"wandb-launch-container-build-{job.RunId}";
        await h.KubeJobAsync(buildName);
        var secret = h.Kube.Secret(KanikoHarness.Namespace, $"docker-config-{buildName}") ?? throw new Xunit.Sdk.XunitException("no docker-config Secret");
        var config = JsonNode.Parse(System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(secret["data"]!["config.json"]!.GetValue<string>())))!;
        var auth = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(config["auths"]!["mlteam.azurecr.io/ml/train"]!["auth"]!.GetValue<string>())).Split(':', 2);
        Assert.Equal("00000000-0000-0000-0000-000000000000", auth[0]);
        Assert.Equal(1, acr.RefreshTokensIssued);
        Assert.DoesNotContain(auth[1], h.Log(await h.JobAsync(job.Id)));
        Assert.DoesNotContain("client-s3cret", h.Log(await h.JobAsync(job.Id)));
    }

    [Fact]
    public async Task ForAnAcrDestinationWithoutSecretsKanikoUsesItsAcrHelperWithTheWorkloadIdentity()
    {
        await using var h = new KanikoHarness(StoreKind.Azure);
        // Azure AD refuses the agent's client secret: its own exists check cannot log in, and it builds (kaniko logs in by itself).
        using var acr = new AcrServer("tenant-1", "client-1", "client-s3cret");
        using var router = acr.Router();
        h.AzureHandler = router;
        h.Env["AZURE_TENANT_ID"] = "tenant-1";
        h.Env["AZURE_CLIENT_ID"] = "client-1";
        h.Env["AZURE_CLIENT_SECRET"] = "revoked-s3cret";
        h.Env["AZURE_AUTHORITY_HOST"] = "https://login.stand-in.example/";
        await h.QueueAsync("k8s", RunConfig);
        var job = await h.SubmitCodeAsync("k8s");
        h.StartAgent("k8s", h.Builder(destination: "mlteam.azurecr.io/ml/train", secret: false));

        var buildName = $"wandb-launch-container-build-{job.RunId}";
        var build = await h.KubeJobAsync(buildName);
        var map = h.Kube.Get(ApiResource.ConfigMaps, KanikoHarness.Namespace, $"docker-config-{buildName}") ?? throw new Xunit.Sdk.XunitException("no docker-config ConfigMap");
        AssertJson("""{"credHelpers": {"mlteam.azurecr.io": "acr-env"}}""", JsonNode.Parse(map["data"]!["config.json"]!.GetValue<string>()));
        AssertJson($$$"""[{"name": "docker-config", "configMap": {"name": "docker-config-{{{buildName}}}"} }]""", PodSpec(build)["volumes"]);
        Assert.Equal("true", build["spec"]!["template"]!["metadata"]!["labels"]!["azure.workload.identity/use"]!.GetValue<string>());
        Assert.Null(build["metadata"]!["labels"]!["azure.workload.identity/use"]);

        h.Kube.CompleteJob(KanikoHarness.Namespace, buildName);
        await h.KubeJobAsync($"launch-{job.RunId}");
        Assert.Null(h.Kube.Get(ApiResource.ConfigMaps, KanikoHarness.Namespace, $"docker-config-{buildName}"));
        var log = h.Log(await h.JobAsync(job.Id));
        Assert.Contains("kaniko pushes to mlteam.azurecr.io with its acr-env credential helper and the pod's Azure workload identity", log);
        Assert.Contains("invalid_client", acr.Rejections);
        Assert.DoesNotContain("revoked-s3cret", log);
    }

    [Fact]
    public async Task OutsideAPodTheBuildRunsInNamespaceWandb()
    {
        await using var h = new KanikoHarness(StoreKind.S3);
        File.Delete(h.PodNamespaceFile);
        h.Kube.AddNamespace("wandb");
        await h.QueueAsync("k8s", RunConfig);
        var job = await h.SubmitCodeAsync("k8s");
        h.StartAgent("k8s", h.Builder(secret: false));

        var buildName = $"wandb-launch-container-build-{job.RunId}";
        var build = await Eventually.Until(() => Task.FromResult(h.Kube.Job("wandb", buildName)), "the build Job in namespace wandb");
        // Nothing mounted: kaniko pushes with the pod's workload identity.
        Assert.False(PodSpec(build).ContainsKey("volumes"));
        Assert.Empty(h.Kube.All(ApiResource.Jobs, KanikoHarness.Namespace));
    }

    [Fact]
    public async Task WithAKanikoAuthSecretThatSecretIsMountedAndTheImageIsBuiltWithoutAsking()
    {
        await using var h = new KanikoHarness(StoreKind.Gcs);
        h.Env["WANDB_LAUNCH_KANIKO_AUTH_SECRET"] = "regcred";
        await h.QueueAsync("k8s", RunConfig);
        var job = await h.SubmitCodeAsync("k8s");
        var image = h.ImageFor(job);
        // The tag exists, but W&B does not ask the registry with a user's Docker config Secret: it builds.
        h.Registry.AddTag("ml/train", image[(image.LastIndexOf(':') + 1)..]);
        h.StartAgent("k8s", h.Builder());

        var buildName = $"wandb-launch-container-build-{job.RunId}";
        var build = await h.KubeJobAsync(buildName);
        AssertJson("""[{"name": "kaniko-docker-config", "secret": {"secretName": "regcred", "items": [{"key": ".dockerconfigjson", "path": "config.json"}]}}]""", PodSpec(build)["volumes"]);
        AssertJson("""[{"name": "kaniko-docker-config", "mountPath": "/kaniko/.docker"}]""", PodSpec(build)["containers"]![0]!["volumeMounts"]);
        Assert.Empty(h.Registry.Requests);
        // Nothing else is made for the credentials (builder.secret-name is ignored).
        Assert.Null(h.Kube.Secret(KanikoHarness.Namespace, $"docker-config-{buildName}"));
        Assert.Empty(h.Kube.All(ApiResource.ConfigMaps, KanikoHarness.Namespace));
        var pod = await h.PodAsync(buildName);
        h.Kube.CompleteJob(KanikoHarness.Namespace, buildName);
        await h.KubeJobAsync($"launch-{job.RunId}");
        Assert.Contains($"skipping the check for an existing {image}", h.Log(await h.JobAsync(job.Id)));
        Assert.NotNull(pod);
    }

    [Fact]
    public async Task AnAzureEnvironmentGivesKanikoTheStorageKeySecretAndFailsClearlyWithoutIt()
    {
        await using var h = new KanikoHarness(StoreKind.Azure);
        await h.QueueAsync("k8s", RunConfig);
        var first = await h.SubmitCodeAsync("k8s");
        h.StartAgent("k8s", h.Builder(secret: false), new Config.EnvironmentSettings { Type = "azure" });

        var failed = await h.FailedAtBuildAsync(first);
        Assert.StartsWith($"Secret azure-storage-access-key does not exist in namespace {KanikoHarness.Namespace}, where the kaniko Job runs.", failed.FailureMessage);
        Assert.Empty(h.Kube.All(ApiResource.Jobs, KanikoHarness.Namespace));

        h.Kube.PutSecret(KanikoHarness.Namespace, "azure-storage-access-key", new Dictionary<string, string> { ["password"] = "c3RvcmFnZS1rZXk=" });
        var second = await h.SubmitCodeAsync("k8s");
        var build = await h.KubeJobAsync($"wandb-launch-container-build-{second.RunId}");
        AssertJson("""[{"name": "AZURE_STORAGE_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "azure-storage-access-key", "key": "password"}}}]""",
            PodSpec(build)["containers"]![0]!["env"]);
    }
}

/// <summary>A build Job or Docker config Secret of the same name already on the cluster.</summary>
public sealed class KanikoLeftoverTests
{
    private const string RunConfig = """{"spec": {"template": {"spec": {"containers": [{"name": "trainer"}]}}}}""";

    private static async Task CreateJobAsync(KanikoHarness h, string name, Dictionary<string, string> labels)
    {
        using var client = new k8s.Kubernetes(k8s.KubernetesClientConfiguration.BuildConfigFromConfigFile(h.Env["KUBECONFIG"]));
        await client.BatchV1.CreateNamespacedJobAsync(new k8s.Models.V1Job
        {
            Metadata = new k8s.Models.V1ObjectMeta { Name = name, Labels = labels },
            Spec = new k8s.Models.V1JobSpec
            {
                Template = new k8s.Models.V1PodTemplateSpec
                {
                    Spec = new k8s.Models.V1PodSpec { RestartPolicy = "Never", Containers = [new k8s.Models.V1Container { Name = "old", Image = "busybox:1.36" }] },
                },
            },
        }, KanikoHarness.Namespace);
    }

    /// <summary>Submits a code job, lets <paramref name="plant"/> put something on the cluster first, then starts the agent.</summary>
    private static async Task<LaunchJob> BuildWithLeftoverAsync(KanikoHarness h, Func<LaunchJob, Task> plant)
    {
        await h.QueueAsync("k8s", RunConfig);
        var job = await h.SubmitCodeAsync("k8s");
        await plant(job);
        h.StartAgent("k8s", h.Builder());
        return job;
    }

    private static Dictionary<string, string> RunLabels(LaunchJob job) => new() { ["wandb"] = "launch", ["wandb.ai/run-id"] = job.RunId };

    private static string BuildName(LaunchJob job) => $"wandb-launch-container-build-{job.RunId}";

    [Fact]
    public async Task ABuildJobLeftByAnEarlierAttemptOfTheRunIsReplaced()
    {
        await using var h = new KanikoHarness(StoreKind.S3);
        string? oldUid = null;
        var job = await BuildWithLeftoverAsync(h, async j =>
        {
            await CreateJobAsync(h, BuildName(j), RunLabels(j));
            oldUid = h.Kube.Job(KanikoHarness.Namespace, BuildName(j))!["metadata"]!["uid"]!.GetValue<string>();
        });
        var buildName = BuildName(job);

        var build = await Eventually.Until(() => Task.FromResult(h.Kube.Job(KanikoHarness.Namespace, buildName) is { } j && j["metadata"]!["uid"]!.GetValue<string>() != oldUid ? j : null),
            "a new build Job");
        Assert.Equal("wandb-container-build", build["spec"]!["template"]!["spec"]!["containers"]![0]!["name"]!.GetValue<string>());
        Assert.Contains(h.Kube.Deletions, d => d.Name == buildName && d.PropagationPolicy == "Foreground");
    }

    [Fact]
    public async Task AJobOfThatNameThatIsNotTheRunsBuildIsLeftAlone()
    {
        await using var h = new KanikoHarness(StoreKind.S3);
        var job = await BuildWithLeftoverAsync(h, j => CreateJobAsync(h, BuildName(j), new Dictionary<string, string> { ["team"] = "other" }));
        var buildName = BuildName(job);

        var failed = await h.FailedAtBuildAsync(job);
        Assert.Equal($"A Job named {buildName} already exists in namespace {KanikoHarness.Namespace} and is not the build of run {job.RunId}; " +
                     "delete it, or set another builder.build-job-name.", failed.FailureMessage);
        Assert.DoesNotContain(h.Kube.Deletions, d => d.Resource == "jobs.batch");
        Assert.NotNull(h.Kube.Job(KanikoHarness.Namespace, buildName));
        Assert.Null(h.Kube.Secret(KanikoHarness.Namespace, $"docker-config-{buildName}"));
        await Eventually.Until(() => h.StoredObjects == 0, "the uploaded context to be deleted");
    }

    private static async Task CreateSecretAsync(KanikoHarness h, string name, Dictionary<string, string> labels)
    {
        using var client = new k8s.Kubernetes(k8s.KubernetesClientConfiguration.BuildConfigFromConfigFile(h.Env["KUBECONFIG"]));
        await client.CoreV1.CreateNamespacedSecretAsync(new k8s.Models.V1Secret
        {
            Metadata = new k8s.Models.V1ObjectMeta { Name = name, Labels = labels },
            StringData = new Dictionary<string, string> { ["config.json"] = "{}" },
        }, KanikoHarness.Namespace);
    }

    private static string ConfigJson(JsonObject secret) =>
        System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(secret["data"]!["config.json"]!.GetValue<string>()));

    [Fact]
    public async Task ADockerConfigSecretLeftByAnEarlierAttemptOfTheRunIsReplaced()
    {
        await using var h = new KanikoHarness(StoreKind.S3);
        var job = await BuildWithLeftoverAsync(h, j => CreateSecretAsync(h, $"docker-config-{BuildName(j)}", RunLabels(j)));
        var name = $"docker-config-{BuildName(job)}";

        await h.KubeJobAsync(BuildName(job));
        var secret = h.Kube.Secret(KanikoHarness.Namespace, name) ?? throw new Xunit.Sdk.XunitException("no Secret");
        Assert.Equal(h.LoginDockerConfig, ConfigJson(secret));
        Assert.Contains(h.Kube.Deletions, d => d.Resource == "secrets" && d.Name == name);
    }

    [Fact]
    public async Task ASecretOfThatNameThatIsNotTheRunsIsLeftAlone()
    {
        await using var h = new KanikoHarness(StoreKind.S3);
        var job = await BuildWithLeftoverAsync(h, j => CreateSecretAsync(h, $"docker-config-{BuildName(j)}", new Dictionary<string, string> { ["team"] = "other" }));
        var name = $"docker-config-{BuildName(job)}";

        var failed = await h.FailedAtBuildAsync(job);
        Assert.Equal($"A Secret named {name} already exists in namespace {KanikoHarness.Namespace} and was not made by WandbLaunch for run {job.RunId}; delete or rename it.",
            failed.FailureMessage);
        Assert.Empty(h.Kube.Deletions);
        Assert.Equal("{}", ConfigJson(h.Kube.Secret(KanikoHarness.Namespace, name)!));
        Assert.Empty(h.Kube.All(ApiResource.Jobs, KanikoHarness.Namespace));
    }
}
