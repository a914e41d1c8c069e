using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Registries;
using WandbLaunch.Engine.Identifiers;

namespace WandbLaunch.Engine.Runners.Kubernetes;

/// <summary>
/// The image pull secret W&amp;B's Kubernetes runner makes for a run when the launch config has the deprecated
/// <c>registry</c> block of type <c>ecr</c> or <c>gcr</c> (and only then: <c>builder.destination</c> never makes one):
/// a Secret <c>regcred-&lt;run id&gt;</c> of type <c>kubernetes.io/dockerconfigjson</c> in the job's namespace, with
/// the registry's login keyed by the block's <c>uri</c>, named in <c>imagePullSecrets</c> of the job's pod specs. An
/// existing Secret of that name is used as it is; like W&amp;B's, it is never deleted (pods of the run pull with it
/// for as long as they are restarted).
/// </summary>
public static class ImagePullSecret
{
    /// <summary>W&amp;B puts this in each entry; Docker no longer reads it.</summary>
    public const string Email = "deprecated@wandblaunch.com";

    /// <summary>The Secret's name for the run when the registry block asks for one, else null.</summary>
    public static string? NameFor(RegistrySettings registry, string runId) =>
        registry.Type is "ecr" or "gcr" && registry.Uri is { Length: > 0 } ? $"regcred-{RunNames.Of(runId)}" : null;

    /// <summary>The registry host of the block's uri (an optional https:// removed).</summary>
    public static string Host(RegistrySettings registry)
    {
        var uri = registry.Uri!.Trim();
        if (uri.StartsWith("https://", StringComparison.OrdinalIgnoreCase)) uri = uri["https://".Length..];
        return uri.Split('/')[0];
    }

    /// <summary>The Secret, with <paramref name="login"/> as the one entry of its Docker config.</summary>
    public static JsonObject Body(string name, string @namespace, string runId, string registryUri, RegistryCredential login) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "Secret",
        ["metadata"] = new JsonObject
        {
            ["name"] = name,
            ["namespace"] = @namespace,
            ["labels"] = new JsonObject { [JobManifest.RunIdLabel] = RunNames.Of(runId) },
        },
        ["type"] = "kubernetes.io/dockerconfigjson",
        ["stringData"] = new JsonObject
        {
            [".dockerconfigjson"] = new JsonObject
            {
                ["auths"] = new JsonObject
                {
                    [registryUri] = new JsonObject
                    {
                        ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{login.Username}:{login.Password}")),
                        ["email"] = Email,
                    },
                },
            }.ToJsonString(),
        },
    };

    /// <summary>Names the Secret in <c>imagePullSecrets</c> of every pod spec (after the ones the config gives).</summary>
    internal static void Reference(JsonObject manifest, string name)
    {
        foreach (var pod in ManifestPolicy.PodSpecs(manifest))
        {
            var list = pod.Spec["imagePullSecrets"] as JsonArray ?? new JsonArray();
            if (!list.OfType<JsonObject>().Any(s => s["name"]?.GetValue<string>() == name)) list.Add(new JsonObject { ["name"] = name });
            pod.Spec["imagePullSecrets"] = list;
        }
    }

    /// <summary>Creates the Secret unless it exists. The login is never logged.</summary>
    internal static async Task EnsureAsync(KubeAccess access, RegistrySettings registry, string @namespace, string runId, Func<string, RegistryCredential?> credentials,
        JobLog log, CancellationToken cancellationToken)
    {
        var name = NameFor(registry, runId)!;
        var host = Host(registry);
        var login = credentials(host) ?? throw new JobFailedException(FailureStage.Run,
            $"The launch config's registry block (type {registry.Type}, uri {registry.Uri}) makes the agent give the job's pods an image pull secret with its login to {host}, " +
            $"and the agent has no login for {host}: {(registry.Type == "ecr" ? "give it AWS credentials (the default chain)" : "give it Google Application Default Credentials")}, " +
            "or remove the deprecated registry block (builder.destination does not make pull secrets).");
        var body = Body(name, @namespace, runId, registry.Uri!.Trim(), login);
        try
        {
            await access.CallAsync("create", "secrets", @namespace,
                c => c.CoreV1.CreateNamespacedSecretAsync(KubeWorkload.ToTyped<k8s.Models.V1Secret>(body), @namespace, cancellationToken: cancellationToken)).ConfigureAwait(false);
            log.Agent($"created image pull Secret {@namespace}/{name} with the agent's login to {host}");
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            log.Agent($"image pull Secret {@namespace}/{name} exists; the job's pods use it");
        }
        catch (HttpOperationException e)
        {
            throw KubeAccess.RefusedToCreate(e, $"Secret {@namespace}/{name}", FailureStage.Run);
        }
    }
}
