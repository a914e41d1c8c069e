using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Runners.Kubernetes;

/// <summary>
/// What a queue config or launch spec may not put in a Kubernetes manifest: W&amp;B's refuse-list (host paths,
/// namespaces and ports, service accounts and their tokens, bidirectional mounts, unconfined profiles) anywhere in
/// the manifest; unsafe security context values (W&amp;B refuses any securityContext, ours allows safe ones, see
/// docs/differences-from-wandb.md); and, with <c>secure_mode</c>, host namespace keys, init containers, container
/// commands and entry point overrides. Each refusal names the field's path.
/// </summary>
public static class ManifestPolicy
{
    /// <param name="manifest">The manifest.</param>
    /// <param name="secureMode">The agent's secure_mode.</param>
    /// <param name="entryPointOverride">The spec overrides the entry point.</param>
    /// <param name="root">Where the manifest is in the spec (an additional service's <c>additional_services[0].config</c>), for the refusal's path.</param>
    public static void Check(JsonObject manifest, bool secureMode, bool entryPointOverride, string root = "")
    {
        if (secureMode && entryPointOverride)
        {
            throw Refused("overrides.entry_point", "secure_mode forbids overriding the entry point of Kubernetes jobs");
        }
        CheckAnywhere(manifest, root);
        foreach (var pod in PodSpecs(manifest)) CheckPodSpec(pod.Spec, root.Length == 0 ? pod.Path : $"{root}.{pod.Path}", secureMode);
    }

    private static readonly string[] HostNamespaceKeys = ["hostPID", "hostIPC", "hostNetwork", "shareProcessNamespace", "hostUsers"];

    /// <summary>
    /// W&amp;B's refuse-list (utils.py, validate_kubernetes_resource_args), applied like W&amp;B's at any depth of the
    /// manifest: <c>hostPath</c> and projected <c>serviceAccountToken</c> when present; host namespaces,
    /// <c>automountServiceAccountToken</c> and <c>hostPort</c> when truthy (<c>false</c>, <c>0</c> are allowed);
    /// a service account when non-empty; <c>mountPropagation: Bidirectional</c>; apparmor/seccomp annotations
    /// valued unconfined.
    /// </summary>
    private static void CheckAnywhere(JsonNode? node, string at)
    {
        switch (node)
        {
            case JsonObject obj:
                if (obj.ContainsKey("hostPath")) throw Refused(DocumentPath.Key(at, "hostPath"), "host paths cannot be mounted");
                if (obj.ContainsKey("serviceAccountToken")) throw Refused(DocumentPath.Key(at, "serviceAccountToken"), "projected service account tokens are not allowed");
                foreach (var key in HostNamespaceKeys)
                {
                    if (IsTruthy(obj[key])) throw Refused(DocumentPath.Key(at, key), "host namespaces are not allowed");
                }
                foreach (var key in new[] { "serviceAccountName", "serviceAccount" })
                {
                    if (IsPresent(obj[key])) throw Refused(DocumentPath.Key(at, key), "jobs cannot choose their service account");
                }
                if (IsTruthy(obj["automountServiceAccountToken"])) throw Refused(DocumentPath.Key(at, "automountServiceAccountToken"), "jobs cannot mount service account tokens");
                if (IsTruthy(obj["hostPort"])) throw Refused(DocumentPath.Key(at, "hostPort"), "host ports are not allowed");
                if (JsonTree.TryGetString(obj["mountPropagation"], out var propagation) && propagation.Trim() == "Bidirectional")
                {
                    throw Refused(DocumentPath.Key(at, "mountPropagation"), "bidirectional mount propagation is not allowed");
                }
                if (obj["annotations"] is JsonObject annotations)
                {
                    foreach (var (key, value) in annotations)
                    {
                        var lowerKey = key.ToLowerInvariant();
                        if ((lowerKey.Contains("apparmor") || lowerKey.Contains("seccomp")) && ScalarText(value).ToLowerInvariant().Contains("unconfined"))
                        {
                            throw Refused(DocumentPath.Key(DocumentPath.Key(at, "annotations"), key), "unconfined apparmor/seccomp profiles are not allowed");
                        }
                    }
                }
                foreach (var (key, value) in obj) CheckAnywhere(value, DocumentPath.Key(at, key));
                break;
            case JsonArray arr:
                for (var i = 0; i < arr.Count; i++) CheckAnywhere(arr[i], DocumentPath.Index(at, i));
                break;
        }
    }

    private static void CheckPodSpec(JsonObject podSpec, string specPath, bool secureMode)
    {
        if (secureMode)
        {
            // W&B's secure mode (agent.py, _assert_secure) locks these keys: any value is refused, even false or [].
            foreach (var key in new[] { "hostPID", "hostIPC", "hostNetwork", "initContainers" })
            {
                if (podSpec.ContainsKey(key)) throw Refused($"{specPath}.{key}", $"secure_mode forbids setting {key}");
            }
        }
        if (podSpec["securityContext"] is JsonObject podSecurity) CheckSecurityContext(podSecurity, $"{specPath}.securityContext", pod: true);
        foreach (var list in new[] { "initContainers", "ephemeralContainers", "containers" })
        {
            if (podSpec[list] is JsonArray containers) CheckContainers(containers, $"{specPath}.{list}", secureMode);
        }
    }

    private static void CheckContainers(JsonArray containers, string path, bool secureMode)
    {
        for (var i = 0; i < containers.Count; i++)
        {
            if (containers[i] is not JsonObject container) continue;
            var at = $"{path}[{i}]";
            if (secureMode && container.ContainsKey("command")) throw Refused($"{at}.command", "secure_mode forbids setting a container's command");
            if (container["securityContext"] is JsonObject security) CheckSecurityContext(security, $"{at}.securityContext", pod: false);
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
        if (security["appArmorProfile"] is JsonObject appArmor && JsonTree.TryGetString(appArmor["type"], out var appArmorType) && appArmorType == "Unconfined")
        {
            throw Refused($"{path}.appArmorProfile.type", "unconfined apparmor profiles are not allowed");
        }
        if (JsonTree.TryGetString(security["procMount"], out var procMount) && procMount == "Unmasked") throw Refused($"{path}.procMount", "unmasked /proc mounts are not allowed");
        if (security["windowsOptions"] is JsonObject windows && IsTruthy(windows["hostProcess"])) throw Refused($"{path}.windowsOptions.hostProcess", "host processes are not allowed");
        if (pod && JsonTree.TryGetNumber(security["runAsUser"], out var uid) && uid == 0) throw Refused($"{path}.runAsUser", "jobs cannot run as root");
    }

    private static bool IsTrue(JsonNode? node) => node is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.True;

    /// <summary>W&amp;B's truthiness (utils.py, _is_truthy_resource_value): true, a non-zero number, or "1"/"true"/"yes".</summary>
    private static bool IsTruthy(JsonNode? node) => node is JsonValue v && v.GetValueKind() switch
    {
        System.Text.Json.JsonValueKind.True => true,
        System.Text.Json.JsonValueKind.Number => v.GetValue<double>() != 0,
        System.Text.Json.JsonValueKind.String => v.GetValue<string>().Trim().ToLowerInvariant() is "1" or "true" or "yes",
        _ => false,
    };

    /// <summary>W&amp;B's presence (utils.py, _is_present_resource_value): anything but null, a blank string, or a list of such.</summary>
    private static bool IsPresent(JsonNode? node) => node switch
    {
        null => false,
        JsonArray list => list.Any(IsPresent),
        JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String => v.GetValue<string>().Trim().Length > 0,
        JsonValue v => v.GetValueKind() != System.Text.Json.JsonValueKind.Null,
        _ => true,
    };

    private static string ScalarText(JsonNode? node) => node is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.String ? v.GetValue<string>() : node?.ToJsonString() ?? "";

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
