using System.Text.Json.Nodes;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Runners.Kubernetes;

namespace WandbLaunch.Engine.KubeTests;

/// <summary>The Kubernetes manifest as W&amp;B's wandb/sdk/launch/runner/kubernetes_runner.py makes it.</summary>
public sealed class WandbParityTests
{
    private static JobManifest.Rendered Render(string specJson, string? builtImage = null)
    {
        using var dir = new TempDirectory();
        using var log = new JobLog(dir.File("job.log"), []);
        return JobManifest.Render(Contexts.For((JsonObject)JsonNode.Parse(specJson)!, log, dir.Path, builtImage: builtImage), "agent-1", null, secureMode: false);
    }

    private static IEnumerable<string?> EnvNames(JsonNode container) =>
        (container["env"] as JsonArray ?? []).Select(e => e?["name"]?.GetValue<string>());

    /// <summary>kubernetes_runner.py (_inject_defaults): <c>if launch_project.docker_image: containers[0]["image"] = image_uri</c>.</summary>
    [Fact]
    public void ASpecsOwnImageReplacesTheQueuesImageLikeWandbKubernetesRunner()
    {
        var rendered = Render("""
            {"run_id": "par0run1", "docker": {"docker_image": "registry.example.com/ml/train:2"},
             "resource_args": {"kubernetes": {"spec": {"template": {"spec": {"containers": [
               {"name": "main", "image": "registry.example.com/ml/train:1"}, {"name": "sidecar", "image": "envoy:1"}]}}}}}}
            """);
        var containers = rendered.Workload["spec"]!["template"]!["spec"]!["containers"]!;
        Assert.Equal("registry.example.com/ml/train:2", containers[0]!["image"]!.GetValue<string>());
        Assert.Equal("envoy:1", containers[1]!["image"]!.GetValue<string>());
    }

    /// <summary>
    /// kubernetes_runner.py (_inject_defaults): a built image goes in only <c>if not any("image" in cont for cont in
    /// containers)</c>; a queue's own image on the first container is kept as in W&amp;B. Where only a sidecar has an
    /// image W&amp;B leaves the first container without one and the cluster refuses the Job; ours fills it
    /// (docs/differences-from-wandb.md).
    /// </summary>
    [Fact]
    public void ABuiltImageFillsTheFirstContainerOnlyWhenItHasNone()
    {
        var spec = """
            {"run_id": "par0run2", "uri": "https://github.com/org/repo",
             "resource_args": {"kubernetes": {"spec": {"template": {"spec": {"containers": [CONTAINERS]}}}}}}
            """;
        var queueImage = Render(spec.Replace("CONTAINERS", """{"name": "main", "image": "queue/main:1"}"""), builtImage: "registry.example.com/ml/built:7");
        Assert.Equal("queue/main:1", queueImage.Workload["spec"]!["template"]!["spec"]!["containers"]![0]!["image"]!.GetValue<string>());

        var sidecarImage = Render(spec.Replace("CONTAINERS", """{"name": "main"}, {"name": "sidecar", "image": "envoy:1"}"""), builtImage: "registry.example.com/ml/built:7");
        var containers = sidecarImage.Workload["spec"]!["template"]!["spec"]!["containers"]!;
        Assert.Equal("registry.example.com/ml/built:7", containers[0]!["image"]!.GetValue<string>());
        Assert.Equal("envoy:1", containers[1]!["image"]!.GetValue<string>());
    }

    /// <summary>
    /// kubernetes_runner.py (add_wandb_env): in a custom resource WANDB_RUN_ID goes to the first container only, so
    /// that a PyTorchJob's workers do not write to the master's run; every container gets the rest of the environment.
    /// </summary>
    [Fact]
    public void ACustomResourceGivesTheRunIdToItsFirstContainerOnlyLikeWandbAddWandbEnv()
    {
        var rendered = Render("""
            {"run_id": "par0run3", "docker": {"docker_image": "img:1"},
             "resource_args": {"kubernetes": {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {"pytorchReplicaSpecs": {
               "Master": {"template": {"spec": {"containers": [{"name": "pytorch"}, {"name": "logger", "image": "fluentbit:1"}]}}},
               "Worker": {"template": {"spec": {"containers": [{"name": "pytorch"}]}}}}}}}}
            """);
        var replicas = rendered.Workload["spec"]!["pytorchReplicaSpecs"]!;
        var master = replicas["Master"]!["template"]!["spec"]!["containers"]!;
        var worker = replicas["Worker"]!["template"]!["spec"]!["containers"]![0]!;
        Assert.Contains("WANDB_RUN_ID", EnvNames(master[0]!));
        Assert.DoesNotContain("WANDB_RUN_ID", EnvNames(master[1]!));
        Assert.DoesNotContain("WANDB_RUN_ID", EnvNames(worker));
        foreach (var container in new[] { master[0]!, master[1]!, worker })
        {
            Assert.Contains("WANDB_ENTITY", EnvNames(container));
            Assert.Contains("WANDB_API_KEY", EnvNames(container));
        }
    }

    /// <summary>kubernetes_runner.py (_inject_defaults): a batch/v1 Job's containers all get the whole environment, WANDB_RUN_ID included.</summary>
    [Fact]
    public void EveryContainerOfAJobGetsTheRunId()
    {
        var rendered = Render("""
            {"run_id": "par0run4", "docker": {"docker_image": "img:1"},
             "resource_args": {"kubernetes": {"spec": {"template": {"spec": {"containers": [{"name": "main"}, {"name": "sidecar", "image": "envoy:1"}]}}}}}}
            """);
        foreach (var container in rendered.Workload["spec"]!["template"]!["spec"]!["containers"]!.AsArray())
        {
            Assert.Contains("WANDB_RUN_ID", EnvNames(container!));
        }
    }

    /// <summary>kubernetes_runner.py (run): a custom resource's images are the manifest's own (W&amp;B sets none there), even for a spec with its own image.</summary>
    [Fact]
    public void ACustomResourceKeepsItsImagesLikeWandbKubernetesRunner()
    {
        var rendered = Render("""
            {"run_id": "par0run5", "docker": {"docker_image": "registry.example.com/ml/train:2"},
             "resource_args": {"kubernetes": {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {"pytorchReplicaSpecs": {
               "Master": {"template": {"spec": {"containers": [{"name": "pytorch", "image": "queue/master:1"}]}}}}}}}}
            """);
        Assert.Equal("queue/master:1", rendered.Workload["spec"]!["pytorchReplicaSpecs"]!["Master"]!["template"]!["spec"]!["containers"]![0]!["image"]!.GetValue<string>());
    }

    /// <summary>
    /// W&amp;B names a Job <c>generateName: launch-&lt;entity&gt;-&lt;project&gt;-</c> made DNS-safe (kubernetes_runner.py,
    /// _inject_defaults and make_name_dns_safe: lower case, _ to -, digits dropped). Ours names it launch-&lt;run id&gt;
    /// unless the queue gives a generateName, which is the switch to W&amp;B's names: the agent follows the Job the
    /// cluster named, through its handle.
    /// </summary>
    [Fact]
    public async Task AGenerateNameInTheQueueNamesTheJobAsWandbDoesAndTheAgentFollowsIt()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", """{"metadata": {"generateName": "launch-${entity_name}-${project_name}-"}, "spec": {"template": {"spec": {"containers": [{"name": "trainer"}]}}}}""");
        var submitted = await h.SubmitAsync("k8s", extraSpecJson: """{"project": "My_Proj2"}""");
        h.StartAgent("k8s");

        var kubeJob = await h.KubeJobAsync(submitted.RunId);
        var name = kubeJob["metadata"]!["name"]!.GetValue<string>();
        Assert.Matches("^launch-ml-team-my-proj-[a-z0-9]{5}$", name);
        var pod = await h.PodAsync(name);
        h.Server.SetPodPhase(AgentHarness.Namespace, pod, "Running");
        var running = await h.StateAsync(submitted.Id, LaunchJobState.Running);
        Assert.Equal($"{AgentHarness.Namespace}/{name}/batch/v1/Job", running.Handle);
        h.Server.CompleteJob(AgentHarness.Namespace, name);
        Assert.Equal(LaunchJobState.Finished, (await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed)).State);
    }

    [Fact]
    public void WithoutANameTheJobIsNamedAfterItsRunAndAManifestNameWins()
    {
        Assert.Equal("launch-par0run6", Render("""{"run_id": "par0run6", "docker": {"docker_image": "img:1"}}""").Name);
        var named = Render("""{"run_id": "par0run7", "docker": {"docker_image": "img:1"}, "resource_args": {"kubernetes": {"metadata": {"name": "mine", "generateName": "x-"}}}}""");
        Assert.Equal("mine", named.Name);
        Assert.Null(named.GenerateName);
    }
}
