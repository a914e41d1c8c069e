using System.Collections.Specialized;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Builders;
using WandbLaunch.Engine.Builders.Kaniko;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Docker;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.KanikoTests;

/// <summary>The kaniko Job as rendered from the builder settings, and how builder.kaniko-config is merged into it.</summary>
public sealed class KanikoJobTests
{
    private const string Image = "registry.example.com/team/images:0123abcd";
    private const string Context = "s3://bucket/ctx/run1.tgz";

    private static BuilderSettings Settings(string? kanikoConfigJson = null, bool secret = false) => new()
    {
        Type = "kaniko",
        Destination = "registry.example.com/team/images",
        BuildContextStore = "s3://bucket/ctx",
        SecretName = secret ? "regcred" : null,
        SecretKey = secret ? "config.json" : null,
        KanikoConfig = kanikoConfigJson is null ? null : (OrderedDictionary)JsonTree.ToPlain(JsonNode.Parse(kanikoConfigJson))!,
    };

    private static (JsonObject Job, List<string> Notes) Render(BuilderSettings settings, EnvironmentSettings? cloud = null, Func<string, string?>? environment = null)
    {
        var notes = new List<string>();
        var auth = KanikoAuth.For(settings, cloud ?? new EnvironmentSettings(), environment ?? (_ => null));
        var job = KanikoJob.Render(settings, "run1", "builds", Context, Image, "default", auth, notes.Add);
        return (job, notes);
    }

    private static BuilderSettings To(string destination, bool secret = false) => new()
    {
        Type = "kaniko",
        Destination = destination,
        BuildContextStore = "s3://bucket/ctx",
        SecretName = secret ? "cloud-creds" : null,
        SecretKey = secret ? "key.json" : null,
    };

    private static JsonObject PodSpecOf(JsonObject job) => (JsonObject)job["spec"]!["template"]!["spec"]!;

    private static void AssertJson(string expected, JsonNode? actual) =>
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), actual), $"expected {expected}\nactual {actual?.ToJsonString()}");

    private static double Number(JsonNode? node) => JsonTree.TryGetNumber(node, out var n) ? n : double.NaN;

    private static JsonObject Container(JsonObject job) => (JsonObject)job["spec"]!["template"]!["spec"]!["containers"]![0]!;

    [Fact]
    public void WithoutKanikoConfigTheJobIsWandbsDefaults()
    {
        var (job, notes) = Render(Settings());
        var expected = JsonNode.Parse($$$"""
            {
              "apiVersion": "batch/v1",
              "kind": "Job",
              "metadata": {"name": "wandb-launch-container-build-run1", "namespace": "builds", "labels": {"wandb": "launch", "wandb.ai/run-id": "run1"}},
              "spec": {
                "backoffLimit": 0,
                "template": {
                  "metadata": {"labels": {"wandb": "launch"}},
                  "spec": {
                    "restartPolicy": "Never",
                    "activeDeadlineSeconds": 1800,
                    "serviceAccountName": "default",
                    "containers": [{
                      "name": "wandb-container-build",
                      "image": "gcr.io/kaniko-project/executor:v1.11.0",
                      "args": ["--context={{{Context}}}", "--dockerfile=Dockerfile.wandb", "--destination={{{Image}}}", "--cache=true",
                               "--cache-repo=registry.example.com/team/images", "--snapshot-mode=redo", "--compressed-caching=false"]
                    }]
                  }
                }
              }
            }
            """);
        Assert.True(JsonNode.DeepEquals(expected, job), job.ToJsonString());
        Assert.Empty(notes);
    }

    [Fact]
    public void WithASecretForEcrTheLoginIsKanikosDockerConfigAndTheKeyItsAwsCredentials()
    {
        var (job, _) = Render(To("123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml/train", secret: true));
        AssertJson("""
            [{"name": "docker-config", "mountPath": "/kaniko/.docker", "readOnly": true},
             {"name": "cloud-creds", "mountPath": "/root/.aws", "readOnly": true}]
            """, Container(job)["volumeMounts"]);
        AssertJson("""
            [{"name": "docker-config", "secret": {"secretName": "docker-config-wandb-launch-container-build-run1"}},
             {"name": "cloud-creds", "secret": {"secretName": "cloud-creds", "items": [{"key": "key.json", "path": "credentials"}]}}]
            """, PodSpecOf(job)["volumes"]);
        AssertJson("""[{"name": "AWS_REGION", "value": "eu-west-1"}]""", Container(job)["env"]);
    }

    [Fact]
    public void WithASecretForArtifactRegistryTheKeyIsGooglesApplicationCredentials()
    {
        var (job, _) = Render(To("europe-west4-docker.pkg.dev/proj/repo/train", secret: true));
        AssertJson("""
            [{"name": "docker-config", "mountPath": "/kaniko/.docker", "readOnly": true},
             {"name": "cloud-creds", "mountPath": "/kaniko/.config/gcloud", "readOnly": true}]
            """, Container(job)["volumeMounts"]);
        AssertJson("""{"name": "cloud-creds", "secret": {"secretName": "cloud-creds", "items": [{"key": "key.json", "path": "config.json"}]}}""", PodSpecOf(job)["volumes"]![1]);
        AssertJson("""[{"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/kaniko/.config/gcloud/config.json"}]""", Container(job)["env"]);
    }

    [Fact]
    public void EcrWithoutASecretGetsOnlyItsRegionAndNoMounts()
    {
        var (job, _) = Render(To("123456789012.dkr.ecr.us-east-2.amazonaws.com/ml"));
        AssertJson("""[{"name": "AWS_REGION", "value": "us-east-2"}]""", Container(job)["env"]);
        Assert.False(PodSpecOf(job).ContainsKey("volumes"));
    }

    [Fact]
    public void AnAcrDestinationUsesKanikosAcrHelperWithTheWorkloadIdentityLabel()
    {
        var (job, _) = Render(To("mlteam.azurecr.io/train"));
        AssertJson("""[{"name": "docker-config", "mountPath": "/kaniko/.docker/"}]""", Container(job)["volumeMounts"]);
        AssertJson("""[{"name": "docker-config", "configMap": {"name": "docker-config-wandb-launch-container-build-run1"}}]""", PodSpecOf(job)["volumes"]);
        AssertJson("""{"wandb": "launch", "azure.workload.identity/use": "true"}""", job["spec"]!["template"]!["metadata"]!["labels"]);
        var auth = KanikoAuth.For(To("mlteam.azurecr.io/train"), new EnvironmentSettings(), _ => null);
        var map = auth.AcrConfigMap("wandb-launch-container-build-run1", "builds", "run1");
        AssertJson("""{"credHelpers": {"mlteam.azurecr.io": "acr-env"}}""", JsonNode.Parse(map["data"]!["config.json"]!.GetValue<string>()));
        AssertJson("""{"name": "docker-config-wandb-launch-container-build-run1", "namespace": "builds", "labels": {"wandb": "launch", "wandb.ai/run-id": "run1"}}""", map["metadata"]);
    }

    [Fact]
    public void AKanikoAuthSecretIsMountedAloneEvenForAcrAndWithSecretName()
    {
        var (job, _) = Render(To("mlteam.azurecr.io/train", secret: true), environment: n => n == "WANDB_LAUNCH_KANIKO_AUTH_SECRET" ? "pushcfg" : null);
        AssertJson("""[{"name": "kaniko-docker-config", "mountPath": "/kaniko/.docker"}]""", Container(job)["volumeMounts"]);
        AssertJson("""[{"name": "kaniko-docker-config", "secret": {"secretName": "pushcfg", "items": [{"key": ".dockerconfigjson", "path": "config.json"}]}}]""", PodSpecOf(job)["volumes"]);
        AssertJson("""{"wandb": "launch"}""", job["spec"]!["template"]!["metadata"]!["labels"]);
    }

    [Fact]
    public void AnAzureEnvironmentAddsTheStorageKeyFromItsSecret()
    {
        var (job, _) = Render(To("registry.example.com/team/images"), new EnvironmentSettings { Type = "azure" });
        AssertJson("""[{"name": "AZURE_STORAGE_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "azure-storage-access-key", "key": "password"}}}]""", Container(job)["env"]);
    }

    [Fact]
    public void ASecretNameWithoutAKeyIsWandbsError()
    {
        var settings = new BuilderSettings { Type = "kaniko", Destination = "registry.example.com/x", BuildContextStore = "s3://b", SecretName = "regcred" };
        var e = Assert.Throws<JobFailedException>(() => KanikoAuth.For(settings, new EnvironmentSettings(), _ => null));
        Assert.StartsWith("Both secret_name and secret_key or neither must be specified for kaniko build. You provided only one of them", e.Message);
        Assert.Equal(FailureStage.Build, e.Stage);
    }

    [Fact]
    public void TheLoginSecretHoldsTheAuthKeyedByTheRepositoryAndIsImmutable()
    {
        var secret = KanikoAuth.LoginSecret("ml-build-run1", "builds", "run1", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml",
            new Registries.RegistryCredential("AWS", "ecr-token"));
        AssertJson("""
            {
              "apiVersion": "v1",
              "kind": "Secret",
              "metadata": {"name": "docker-config-ml-build-run1", "namespace": "builds", "labels": {"wandb": "launch", "wandb.ai/run-id": "run1"}},
              "type": "Opaque",
              "immutable": true,
              "stringData": {"config.json": "{\"auths\":{\"123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml\":{\"auth\":\"QVdTOmVjci10b2tlbg==\"}}}"}
            }
            """, secret);
    }

    [Theory]
    [InlineData(null, "wandb")]
    [InlineData("", "wandb")]
    [InlineData("ml-agents\n", "ml-agents")]
    public void TheBuildNamespaceIsTheAgentPodsElseWandb(string? content, string expected)
    {
        using var dir = new TempDirectory();
        var file = dir.File("namespace");
        if (content is not null) File.WriteAllText(file, content);
        Assert.Equal(expected, KanikoBuilder.BuildNamespace(file));
    }

    [Fact]
    public void NamedListsMergeItemByItemAndOtherValuesWin()
    {
        var (job, notes) = Render(Settings(secret: true, kanikoConfigJson: """
            {
              "metadata": {"name": "my-build", "namespace": "kaniko", "labels": {"team": "ml", "wandb": "other"}},
              "spec": {"backoffLimit": 2, "template": {"spec": {
                "serviceAccountName": "builder",
                "activeDeadlineSeconds": 600,
                "volumes": [{"name": "docker-config", "secret": {"defaultMode": 256}}, {"name": "cache", "emptyDir": {}}],
                "containers": [{
                  "image": "mirror.example.com/kaniko:v1.23.2",
                  "args": ["--context=dir:///elsewhere", "--snapshot-mode=time", "--single-snapshot"],
                  "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]
                }]
              }}}
            }
            """));

        Assert.Equal("wandb-launch-container-build-run1", job["metadata"]!["name"]!.GetValue<string>());
        Assert.Equal("kaniko", job["metadata"]!["namespace"]!.GetValue<string>());
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"wandb": "launch", "wandb.ai/run-id": "run1", "team": "ml"}"""), job["metadata"]!["labels"]));
        Assert.Equal(2, Number(job["spec"]!["backoffLimit"]));
        var pod = (JsonObject)job["spec"]!["template"]!["spec"]!;
        Assert.Equal("builder", pod["serviceAccountName"]!.GetValue<string>());
        Assert.Equal(600, Number(pod["activeDeadlineSeconds"]));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""
            [{"name": "docker-config", "secret": {"secretName": "docker-config-wandb-launch-container-build-run1", "defaultMode": 256}},
             {"name": "cache", "emptyDir": {}}]
            """), pod["volumes"]));
        var container = Container(job);
        Assert.Equal("wandb-container-build", container["name"]!.GetValue<string>());
        Assert.Equal("mirror.example.com/kaniko:v1.23.2", container["image"]!.GetValue<string>());
        Assert.Equal([$"--context={Context}", "--dockerfile=Dockerfile.wandb", $"--destination={Image}", "--cache=true", "--cache-repo=registry.example.com/team/images",
                "--snapshot-mode=time", "--compressed-caching=false", "--single-snapshot"],
            ((JsonArray)container["args"]!).Select(a => a!.GetValue<string>()));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""
            [{"name": "docker-config", "mountPath": "/kaniko/.docker", "readOnly": true}, {"name": "cache", "mountPath": "/cache"}]
            """), container["volumeMounts"]));
        Assert.Equal(
            ["builder.kaniko-config sets --context, which only the builder sets; it is ignored.",
             "builder.kaniko-config sets metadata.name 'my-build'; the build Job is named wandb-launch-container-build-run1 (set builder.build-job-name to change the prefix)."],
            notes);
    }

    [Fact]
    public void MoreThanOneContainerIsRefused()
    {
        var e = Assert.Throws<JobFailedException>(() => Render(Settings("""{"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}}""")));
        Assert.Equal(FailureStage.Build, e.Stage);
        Assert.Contains("containers to 2 items; the kaniko Job runs one container (wandb-container-build)", e.Message);
    }

    [Fact]
    public void TheJobIsNamedAfterBuildJobName()
    {
        var settings = new BuilderSettings { Type = "kaniko", Destination = "r.example.com/x", BuildJobName = "team-build" };
        Assert.Equal("team-build-run1", KanikoJob.Name(settings, "run1"));
    }

    [Fact]
    public async Task TheFactoryMakesAKanikoBuilderWithoutContactingAnything()
    {
        var engine = new Lazy<DockerEngine>(() => throw new InvalidOperationException("the Docker engine must not be used"));
        var builder = await BuilderFactory.CreateAsync(Settings(), new EnvironmentSettings(), _ => null, engine, _ => null, CancellationToken.None);
        Assert.IsType<KanikoBuilder>(builder);
        Assert.Equal("kaniko", builder.Type);
        Assert.False(engine.IsValueCreated);
    }

    [Fact]
    public void TheContextArchiveIsAGzipTarWithTheDockerfile()
    {
        using var dir = new TempDirectory();
        dir.Write("code/main.py", "print(1)\n");
        dir.Write("code/.git/HEAD", "ref: refs/heads/main\n");
        var plan = new BuildPlan(dir.File("code"), "FROM python:3.11-slim\nCOPY . /app\n", "generated");
        using var archive = KanikoBuilder.Compress(plan);
        var files = Tgz.Read(archive.ToArray());
        Assert.Equal(["Dockerfile.wandb", "main.py"], files.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("FROM python:3.11-slim\nCOPY . /app\n", files["Dockerfile.wandb"]);
    }
}
