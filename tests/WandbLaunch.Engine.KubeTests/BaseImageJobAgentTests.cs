using System.Text.Json.Nodes;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Runners.Kubernetes;
using WandbLaunch.Tests.KubeApi;

namespace WandbLaunch.Engine.KubeTests;

/// <summary>
/// A real agent (noop builder) on a SQLite store running W&amp;B jobs in a base image on the Kubernetes stand-in:
/// the job is resolved on the agent's host (a real git repository), and the pod gets its code as W&amp;B's gives it.
/// </summary>
public sealed class BaseImageJobAgentTests
{
    private const string Config = """{"spec": {"template": {"spec": {"containers": [{"name": "trainer"}]}}}}""";

    private static JsonObject PodSpec(JsonObject kubeJob) => (JsonObject)kubeJob["spec"]!["template"]!["spec"]!;

    private static async Task<(string Remote, string Commit)> LogRepoJobAsync(AgentHarness h, string name)
    {
        var remote = h.Dir.File("repo-" + name);
        var commit = TestJobs.InitRepository(remote, new Dictionary<string, string> { ["train.py"] = "print('hi')\n", ["requirements.txt"] = "numpy\n" });
        await TestJobs.LogJobAsync(TestArtifacts.For(h.Backend), h.Dir.Path, AgentHarness.Entity, "proj", name, TestJobs.RepoDefinition(remote, commit, "python", "train.py"));
        return (remote, commit);
    }

    private static async Task<ArtifactVersion> LogArtifactJobAsync(AgentHarness h, string name)
    {
        var code = await TestJobs.LogAsync(TestArtifacts.For(h.Backend), h.Dir.Path, AgentHarness.Entity, "proj", "code-" + name, "code",
            new Dictionary<string, string> { ["eval.py"] = "print('eval')\n" });
        await TestJobs.LogJobAsync(TestArtifacts.For(h.Backend), h.Dir.Path, AgentHarness.Entity, "proj", name, TestJobs.ArtifactDefinition(code.Id, "python", "eval.py"));
        return code;
    }

    private static AgentHarness Harness()
    {
        var h = new AgentHarness();
        h.Env[ArtifactFiles.CacheDirectoryVariable] = h.Dir.File("cache");
        h.Env[Code.GitCheckout.AllowLocalVariable] = "1";
        return h;
    }

    private static Task<LaunchJob> PushJobAsync(AgentHarness h, string name) =>
        h.Backend.PushAsync(new QueueKey(AgentHarness.Entity, LaunchDefaults.Project, "k8s"),
            new PushRequest { Spec = new JsonObject { ["job"] = $"{AgentHarness.Entity}/proj/{name}", ["project"] = "proj" } }, CancellationToken.None);

    [Fact]
    public async Task A_repo_job_runs_in_the_default_base_image_with_an_init_container_cloning_its_commit()
    {
        await using var h = Harness();
        var (remote, commit) = await LogRepoJobAsync(h, "job-train");
        await h.QueueAsync("k8s", Config);
        var submitted = await PushJobAsync(h, "job-train");
        h.StartAgent("k8s");

        var kubeJob = await h.KubeJobAsync(submitted.RunId);
        var pod = PodSpec(kubeJob);
        var trainer = (JsonObject)pod["containers"]![0]!;
        Assert.Equal(Builders.JobBaseImage.Default, trainer["image"]!.GetValue<string>());
        Assert.Equal("/mnt/wandb", trainer["workingDir"]!.GetValue<string>());
        Assert.Equal(["/bin/sh", "-c"], trainer["command"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.EndsWith(" && exec python train.py", trainer["args"]![0]!.GetValue<string>());
        Assert.Contains(trainer["volumeMounts"]!.AsArray(), m => m!["name"]!.GetValue<string>() == PodCode.VolumeName && m["mountPath"]!.GetValue<string>() == "/mnt/wandb");
        Assert.Contains(pod["volumes"]!.AsArray(), v => v!["name"]!.GetValue<string>() == PodCode.VolumeName && v["emptyDir"] is JsonObject);
        var init = (JsonObject)pod["initContainers"]!.AsArray().Single()!;
        Assert.Equal(PodCode.InitContainerName, init["name"]!.GetValue<string>());
        Assert.Equal(PodCode.InitImage, init["image"]!.GetValue<string>());
        // The local store: no job artifact download the pod could not do.
        Assert.Equal($"git clone {remote} /mnt/wandb && git config --global --add safe.directory /mnt/wandb && cd /mnt/wandb && git checkout {commit} && chmod -R a+w /mnt/wandb/* || true && chmod -R a+w /mnt/wandb/.* || true",
            init["command"]![2]!.GetValue<string>());
        Assert.Equal(["WANDB_BASE_URL", "WANDB_API_KEY"], init["env"]!.AsArray().Select(e => e!["name"]!.GetValue<string>()));
        Assert.Equal($"wandb-api-key-{submitted.RunId}", init["env"]![1]!["valueFrom"]!["secretKeyRef"]!["name"]!.GetValue<string>());
        Assert.False(init["securityContext"]!["allowPrivilegeEscalation"]!.GetValue<bool>());
        Assert.DoesNotContain(Contexts.ApiKey, kubeJob.ToJsonString());

        var name = kubeJob["metadata"]!["name"]!.GetValue<string>();
        h.Server.SetPodPhase(AgentHarness.Namespace, await h.PodAsync(name), "Running");
        await h.StateAsync(submitted.Id, LaunchJobState.Running);
        h.Server.CompleteJob(AgentHarness.Namespace, name);
        var finished = await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed);
        Assert.True(finished.State == LaunchJobState.Finished, $"{finished.State}: {finished.FailureMessage}\n{h.Log(finished)}");
        // Said once, with what it means.
        var warning = Assert.Single(finished.Warnings, w => w.Message.Contains("requirements.frozen.txt"));
        Assert.Contains(CodeClaim.NameVariable, warning.Message);
        // The test's remote is a path on this host (WANDB_LAUNCH_ALLOW_LOCAL_GIT=1), which no pod could clone.
        Assert.Contains(finished.Warnings, w => w.Message.Contains($"git remote {remote} is a path on the agent's host"));
        Assert.Contains("No builder configured. Using base image: python:3.12-slim", h.Log(finished));
    }

    [Fact]
    public async Task An_artifact_job_on_the_local_store_fails_at_stage_agent_naming_the_code_claim_variables()
    {
        await using var h = Harness();
        var code = await LogArtifactJobAsync(h, "job-eval");
        await h.QueueAsync("k8s", Config);
        var submitted = await PushJobAsync(h, "job-eval");
        h.StartAgent("k8s");

        var failed = await h.StateAsync(submitted.Id, LaunchJobState.Failed, LaunchJobState.Finished);

        Assert.Equal(LaunchJobState.Failed, failed.State);
        Assert.Equal(FailureStage.Agent, failed.FailureStage);
        Assert.Contains(CodeClaim.NameVariable, failed.FailureMessage);
        Assert.Contains(CodeClaim.MountPathVariable, failed.FailureMessage);
        Assert.Contains("local store", failed.FailureMessage);
        Assert.Contains($"the artifact {code}", failed.FailureMessage);
        Assert.Empty(h.Server.All(ApiResource.Jobs, AgentHarness.Namespace));
    }

    [Fact]
    public async Task With_a_code_claim_an_artifact_job_s_code_is_copied_there_and_mounted_with_its_sub_path()
    {
        await using var h = Harness();
        var mount = Directory.CreateDirectory(h.Dir.File("claim")).FullName;
        h.Env[CodeClaim.NameVariable] = "launch-code";
        h.Env[CodeClaim.MountPathVariable] = mount;
        await LogArtifactJobAsync(h, "job-eval");
        await h.QueueAsync("k8s", Config);
        var submitted = await PushJobAsync(h, "job-eval");
        h.StartAgent("k8s");

        var kubeJob = await h.KubeJobAsync(submitted.RunId);

        var pod = PodSpec(kubeJob);
        Assert.Null(pod["initContainers"]);
        Assert.Contains(pod["volumes"]!.AsArray(), v => v!["name"]!.GetValue<string>() == PodCode.VolumeName && v["persistentVolumeClaim"]!["claimName"]!.GetValue<string>() == "launch-code");
        var mountOf = pod["containers"]![0]!["volumeMounts"]!.AsArray().Single(m => m!["name"]!.GetValue<string>() == PodCode.VolumeName)!;
        var subPath = mountOf["subPath"]!.GetValue<string>();
        Assert.Equal("job-eval:latest:vv0", subPath);
        Assert.Equal("print('eval')\n", File.ReadAllText(Path.Combine(mount, subPath, "eval.py")));
        Assert.Equal("wandb==0.19.0\n", File.ReadAllText(Path.Combine(mount, subPath, ".job", "requirements.frozen.txt")));
    }

    [Fact]
    public async Task The_preview_shows_the_manifest_the_runner_creates()
    {
        await using var h = Harness();
        var env = new Dictionary<string, string>(h.Env);
        using var log = new JobLog(h.Dir.File("job.log"), []);
        var spec = JsonNode.Parse("""
            {"run_id": "same0001", "docker": {"docker_image": "python:3.12-slim"}, "overrides": {"entry_point": ["python", "train.py"], "working_dir": "src"},
             "resource_args": {"kubernetes": {"spec": {"template": {"spec": {"containers": [{"name": "trainer"}]}}}}}}
            """)!.AsObject();
        var code = new MountedCode
        {
            HostDirectory = h.Dir.Path,
            Source = MountedCodeSource.Repo,
            GitRemote = "https://github.com/acme/train.git",
            GitCommit = "0123456789abcdef0123456789abcdef01234567",
            JobArtifact = "ml-team/proj/job-train:v3",
            ImageSourceString = "job-train:latest:vv3",
            InstallDependencies = true,
            StoreReachableFromJobs = true,
            WorkingDir = "src",
        };
        var context = Contexts.For(spec, log, h.Dir.Path, environment: env, code: code);
        var runner = new KubernetesRunner(n => env.GetValueOrDefault(n));

        var preview = runner.Render(context);
        var running = await runner.StartAsync(context, CancellationToken.None);

        try
        {
            var shown = (JsonObject)Documents.StructuredText.Parse(preview.Text.Split("---\n")[^1], "preview").Root!;
            var created = await h.KubeJobAsync("same0001");
            foreach (var key in new[] { "initContainers", "volumes", "containers" })
            {
                // The client writes keys in its model's order: compared as JSON values.
                Assert.True(JsonNode.DeepEquals(PodSpec(shown)[key], PodSpec(created)[key]), $"{key}:\n{PodSpec(shown)[key]}\n{PodSpec(created)[key]}");
            }
            Assert.Contains(PodCode.InitContainerName, preview.Text);
        }
        finally
        {
            await running.CancelAsync(TimeSpan.Zero);
        }
    }

    [Fact]
    public async Task Get_WandbLaunchJobManifest_shows_the_base_image_and_code_mount_the_agent_then_creates()
    {
        await using var h = Harness();
        await LogRepoJobAsync(h, "job-train");
        await h.QueueAsync("k8s", Config);
        var configPath = h.Dir.Write("launch-config.yaml", "builder:\n  type: noop\n");
        var env = new Dictionary<string, string>(h.Env);
        var options = new Services.SubmitOptions { Queue = new QueueKey(AgentHarness.Entity, LaunchDefaults.Project, "k8s"), Job = $"{AgentHarness.Entity}/proj/job-train", Project = "proj" };

        var preview = (await new Services.JobSubmission(h.Backend, n => env.GetValueOrDefault(n)).PreviewAsync(options, configPath, CancellationToken.None)).Rendered;
        var submitted = await PushJobAsync(h, "job-train");
        h.StartAgent("k8s");
        var created = PodSpec(await h.KubeJobAsync(submitted.RunId));

        var shown = PodSpec((JsonObject)Documents.StructuredText.Parse(preview.Text.Split("---\n")[^1], "preview").Root!);
        Assert.Equal(Builders.JobBaseImage.Default, shown["containers"]![0]!["image"]!.GetValue<string>());
        foreach (var key in new[] { "command", "args", "workingDir", "volumeMounts" })
        {
            Assert.True(JsonNode.DeepEquals(shown["containers"]![0]![key], created["containers"]![0]![key]), $"{key}: {shown["containers"]![0]![key]} / {created["containers"]![0]![key]}");
        }
        Assert.True(JsonNode.DeepEquals(shown["volumes"], created["volumes"]));
        Assert.Equal(created["initContainers"]![0]!["command"]!.ToJsonString(), shown["initContainers"]![0]!["command"]!.ToJsonString());
        Assert.Equal(PodCode.InitImage, shown["initContainers"]![0]!["image"]!.GetValue<string>());
    }
}
