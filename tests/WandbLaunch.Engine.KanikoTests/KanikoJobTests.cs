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

    private static (JsonObject Job, List<string> Notes) Render(BuilderSettings settings)
    {
        var notes = new List<string>();
        var job = KanikoJob.Render(settings, "run1", "builds", Context, Image, "default", notes.Add);
        return (job, notes);
    }

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
    public void WithASecretTheDockerConfigMapIsMountedWhereKanikoReadsItsDockerConfig()
    {
        var (job, _) = Render(Settings(secret: true));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""[{"name": "docker-config", "mountPath": "/kaniko/.docker", "readOnly": true}]"""), Container(job)["volumeMounts"]));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""[{"name": "docker-config", "configMap": {"name": "docker-config-wandb-launch-container-build-run1"}}]"""),
            job["spec"]!["template"]!["spec"]!["volumes"]));
    }

    [Fact]
    public void TheDockerConfigMapIsNamedAfterTheJobAndLabelledWithTheRun()
    {
        var map = KanikoJob.DockerConfigMap("ml-build-run1", "builds", "run1", """{"auths": {}}""");
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""
            {
              "apiVersion": "v1",
              "kind": "ConfigMap",
              "metadata": {"name": "docker-config-ml-build-run1", "namespace": "builds", "labels": {"wandb": "launch", "wandb.ai/run-id": "run1"}},
              "data": {"config.json": "{\"auths\": {}}"}
            }
            """), map), map.ToJsonString());
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
                "volumes": [{"name": "docker-config", "configMap": {"defaultMode": 256}}, {"name": "cache", "emptyDir": {}}],
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
            [{"name": "docker-config", "configMap": {"name": "docker-config-wandb-launch-container-build-run1", "defaultMode": 256}},
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
