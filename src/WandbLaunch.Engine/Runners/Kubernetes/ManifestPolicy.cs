using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Runners.Kubernetes;

/// <summary>
/// What a queue config or launch spec may not put in a Kubernetes manifest: fields that would let a job escape
/// its pod (security context overrides, host namespaces and paths, service accounts, host ports) and, with
/// <c>secure_mode</c>, init containers, container commands and entry point overrides. Each refusal names the
/// field's path.
/// </summary>
public static class ManifestPolicy
{
    public static void Check(JsonObject manifest, bool secureMode, bool entryPointOverride)
    {
        if (secureMode && entryPointOverride)
        {
            throw Refused("overrides.entry_point", "secure_mode forbids overriding the entry point of Kubernetes jobs");
        }
        foreach (var pod in PodSpecs(manifest)) CheckPodSpec(pod.Spec, pod.Path, secureMode);
    }

    private static void CheckPodSpec(JsonObject podSpec, string specPath, bool secureMode)
    {
        foreach (var key in new[] { "hostPID", "hostIPC", "hostNetwork" })
        {
            if (podSpec[key] is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.True) throw Refused($"{specPath}.{key}", "host namespaces are not allowed");
        }
        if (podSpec.ContainsKey("serviceAccountName")) throw Refused($"{specPath}.serviceAccountName", "jobs cannot choose their service account");
        if (podSpec.ContainsKey("serviceAccount")) throw Refused($"{specPath}.serviceAccount", "jobs cannot choose their service account");
        if (podSpec.ContainsKey("automountServiceAccountToken")) throw Refused($"{specPath}.automountServiceAccountToken", "jobs cannot mount service account tokens");
        if (podSpec["securityContext"] is JsonObject podSecurity) CheckSecurityContext(podSecurity, $"{specPath}.securityContext", pod: true);
        if (podSpec["volumes"] is JsonArray volumes)
        {
            for (var i = 0; i < volumes.Count; i++)
            {
                if (volumes[i] is JsonObject volume && volume.ContainsKey("hostPath")) throw Refused($"{specPath}.volumes[{i}].hostPath", "host paths cannot be mounted");
            }
        }
        if (podSpec["initContainers"] is JsonArray inits && inits.Count > 0)
        {
            if (secureMode) throw Refused($"{specPath}.initContainers", "secure_mode forbids init containers");
            CheckContainers(inits, $"{specPath}.initContainers", secureMode);
        }
        if (podSpec["containers"] is JsonArray containers) CheckContainers(containers, $"{specPath}.containers", secureMode);
    }

    private static void CheckContainers(JsonArray containers, string path, bool secureMode)
    {
        for (var i = 0; i < containers.Count; i++)
        {
            if (containers[i] is not JsonObject container) continue;
            var at = $"{path}[{i}]";
            if (secureMode && container.ContainsKey("command")) throw Refused($"{at}.command", "secure_mode forbids setting a container's command");
            if (container["securityContext"] is JsonObject security) CheckSecurityContext(security, $"{at}.securityContext", pod: false);
            if (container["ports"] is JsonArray ports)
            {
                for (var p = 0; p < ports.Count; p++)
                {
                    if (ports[p] is JsonObject port && port.ContainsKey("hostPort")) throw Refused($"{at}.ports[{p}].hostPort", "host ports are not allowed");
                }
            }
        }
    }

    private static void CheckSecurityContext(JsonObject security, string path, bool pod)
    {
        if (IsTrue(security["privileged"])) throw Refused($"{path}.privileged", "privileged containers are not allowed");
        if (IsTrue(security["allowPrivilegeEscalation"])) throw Refused($"{path}.allowPrivilegeEscalation", "the agent forces allowPrivilegeEscalation: false");
        if (security["capabilities"] is JsonObject caps && caps["add"] is JsonArray { Count: > 0 }) throw Refused($"{path}.capabilities.add", "the agent drops ALL capabilities");
        if (security["seccompProfile"] is JsonObject seccomp && JsonTree.TryGetString(seccomp["type"], out var type) && type != "RuntimeDefault" && type != "Localhost")
        {
            throw Refused($"{path}.seccompProfile.type", "the agent forces seccomp profile RuntimeDefault");
        }
        if (pod && JsonTree.TryGetNumber(security["runAsUser"], out var uid) && uid == 0) throw Refused($"{path}.runAsUser", "jobs cannot run as root");
    }

    private static bool IsTrue(JsonNode? node) => node is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.True;

    /// <summary>A pod spec inside a manifest: the spec, its path, and the pod template holding it (null for a bare spec).</summary>
    public sealed record PodSpecAt(JsonObject Spec, string Path, JsonObject? Template);

    /// <summary>
    /// Every pod spec of a manifest: a Job's <c>spec.template.spec</c>, or, in a custom resource, every mapping with a
    /// <c>containers</c> list (a PyTorchJob's Master and Worker templates, each task of a Volcano job), so that
    /// the policy, the labels and the environment reach all of them.
    /// </summary>
    public static IReadOnlyList<PodSpecAt> PodSpecs(JsonObject manifest)
    {
        var found = new List<PodSpecAt>();
        if (IsBatchJob(manifest))
        {
            if ((manifest["spec"] as JsonObject)?["template"] is JsonObject template && template["spec"] is JsonObject spec)
            {
                found.Add(new PodSpecAt(spec, "spec.template.spec", template));
            }
            return found;
        }
        Find(manifest, null, "", found);
        return found;
    }

    private static bool IsBatchJob(JsonObject manifest) =>
        (!manifest.ContainsKey("apiVersion") || (JsonTree.TryGetString(manifest["apiVersion"], out var v) && v == "batch/v1")) &&
        (!manifest.ContainsKey("kind") || (JsonTree.TryGetString(manifest["kind"], out var k) && k == "Job"));

    private static void Find(JsonNode? node, JsonObject? parent, string at, List<PodSpecAt> found)
    {
        switch (node)
        {
            case JsonObject obj:
                if (obj["containers"] is JsonArray && at.Length > 0)
                {
                    var template = at.EndsWith(".spec", StringComparison.Ordinal) || at == "spec" ? parent : null;
                    found.Add(new PodSpecAt(obj, at, template));
                    return;
                }
                foreach (var (key, value) in obj) Find(value, obj, DocumentPath.Key(at, key), found);
                break;
            case JsonArray arr:
                for (var i = 0; i < arr.Count; i++) Find(arr[i], null, DocumentPath.Index(at, i), found);
                break;
        }
    }

    private static LaunchException Refused(string path, string why) =>
        LaunchException.Invalid("ForbiddenManifestField", $"The Kubernetes manifest sets {path}, which is refused: {why}.", path);
}
