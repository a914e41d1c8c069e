using System.Text;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Registries;
using WandbLaunch.Engine.Runners.Kubernetes;
using WandbLaunch.Tests.KubeApi;

namespace WandbLaunch.Engine.KubeTests;

/// <summary>The image pull secret W&amp;B's Kubernetes runner makes for a deprecated registry block of type ecr or gcr.</summary>
public sealed class ImagePullSecretTests
{
    private const string EcrUri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml-train";
    private const string EcrHost = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
    private const string Token = "ecr-authorization-t0ken";

    private static JsonObject Spec(string runId) => (JsonObject)JsonNode.Parse("""
        {"run_id": "RUN", "docker": {"docker_image": "IMAGE:1"}, "resource_args": {"kubernetes": {"namespace": "ml"}}}
        """.Replace("RUN", runId).Replace("IMAGE", EcrUri))!;

    private static async Task<(KubeApiServer Server, string Log)> StartAsync(TempDirectory dir, RegistrySettings registry, Func<string, RegistryCredential?> credentials, string runId,
        Action<KubeApiServer>? before = null)
    {
        var server = new KubeApiServer();
        server.AddNamespace("ml");
        before?.Invoke(server);
        var kubeconfig = server.WriteKubeconfig(dir.File("kubeconfig"));
        using var log = new JobLog(dir.File("job.log"), []);
        var runner = new KubernetesRunner(n => n == "KUBECONFIG" ? kubeconfig : null, credentials);
        await runner.StartAsync(Contexts.For(Spec(runId), log, dir.Path, registry: registry), CancellationToken.None);
        log.Flush();
        return (server, File.ReadAllText(dir.File("job.log")));
    }

    [Fact]
    public async Task AnEcrRegistryBlockMakesRegcredWithTheRegistryLoginAndThePodsUseIt()
    {
        using var dir = new TempDirectory();
        var asked = new List<string>();
        var (server, log) = await StartAsync(dir, new RegistrySettings { Type = "ecr", Uri = EcrUri },
            host => { asked.Add(host); return new RegistryCredential("AWS", Token); }, "pull0run1");
        using (server)
        {
            Assert.Equal([EcrHost], asked);
            var secret = server.Secret("ml", "regcred-pull0run1") ?? throw new Xunit.Sdk.XunitException("no regcred Secret");
            Assert.Equal("kubernetes.io/dockerconfigjson", secret["type"]!.GetValue<string>());
            var config = JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(secret["data"]![".dockerconfigjson"]!.GetValue<string>())))!;
            var expected = new JsonObject
            {
                ["auths"] = new JsonObject
                {
                    [EcrUri] = new JsonObject { ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes("AWS:" + Token)), ["email"] = "deprecated@wandblaunch.com" },
                },
            };
            Assert.True(JsonNode.DeepEquals(expected, config), config.ToJsonString());
            var job = server.Job("ml", "launch-pull0run1")!;
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""[{"name": "regcred-pull0run1"}]"""), job["spec"]!["template"]!["spec"]!["imagePullSecrets"]));
            Assert.DoesNotContain(Token, log);
            Assert.Contains($"created image pull Secret ml/regcred-pull0run1 with the agent's login to {EcrHost}", log);
        }
    }

    // _project_spec.py: W&B takes any run_id a user sets. One with capitals and '_' names every object of its run by its
    // lowercase DNS-safe form (RunNames), which the API server accepts, while the job still gets the id as given.
    [Fact]
    public async Task ARunIdWithCapitalsAndUnderscoresNamesItsJobSecretsAndLabelsInTheirDnsSafeForm()
    {
        using var dir = new TempDirectory();
        const string runId = "Baseline_LR_0-1";
        var name = Identifiers.RunNames.Of(runId);
        Assert.Matches("^baseline-lr-0-1-[0-9a-f]{8}$", name);
        var (server, _) = await StartAsync(dir, new RegistrySettings { Type = "ecr", Uri = EcrUri }, _ => new RegistryCredential("AWS", Token), runId);
        using (server)
        {
            var job = server.Job("ml", "launch-" + name) ?? throw new Xunit.Sdk.XunitException("no Job launch-" + name);
            Assert.Equal(name, job["metadata"]!["labels"]![JobManifest.RunIdLabel]!.GetValue<string>());
            Assert.NotNull(server.Secret("ml", "regcred-" + name));
            Assert.NotNull(server.Secret("ml", JobManifest.ApiKeySecretName(runId)));
            Assert.Equal("wandb-api-key-" + name, JobManifest.ApiKeySecretName(runId));
            var env = ((JsonArray)job["spec"]!["template"]!["spec"]!["containers"]![0]!["env"]!).ToDictionary(e => e!["name"]!.GetValue<string>(), e => e!["value"]?.GetValue<string>());
            Assert.Equal(runId, env["WANDB_RUN_ID"]);
        }
    }

    [Fact]
    public async Task AnExistingRegcredIsUsedAsItIs()
    {
        using var dir = new TempDirectory();
        var (server, log) = await StartAsync(dir, new RegistrySettings { Type = "gcr", Uri = "us-central1-docker.pkg.dev/proj/repo/train" },
            _ => new RegistryCredential("oauth2accesstoken", "ya29.token"), "pull0run2",
            s => s.PutSecret("ml", "regcred-pull0run2", new Dictionary<string, string> { [".dockerconfigjson"] = "{\"auths\":{}}" }, "kubernetes.io/dockerconfigjson"));
        using (server)
        {
            Assert.Equal("{\"auths\":{}}", Encoding.UTF8.GetString(Convert.FromBase64String(server.Secret("ml", "regcred-pull0run2")!["data"]![".dockerconfigjson"]!.GetValue<string>())));
            Assert.NotNull(server.Job("ml", "launch-pull0run2"));
            Assert.Contains("image pull Secret ml/regcred-pull0run2 exists", log);
        }
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("acr", "mlteam.azurecr.io/train")]
    [InlineData("local", null)]
    public async Task OtherRegistriesMakeNoPullSecret(string? type, string? uri)
    {
        using var dir = new TempDirectory();
        var (server, _) = await StartAsync(dir, new RegistrySettings { Type = type, Uri = uri },
            _ => throw new Xunit.Sdk.XunitException("no login is asked for"), "pull0run3");
        using (server)
        {
            Assert.DoesNotContain(server.All(ApiResource.Secrets, "ml"), s => s["metadata"]!["name"]!.GetValue<string>().StartsWith("regcred-", StringComparison.Ordinal));
            Assert.Null(server.Job("ml", "launch-pull0run3")!["spec"]!["template"]!["spec"]!["imagePullSecrets"]);
        }
    }

    [Fact]
    public async Task WithoutALoginTheRunFailsSayingWhy()
    {
        using var dir = new TempDirectory();
        var e = await Assert.ThrowsAsync<JobFailedException>(() => StartAsync(dir, new RegistrySettings { Type = "ecr", Uri = EcrUri }, _ => null, "pull0run4"));
        Assert.Equal(FailureStage.Run, e.Stage);
        Assert.StartsWith($"The launch config's registry block (type ecr, uri {EcrUri}) makes the agent give the job's pods an image pull secret", e.Message);
    }
}
