using System.Text;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Registries;
using WandbLaunch.Engine.Runners.Kubernetes;
using WandbLaunch.Engine.Identifiers;

namespace WandbLaunch.Engine.Builders.Kaniko;

/// <summary>How kaniko gets to push to the destination registry, chosen as W&amp;B's kaniko builder chooses.</summary>
public enum KanikoAuthMode
{
    /// <summary>Nothing is mounted: kaniko uses the pod's workload identity (or the node's).</summary>
    WorkloadIdentity,

    /// <summary><c>WANDB_LAUNCH_KANIKO_AUTH_SECRET</c>: that dockerconfigjson Secret at /kaniko/.docker, nothing else.</summary>
    AuthSecret,

    /// <summary><c>builder.secret-name</c>/<c>secret-key</c>: the registry login as kaniko's Docker config, and the Secret's key as cloud credentials.</summary>
    RegistryLogin,

    /// <summary>An Azure Container Registry: kaniko's <c>acr-env</c> credential helper, with the pod's Azure workload identity.</summary>
    AcrHelper,
}

/// <summary>
/// What the kaniko Job gets for registry and cloud credentials (<see cref="For"/>), and the objects and pod fields
/// that carry them (<see cref="Apply"/>).
/// </summary>
public sealed record KanikoAuth(KanikoAuthMode Mode, string RegistryKind, string RegistryHost)
{
    public const string AuthSecretVariable = "WANDB_LAUNCH_KANIKO_AUTH_SECRET";
    public const string AuthSecretVolume = "kaniko-docker-config";
    public const string AzureStorageSecret = "azure-storage-access-key";
    public const string AzureStorageKeyVariable = "AZURE_STORAGE_ACCESS_KEY";
    public const string WorkloadIdentityLabel = "azure.workload.identity/use";
    public const string GoogleCredentialsPath = "/kaniko/.config/gcloud/config.json";

    /// <summary>The dockerconfigjson Secret of <c>WANDB_LAUNCH_KANIKO_AUTH_SECRET</c>, when that mode is chosen.</summary>
    public string? AuthSecret { get; init; }

    /// <summary><c>builder.secret-name</c> and <c>secret-key</c>, in <see cref="KanikoAuthMode.RegistryLogin"/>.</summary>
    public string? SecretName { get; init; }

    public string? SecretKey { get; init; }

    /// <summary>Whether the Job gets <c>AZURE_STORAGE_ACCESS_KEY</c> from Secret <c>azure-storage-access-key</c> (<c>environment.type: azure</c>).</summary>
    public bool AzureStorageKey { get; init; }

    /// <summary>Whether the builder asks the registry whether the image exists (not with a user's Docker config Secret, as W&amp;B).</summary>
    public bool ChecksExistingImage => Mode != KanikoAuthMode.AuthSecret;

    /// <summary>Where the Secret's key is mounted as cloud credentials, or null for a registry W&amp;B has no place for.</summary>
    public (string MountPath, string File)? CloudCredentialsMount => Mode != KanikoAuthMode.RegistryLogin ? null : RegistryKind switch
    {
        "ecr" => ("/root/.aws", "credentials"),
        "gcr" => ("/kaniko/.config/gcloud", "config.json"),
        _ => null,
    };

    /// <summary>The ECR registry's region (kaniko's AWS_REGION), from <c>&lt;account&gt;.dkr.ecr.&lt;region&gt;.amazonaws.com</c>.</summary>
    public string? EcrRegion => RegistryKind == "ecr" ? RegistryHost.Split('.')[3] : null;

    /// <param name="settings">The builder block (destination, secret-name, secret-key).</param>
    /// <param name="cloud">The environment block (azure adds the storage key).</param>
    /// <param name="environment">The agent's environment (WANDB_LAUNCH_KANIKO_AUTH_SECRET).</param>
    public static KanikoAuth For(BuilderSettings settings, EnvironmentSettings cloud, Func<string, string?> environment)
    {
        if ((settings.SecretName is { Length: > 0 }) != (settings.SecretKey is { Length: > 0 }))
        {
            // W&B's words.
            throw new JobFailedException(FailureStage.Build,
                "Both secret_name and secret_key or neither must be specified for kaniko build. You provided only one of them " +
                $"(builder.{(settings.SecretName is { Length: > 0 } ? "secret-name" : "secret-key")}).");
        }
        var destination = settings.Destination ?? "";
        var host = destination.Split('/')[0];
        var kind = ImageDestination.KindOf(destination);
        var azure = string.Equals(cloud.Type, "azure", StringComparison.Ordinal);
        if (environment(AuthSecretVariable) is { Length: > 0 } authSecret)
        {
            return new KanikoAuth(KanikoAuthMode.AuthSecret, kind, host) { AuthSecret = authSecret.Trim(), AzureStorageKey = azure };
        }
        if (settings.SecretName is { Length: > 0 } name)
        {
            return new KanikoAuth(KanikoAuthMode.RegistryLogin, kind, host) { SecretName = name, SecretKey = settings.SecretKey, AzureStorageKey = azure };
        }
        return new KanikoAuth(kind == "acr" ? KanikoAuthMode.AcrHelper : KanikoAuthMode.WorkloadIdentity, kind, host) { AzureStorageKey = azure };
    }

    /// <summary>The name of the object (Secret or ConfigMap) that holds kaniko's Docker config for the Job <paramref name="jobName"/>.</summary>
    public static string DockerConfigName(string jobName) => $"{KanikoJob.DockerConfigVolume}-{jobName}";

    /// <summary>
    /// The Secret <c>docker-config-&lt;job&gt;</c> (W&amp;B: an immutable ConfigMap) with kaniko's Docker config made
    /// from the registry login: <c>{"auths": {"&lt;repository&gt;": {"auth": base64(user:password)}}}</c>.
    /// </summary>
    public static JsonObject LoginSecret(string jobName, string @namespace, string runId, string repository, RegistryCredential login) =>
        LoginSecret(jobName, @namespace, runId, new JsonObject
        {
            ["auths"] = new JsonObject
            {
                [repository] = new JsonObject { ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{login.Username}:{login.Password}")) },
            },
        }.ToJsonString());

    internal static JsonObject LoginSecret(string jobName, string @namespace, string runId, string dockerConfig) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "Secret",
        ["metadata"] = Metadata(jobName, @namespace, runId),
        ["type"] = "Opaque",
        ["immutable"] = true,
        ["stringData"] = new JsonObject { ["config.json"] = dockerConfig },
    };

    /// <summary>The ConfigMap <c>docker-config-&lt;job&gt;</c> that points kaniko at its <c>acr-env</c> credential helper for the registry.</summary>
    public JsonObject AcrConfigMap(string jobName, string @namespace, string runId) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "ConfigMap",
        ["metadata"] = Metadata(jobName, @namespace, runId),
        ["data"] = new JsonObject
        {
            ["config.json"] = new JsonObject { ["credHelpers"] = new JsonObject { [RegistryHost] = "acr-env" } }.ToJsonString(),
        },
    };

    private static JsonObject Metadata(string jobName, string @namespace, string runId) => new()
    {
        ["name"] = DockerConfigName(jobName),
        ["namespace"] = @namespace,
        ["labels"] = new JsonObject { [KanikoJob.LaunchLabel] = "launch", [JobManifest.RunIdLabel] = RunNames.Of(runId) },
    };

    /// <summary>Adds the volumes, mounts, variables and labels of this mode to the builder's Job (before kaniko-config is merged in).</summary>
    internal void Apply(JsonObject podSpec, JsonObject container, JsonObject podLabels, string jobName)
    {
        var volumes = new JsonArray();
        var mounts = new JsonArray();
        var env = new JsonArray();
        if (EcrRegion is { } region) env.Add(new JsonObject { ["name"] = "AWS_REGION", ["value"] = region });
        if (AzureStorageKey)
        {
            env.Add(new JsonObject
            {
                ["name"] = AzureStorageKeyVariable,
                ["valueFrom"] = new JsonObject { ["secretKeyRef"] = new JsonObject { ["name"] = AzureStorageSecret, ["key"] = "password" } },
            });
        }
        switch (Mode)
        {
            case KanikoAuthMode.AuthSecret:
                volumes.Add(new JsonObject
                {
                    ["name"] = AuthSecretVolume,
                    ["secret"] = new JsonObject
                    {
                        ["secretName"] = AuthSecret,
                        ["items"] = new JsonArray(new JsonObject { ["key"] = ".dockerconfigjson", ["path"] = "config.json" }),
                    },
                });
                mounts.Add(new JsonObject { ["name"] = AuthSecretVolume, ["mountPath"] = KanikoJob.DockerConfigPath });
                break;
            case KanikoAuthMode.RegistryLogin:
                volumes.Add(new JsonObject { ["name"] = KanikoJob.DockerConfigVolume, ["secret"] = new JsonObject { ["secretName"] = DockerConfigName(jobName) } });
                mounts.Add(new JsonObject { ["name"] = KanikoJob.DockerConfigVolume, ["mountPath"] = KanikoJob.DockerConfigPath, ["readOnly"] = true });
                if (CloudCredentialsMount is var (path, file))
                {
                    volumes.Add(new JsonObject
                    {
                        ["name"] = SecretName,
                        ["secret"] = new JsonObject
                        {
                            ["secretName"] = SecretName,
                            ["items"] = new JsonArray(new JsonObject { ["key"] = SecretKey, ["path"] = file }),
                        },
                    });
                    mounts.Add(new JsonObject { ["name"] = SecretName, ["mountPath"] = path, ["readOnly"] = true });
                    if (RegistryKind == "gcr") env.Add(new JsonObject { ["name"] = "GOOGLE_APPLICATION_CREDENTIALS", ["value"] = GoogleCredentialsPath });
                }
                break;
            case KanikoAuthMode.AcrHelper:
                volumes.Add(new JsonObject { ["name"] = KanikoJob.DockerConfigVolume, ["configMap"] = new JsonObject { ["name"] = DockerConfigName(jobName) } });
                mounts.Add(new JsonObject { ["name"] = KanikoJob.DockerConfigVolume, ["mountPath"] = KanikoJob.DockerConfigPath + "/" });
                podLabels[WorkloadIdentityLabel] = "true";
                break;
        }
        if (volumes.Count > 0) podSpec["volumes"] = volumes;
        if (mounts.Count > 0) container["volumeMounts"] = mounts;
        if (env.Count > 0) container["env"] = env;
    }

    /// <summary>A line for the job's log saying how kaniko authenticates; never a credential.</summary>
    public string Describe(string @namespace, string jobName) => Mode switch
    {
        KanikoAuthMode.AuthSecret => $"kaniko pushes with the Docker config in Secret {@namespace}/{AuthSecret} ({AuthSecretVariable})",
        KanikoAuthMode.RegistryLogin => $"kaniko pushes with the agent's login to {RegistryHost} (Secret {@namespace}/{DockerConfigName(jobName)})" +
                                        (CloudCredentialsMount is var (path, file) ? $"; key {SecretKey} of Secret {SecretName} is mounted at {path}/{file}" : ""),
        KanikoAuthMode.AcrHelper => $"kaniko pushes to {RegistryHost} with its acr-env credential helper and the pod's Azure workload identity",
        _ => "kaniko pushes with the pod's own identity (no registry credentials are mounted)",
    };
}
