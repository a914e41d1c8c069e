using System.Text;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Runners.Kubernetes;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Tests.KubeApi;

namespace WandbLaunch.Engine.KubeTests;

/// <summary>
/// A real agent on a SQLite store running kubernetes jobs against the loopback API server: what the cluster does
/// (driven through the server) reaches the store through the runner's watches.
/// </summary>
public sealed class KubernetesAgentTests
{
    private const string Config = """{"spec": {"template": {"spec": {"containers": [{"name": "trainer"}]}}}}""";

    private static string Env(JsonObject kubeJob, string name) =>
        ((JsonArray)kubeJob["spec"]!["template"]!["spec"]!["containers"]![0]!["env"]!).OfType<JsonObject>()
        .FirstOrDefault(e => e["name"]!.GetValue<string>() == name)?["value"]?.GetValue<string>() ?? "(unset)";

    private static string Name(JsonObject obj) => obj["metadata"]!["name"]!.GetValue<string>();

    private static string Uid(JsonObject obj) => obj["metadata"]!["uid"]!.GetValue<string>();

    [Fact]
    public async Task PendingRunningFinishedWithLogsAndTheApiKeySecret()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", Config);
        var submitted = await h.SubmitAsync("k8s");
        h.StartAgent("k8s");

        var kubeJob = await h.KubeJobAsync(submitted.RunId);
        var name = Name(kubeJob);
        Assert.Equal($"launch-{submitted.RunId}", name);
        // The API key travels in a Secret of its own, referenced from the env, never in the manifest.
        var secret = h.Server.Secret(AgentHarness.Namespace, $"wandb-api-key-{submitted.RunId}")!;
        Assert.Equal(Contexts.ApiKey, Encoding.UTF8.GetString(Convert.FromBase64String(secret["data"]!["password"]!.GetValue<string>())));
        Assert.DoesNotContain(Contexts.ApiKey, kubeJob.ToJsonString());
        var apiKeyEnv = ((JsonArray)kubeJob["spec"]!["template"]!["spec"]!["containers"]![0]!["env"]!).OfType<JsonObject>().Single(e => e["name"]!.GetValue<string>() == "WANDB_API_KEY");
        Assert.Equal($"wandb-api-key-{submitted.RunId}", apiKeyEnv["valueFrom"]!["secretKeyRef"]!["name"]!.GetValue<string>());
        Assert.Equal("(unset)", Env(kubeJob, "WANDB_RESUME"));

        // The pod is pending: the job is starting, not running.
        var pod = await h.PodAsync(name);
        await Eventually.Until(() => h.Server.OpenWatches >= 2, "the agent to watch the pod and the Job");
        Assert.Equal(LaunchJobState.Starting, (await h.JobAsync(submitted.Id)).State);

        h.Server.SetPodPhase(AgentHarness.Namespace, pod, "Running");
        var running = await h.StateAsync(submitted.Id, LaunchJobState.Running);
        Assert.Equal($"{AgentHarness.Namespace}/{name}/batch/v1/Job", running.Handle);

        h.Server.AppendPodLog(AgentHarness.Namespace, pod, "epoch 1 loss=0.91", "epoch 2 loss=0.52");
        await Eventually.Until(() => h.Log(running).Contains("epoch 2 loss=0.52"), "the pod's output in the job log");
        h.Server.AppendPodLog(AgentHarness.Namespace, pod, "done");
        h.Server.CompleteJob(AgentHarness.Namespace, name);

        var finished = await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed);
        Assert.Equal(LaunchJobState.Finished, finished.State);
        var log = h.Log(finished);
        // The job's own output, in order (the agent's notes may come between its lines).
        Assert.Equal(["epoch 1 loss=0.91", "epoch 2 loss=0.52", "done"], log.Split('\n').Where(l => l.Length > 0 && !l.StartsWith("[agent]")));
        Assert.DoesNotContain(Contexts.ApiKey, log);
        await Eventually.Until(() => h.Server.Secret(AgentHarness.Namespace, $"wandb-api-key-{submitted.RunId}") is null, "the API-key Secret to be deleted");

        // Followed with watches, not by polling: a handful of lists, and watch requests on pods and on the Job.
        var requests = h.Server.Requests;
        Assert.Contains(requests, r => r.Path.EndsWith("/pods") && r.Query.Contains("watch=true") && r.Query.Contains("labelSelector=wandb.ai%2Frun-id%3D" + submitted.RunId));
        Assert.Contains(requests, r => r.Path.EndsWith("/jobs") && r.Query.Contains("watch=true") && r.Query.Contains("fieldSelector=metadata.name%3D" + name));
        Assert.True(requests.Count(r => r.Method == "GET" && !r.Query.Contains("watch=true") && !r.Path.EndsWith("/log")) <= 4,
            string.Join("\n", requests.Select(r => $"{r.Method} {r.Path}{r.Query}")));
    }

    [Fact]
    public async Task TheOutputOfAJobThatCompletesAtOnceIsStillInTheLog()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", Config);
        var submitted = await h.SubmitAsync("k8s");
        h.StartAgent("k8s");
        var name = Name(await h.KubeJobAsync(submitted.RunId));
        var pod = await h.PodAsync(name);

        // The Job's Complete may reach the agent before its pod watch has shown the pod running.
        h.Server.SetPodPhase(AgentHarness.Namespace, pod, "Running");
        h.Server.AppendPodLog(AgentHarness.Namespace, pod, "a short job's only line");
        h.Server.CompleteJob(AgentHarness.Namespace, name);

        var finished = await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed);
        Assert.Equal(LaunchJobState.Finished, finished.State);
        Assert.Contains("a short job's only line", h.Log(finished));
    }

    [Fact]
    public async Task JobsTakenAtOnceShareOneConnectionToTheCluster()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", Config);
        var submitted = new List<LaunchJob>();
        for (var i = 0; i < 40; i++) submitted.Add(await h.SubmitAsync("k8s"));
        h.StartAgent("k8s");

        // All 40 are taken in one go. Each reading the kubeconfig itself (a synchronous wait in the client's loader)
        // starved the thread pool and started them a few per second.
        var running = new HashSet<string>();
        await Eventually.Until(async () =>
        {
            foreach (var pod in h.Server.All(ApiResource.Pods, AgentHarness.Namespace))
            {
                var name = pod["metadata"]!["name"]!.GetValue<string>();
                if (pod["status"]!["phase"]!.GetValue<string>() == "Pending" && running.Add(name)) h.Server.SetPodPhase(AgentHarness.Namespace, name, "Running");
            }
            var jobs = await h.Backend.GetJobsAsync(new JobQuery { States = [LaunchJobState.Running] }, CancellationToken.None);
            return jobs.Count == submitted.Count ? jobs : null;
        }, "all 40 jobs running", TimeSpan.FromSeconds(60));
        Assert.Equal(1, h.KubeconfigLookups);
    }

    [Fact]
    public async Task AFailedJobIsFailedWithTheTerminationMessageAndLastOutput()
    {
        await using var h = new AgentHarness();
        var (submitted, name, pod, _) = await h.RunningJobAsync(Config);
        h.Server.AppendPodLog(AgentHarness.Namespace, pod, "loading checkpoint", "Traceback (most recent call last):", "RuntimeError: CUDA out of memory");
        await Eventually.Until(async () => h.Log(await h.JobAsync(submitted.Id)).Contains("CUDA out of memory"), "the output");

        h.Server.FailJob(AgentHarness.Namespace, name, exitCode: 3, terminationMessage: "OOM while allocating 2.00 GiB");

        var failed = await h.StateAsync(submitted.Id, LaunchJobState.Failed, LaunchJobState.Finished);
        Assert.Equal(LaunchJobState.Failed, failed.State);
        Assert.Equal(FailureStage.Run, failed.FailureStage);
        Assert.Equal(3, failed.ExitCode);
        Assert.Contains($"Job {AgentHarness.Namespace}/{name} failed (BackoffLimitExceeded: Job has reached the specified backoff limit)", failed.FailureMessage);
        Assert.Contains("exited with code 3 (Error); termination message: OOM while allocating 2.00 GiB", failed.FailureMessage);
        Assert.Contains("RuntimeError: CUDA out of memory", failed.FailureMessage);
        await Eventually.Until(() => h.Server.Secret(AgentHarness.Namespace, $"wandb-api-key-{submitted.RunId}") is null, "the API-key Secret to be deleted");
    }

    [Fact]
    public async Task AWatchThatExpiresIsListedAgainAndNothingIsMissed()
    {
        await using var h = new AgentHarness();
        var (submitted, name, pod, _) = await h.RunningJobAsync(Config);
        await Eventually.Until(() => h.Server.OpenWatches >= 2, "the pod and Job watches");
        var before = h.Server.Requests.Count;

        // The history is compacted: both watches end with 410 Gone, and the Job completes meanwhile.
        h.Server.ExpireWatches();
        h.Server.CompleteJob(AgentHarness.Namespace, name);

        var finished = await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed);
        Assert.Equal(LaunchJobState.Finished, finished.State);
        var after = h.Server.Requests.Skip(before).ToList();
        Assert.Contains(after, r => r.Path.EndsWith("/jobs") && !r.Query.Contains("watch=true"));
        Assert.Contains("410 Gone", h.Log(finished));
    }

    [Fact]
    public async Task AWatchTheServerEndsQuietlyIsWatchedAgainWithoutComplaint()
    {
        await using var h = new AgentHarness();
        var (submitted, name, _, running) = await h.RunningJobAsync(Config);
        await Eventually.Until(() => h.Server.OpenWatches >= 2, "the pod and Job watches");
        var before = h.Server.Requests.Count;

        // Their timeoutSeconds ran out with nothing to report: the responses end without a line.
        h.Server.EndWatches();

        await Eventually.Until(() => h.Server.Requests.Skip(before).Count(r => r.Query.Contains("watch=true")) >= 2 && h.Server.OpenWatches >= 2, "both watches again");
        var after = h.Server.Requests.Skip(before).ToList();
        Assert.DoesNotContain(after, r => !r.Query.Contains("watch=true") && !r.Path.EndsWith("/log"));
        Assert.DoesNotContain("watching", h.Log(running));
        h.Server.CompleteJob(AgentHarness.Namespace, name);
        Assert.Equal(LaunchJobState.Finished, (await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed)).State);
    }

    [Fact]
    public async Task PodLogsAreFollowedWithAClientThatHasNoRequestTimeout()
    {
        await using var h = new AgentHarness();
        var access = KubeAccess.Connect(null, n => h.Env.TryGetValue(n, out var v) ? v : null);
        // The client cuts any other request, its response included, after HttpClientTimeout: a followed log with it ended after 100 s.
        Assert.Equal(TimeSpan.FromSeconds(100), ((k8s.Kubernetes)access.Client).HttpClientTimeout);
        Assert.Equal(Timeout.InfiniteTimeSpan, ((k8s.Kubernetes)access.StreamClient).HttpClientTimeout);
        access.Dispose();
    }

    [Fact]
    public async Task APreemptedJobIsRequeuedWithTheSameRunIdAndResumes()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", Config);
        var submitted = await h.SubmitAsync("k8s");
        h.StartAgent("k8s");
        var first = await h.KubeJobAsync(submitted.RunId);
        var pod = await h.PodAsync(Name(first));
        h.Server.SetPodPhase(AgentHarness.Namespace, pod, "Running");
        await h.StateAsync(submitted.Id, LaunchJobState.Running);

        h.Server.PreemptJob(AgentHarness.Namespace, Name(first));

        // The preempted Job is deleted (pods first), and the same item runs again as the same run, resumed.
        var second = await h.KubeJobAsync(submitted.RunId, notUid: Uid(first));
        Assert.Equal(Name(first), Name(second));
        Assert.Equal("allow", Env(second, "WANDB_RESUME"));
        Assert.Equal(submitted.RunId, Env(second, "WANDB_RUN_ID"));
        Assert.Contains(h.Server.Deletions, d => d.Resource == "jobs.batch" && d.Name == Name(first) && d.PropagationPolicy == "Foreground");
        var again = await h.JobAsync(submitted.Id);
        Assert.Equal(2, again.Attempts);
        Assert.True(again.Resumed);
        Assert.Contains(again.Warnings, w => w.Message.StartsWith("Preempted on attempt 1: Pod ") && w.Message.Contains("PreemptionByScheduler"));

        var pod2 = await h.PodAsync(Name(second));
        h.Server.SetPodPhase(AgentHarness.Namespace, pod2, "Running");
        h.Server.CompleteJob(AgentHarness.Namespace, Name(second));
        Assert.Equal(LaunchJobState.Finished, (await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed)).State);
    }

    [Fact]
    public async Task AJobPreemptedOnEveryAttemptIsRequeuedFiveTimesThenFailed()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", Config);
        var submitted = await h.SubmitAsync("k8s");
        h.StartAgent("k8s");
        string? uid = null;
        for (var attempt = 1; attempt <= LaunchAgent.MaxPreemptions + 1; attempt++)
        {
            var kubeJob = await h.KubeJobAsync(submitted.RunId, notUid: uid);
            uid = Uid(kubeJob);
            Assert.Equal(attempt == 1 ? "(unset)" : "allow", Env(kubeJob, "WANDB_RESUME"));
            var pod = await h.PodAsync(Name(kubeJob));
            h.Server.SetPodPhase(AgentHarness.Namespace, pod, "Running");
            await Eventually.Until(async () => (await h.JobAsync(submitted.Id)) is { State: LaunchJobState.Running, Attempts: var a } && a == attempt, $"attempt {attempt} running");
            h.Server.PreemptJob(AgentHarness.Namespace, Name(kubeJob));
        }

        var failed = await h.StateAsync(submitted.Id, LaunchJobState.Failed);
        Assert.Equal(LaunchAgent.MaxPreemptions + 1, failed.Attempts);
        Assert.Equal(FailureStage.Run, failed.FailureStage);
        Assert.Contains("preempted on each of its 6 attempts; preempted jobs are re-queued at most 5 times", failed.FailureMessage);
        Assert.Equal(LaunchAgent.MaxPreemptions, failed.Warnings.Count(w => w.Message.StartsWith("Preempted on attempt")));
    }

    [Fact]
    public async Task AnUnschedulablePodIsAWarningAndTheStartTimeoutFailsTheJobWithThatReason()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", Config);
        var submitted = await h.SubmitAsync("k8s");
        h.StartAgent("k8s", startTimeout: TimeSpan.FromSeconds(3));
        var name = Name(await h.KubeJobAsync(submitted.RunId));
        var pod = await h.PodAsync(name);

        h.Server.MarkUnschedulable(AgentHarness.Namespace, pod);

        var warned = await Eventually.Until(async () => await h.JobAsync(submitted.Id) is { Warnings.Count: > 0 } j ? j : null, "a warning on the job");
        Assert.Equal(LaunchJobState.Starting, warned.State);
        var warning = Assert.Single(warned.Warnings);
        Assert.Equal(FailureStage.Run, warning.Stage);
        Assert.Contains($"Pod {pod} cannot be scheduled: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.", warning.Message);

        var failed = await h.StateAsync(submitted.Id, LaunchJobState.Failed);
        Assert.Equal(FailureStage.Agent, failed.FailureStage);
        Assert.Contains("did not start within 3 s (WANDB_LAUNCH_START_TIMEOUT); it was cancelled. It was waiting because: Pod", failed.FailureMessage);
        Assert.Contains("Insufficient nvidia.com/gpu", failed.FailureMessage);
        Assert.Contains(h.Server.Deletions, d => d.Resource == "jobs.batch" && d.Name == name && d.PropagationPolicy == "Foreground");
        await Eventually.Until(() => h.Server.Job(AgentHarness.Namespace, name) is null, "the Job to be deleted");
        await Eventually.Until(() => h.Server.Secret(AgentHarness.Namespace, $"wandb-api-key-{submitted.RunId}") is null, "the API-key Secret to be deleted");
    }

    [Fact]
    public async Task ImagePullFailuresAreWarnings()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", Config);
        var submitted = await h.SubmitAsync("k8s", image: "registry.example.com/ml/missing:9.9");
        h.StartAgent("k8s");
        var pod = await h.PodAsync(Name(await h.KubeJobAsync(submitted.RunId)));

        h.Server.SetContainerWaiting(AgentHarness.Namespace, pod, "ErrImagePull", "rpc error: manifest unknown");
        h.Server.SetContainerWaiting(AgentHarness.Namespace, pod, "ImagePullBackOff", "Back-off pulling image \"registry.example.com/ml/missing:9.9\"");

        var job = await Eventually.Until(async () => await h.JobAsync(submitted.Id) is { Warnings.Count: 2 } j ? j : null, "two warnings");
        Assert.Contains(job.Warnings, w => w.Message == $"Pod {pod}, container trainer: ErrImagePull: rpc error: manifest unknown");
        Assert.Contains(job.Warnings, w => w.Message.StartsWith($"Pod {pod}, container trainer: ImagePullBackOff: Back-off pulling image"));
        Assert.Contains("warning: Pod", h.Log(job));
    }

    [Fact]
    public async Task StoppingARunningJobDeletesItWithForegroundPropagation()
    {
        await using var h = new AgentHarness();
        var (submitted, name, _, _) = await h.RunningJobAsync(Config);

        await h.Backend.RequestStopAsync(submitted.Id, CancellationToken.None);

        var stopped = await h.StateAsync(submitted.Id, LaunchJobState.Stopped, LaunchJobState.Failed);
        Assert.Equal(LaunchJobState.Stopped, stopped.State);
        Assert.Equal("Stopped on request (Stop-WandbLaunchJob).", stopped.FailureMessage);
        var deletion = Assert.Single(h.Server.Deletions, d => d.Resource == "jobs.batch");
        Assert.Equal(("ml", name, "Foreground"), (deletion.Namespace, deletion.Name, deletion.PropagationPolicy));
        Assert.Null(h.Server.Job(AgentHarness.Namespace, name));
        Assert.Empty(h.Server.PodsOf(AgentHarness.Namespace, name));
        await Eventually.Until(() => h.Server.Secret(AgentHarness.Namespace, $"wandb-api-key-{submitted.RunId}") is null, "the API-key Secret to be deleted");
    }

    [Fact]
    public async Task StoppingAJobWhosePodIsStillPendingDeletesItToo()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", Config);
        var submitted = await h.SubmitAsync("k8s");
        h.StartAgent("k8s");
        var name = Name(await h.KubeJobAsync(submitted.RunId));
        await h.PodAsync(name);

        await h.Backend.RequestStopAsync(submitted.Id, CancellationToken.None);

        var stopped = await h.StateAsync(submitted.Id, LaunchJobState.Stopped, LaunchJobState.Failed);
        Assert.Equal(LaunchJobState.Stopped, stopped.State);
        Assert.Contains(h.Server.Deletions, d => d.Resource == "jobs.batch" && d.Name == name && d.PropagationPolicy == "Foreground");
        await Eventually.Until(() => h.Server.Job(AgentHarness.Namespace, name) is null, "the Job to be deleted");
        await Eventually.Until(() => h.Server.Secret(AgentHarness.Namespace, $"wandb-api-key-{submitted.RunId}") is null, "the API-key Secret to be deleted");
    }

    [Fact]
    public async Task AJobDeletedBySomeoneElseFails()
    {
        await using var h = new AgentHarness();
        var (submitted, name, _, _) = await h.RunningJobAsync(Config);

        h.Server.DeleteJob(AgentHarness.Namespace, name);

        var failed = await h.StateAsync(submitted.Id, LaunchJobState.Failed, LaunchJobState.Stopped);
        Assert.Equal(LaunchJobState.Failed, failed.State);
        Assert.Contains($"Job {AgentHarness.Namespace}/{name} was deleted before it finished", failed.FailureMessage);
    }

    [Fact]
    public async Task ARestartedAgentReattachesThroughTheHandleAndSeesTheJobFinish()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", Config);
        var submitted = await h.SubmitAsync("k8s");
        var lease = TimeSpan.FromSeconds(2);
        var dying = new FreezableBackend(h.Backend);
        h.Server.AllowToken("first-agent-token");
        var firstKubeconfig = h.Server.WriteKubeconfig(h.Dir.File("first-kubeconfig"), AgentHarness.Namespace, token: "first-agent-token");
        var firstAgent = h.StartAgent("k8s", lease: lease, backend: dying, abandonOnDispose: true, kubeconfig: firstKubeconfig);
        var name = Name(await h.KubeJobAsync(submitted.RunId));
        var pod = await h.PodAsync(name);
        h.Server.SetPodPhase(AgentHarness.Namespace, pod, "Running");
        var running = await h.StateAsync(submitted.Id, LaunchJobState.Running);
        Assert.Equal(firstAgent.Id, running.AgentId);
        h.Server.AppendPodLog(AgentHarness.Namespace, pod, "step 100");
        await Eventually.Until(() => h.Log(running).Contains("step 100"), "the first agent to log");

        // The first agent's process is gone: it renews no lease, records nothing, and its connections to the
        // cluster are cut (its watches and log stream end, and its token is refused).
        dying.Freeze();
        h.Server.Disconnect("first-agent-token");
        h.Server.AppendPodLog(AgentHarness.Namespace, pod, "step 150"); // while no agent watches
        var secondAgent = h.StartAgent("k8s", lease: lease);
        var taken = await Eventually.Until(async () => await h.JobAsync(submitted.Id) is { } j && j.AgentId == secondAgent.Id && j.AgentId is not null ? j : null,
            "the second agent to take the job over");
        Assert.Equal(LaunchJobState.Running, taken.State);
        await Eventually.Until(() => h.Log(taken).Contains($"re-attached to Job {AgentHarness.Namespace}/{name}"), "the re-attach note");

        h.Server.AppendPodLog(AgentHarness.Namespace, pod, "step 200");
        await Eventually.Until(() => h.Log(taken).Contains("step 200"), "output after the re-attach");
        var log = h.Log(taken);
        Assert.True(log.IndexOf("step 200", StringComparison.Ordinal) > log.IndexOf("re-attached to Job", StringComparison.Ordinal));
        Assert.Single(log.Split('\n'), l => l == "step 200");
        Assert.Contains("step 150", log);
        h.Server.CompleteJob(AgentHarness.Namespace, name);

        var finished = await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed);
        Assert.Equal(LaunchJobState.Finished, finished.State);
        Assert.Equal(secondAgent.Id, finished.AgentId);
        Assert.NotNull(h.Server.Job(AgentHarness.Namespace, name)); // finished, not deleted: its TTL cleans it up
        await Eventually.Until(() => h.Server.Secret(AgentHarness.Namespace, $"wandb-api-key-{submitted.RunId}") is null, "the API-key Secret to be deleted");
    }

    [Fact]
    public async Task AnAgentStoppedWithLeaveJobsRunningLeavesTheJobToTheNextAgent()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", Config);
        var submitted = await h.SubmitAsync("k8s");
        var firstAgent = h.StartAgent("k8s", leaveJobsRunning: true);
        var name = Name(await h.KubeJobAsync(submitted.RunId));
        var pod = await h.PodAsync(name);
        h.Server.SetPodPhase(AgentHarness.Namespace, pod, "Running");
        await h.StateAsync(submitted.Id, LaunchJobState.Running);
        h.Server.AppendPodLog(AgentHarness.Namespace, pod, "step 100");
        await Eventually.Until(async () => h.Log(await h.JobAsync(submitted.Id)).Contains("step 100"), "the first agent to log");

        await firstAgent.StopAsync();

        // The running job keeps running: nothing of it was deleted, and its lease was given up at once.
        var left = await h.JobAsync(submitted.Id);
        Assert.Equal(LaunchJobState.Running, left.State);
        Assert.NotNull(h.Server.Job(AgentHarness.Namespace, name));
        Assert.NotNull(h.Server.Secret(AgentHarness.Namespace, $"wandb-api-key-{submitted.RunId}"));
        Assert.DoesNotContain(h.Server.Deletions, d => d.Name == name);
        Assert.True(left.LeaseExpiresAt <= DateTimeOffset.UtcNow, $"lease expires {left.LeaseExpiresAt}");
        Assert.Contains($"stopped following the job, because it was cancelled (Ctrl+C or Stop-Job); Job {AgentHarness.Namespace}/{name} keeps running", h.Log(left));
        Assert.True(h.Events.Any(e => e.Message.Contains("1 left running for the next agent", StringComparison.Ordinal)), h.Events.ToString());

        h.Server.AppendPodLog(AgentHarness.Namespace, pod, "step 150"); // while no agent follows
        var secondAgent = h.StartAgent("k8s");
        var taken = await Eventually.Until(async () => await h.JobAsync(submitted.Id) is { } j && j.AgentId == secondAgent.Id ? j : null, "the second agent to re-attach");
        Assert.Equal(LaunchJobState.Running, taken.State);
        h.Server.AppendPodLog(AgentHarness.Namespace, pod, "step 200");
        await Eventually.Until(() => h.Log(taken).Contains("step 200"), "output after the re-attach");
        Assert.Contains("step 150", h.Log(taken));
        Assert.Contains($"agent {secondAgent.Id} took over this job from agent {firstAgent.Id}, which stopped and left it running", h.Log(taken));
        h.Server.CompleteJob(AgentHarness.Namespace, name);

        var finished = await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed);
        Assert.Equal(LaunchJobState.Finished, finished.State);
        Assert.Equal(secondAgent.Id, finished.AgentId);
        await Eventually.Until(() => h.Server.Secret(AgentHarness.Namespace, $"wandb-api-key-{submitted.RunId}") is null, "the API-key Secret to be deleted");
    }

    [Fact]
    public async Task AStopRequestThatLeavesJobsRunningLeavesThemAndAnAgentToldToStopItsJobsOnExitStopsThem()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", Config);
        var first = await h.SubmitAsync("k8s");
        var agent = h.StartAgent("k8s");
        var firstName = Name(await h.KubeJobAsync(first.RunId));
        h.Server.SetPodPhase(AgentHarness.Namespace, await h.PodAsync(firstName), "Running");
        await h.StateAsync(first.Id, LaunchJobState.Running);

        await h.Backend.RequestAgentStopAsync(agent.Id!, CancellationToken.None, leaveJobsRunning: true);
        await Eventually.Until(async () => (await h.Backend.GetAgentAsync(agent.Id!, CancellationToken.None))!.Status == AgentStatus.Killed, "the agent to stop");
        Assert.Equal(LaunchJobState.Running, (await h.JobAsync(first.Id)).State);
        Assert.NotNull(h.Server.Job(AgentHarness.Namespace, firstName));
        Assert.Contains("because a stop was requested (Stop-WandbLaunchAgent)", h.Log(await h.JobAsync(first.Id)));

        // The next agent takes the job over; started with StopJobsOnExit (-StopJobsOnExit), a plain stop request makes it stop the job.
        var next = h.StartAgent("k8s", stopJobsOnExit: true);
        await Eventually.Until(async () => (await h.JobAsync(first.Id)).AgentId == next.Id, "the next agent to re-attach");
        await h.Backend.RequestAgentStopAsync(next.Id!, CancellationToken.None);
        var stopped = await h.StateAsync(first.Id, LaunchJobState.Stopped, LaunchJobState.Failed, LaunchJobState.Finished);
        Assert.Equal(LaunchJobState.Stopped, stopped.State);
        Assert.Contains(h.Server.Deletions, d => d.Name == firstName && d.PropagationPolicy == "Foreground");
    }

    [Fact]
    public async Task AnAgentThatStopsLeavesItsKubernetesJobsRunningForTheNextAgentAsWandBsAgentDoes()
    {
        // W&B (agent/agent.py): an agent that exits cancels nothing; its Kubernetes Jobs run on.
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", Config);
        var submitted = await h.SubmitAsync("k8s");
        var agent = h.StartAgent("k8s");
        var name = Name(await h.KubeJobAsync(submitted.RunId));
        h.Server.SetPodPhase(AgentHarness.Namespace, await h.PodAsync(name), "Running");
        await h.StateAsync(submitted.Id, LaunchJobState.Running);

        await h.Backend.RequestAgentStopAsync(agent.Id!, CancellationToken.None);
        await Eventually.Until(async () => (await h.Backend.GetAgentAsync(agent.Id!, CancellationToken.None))!.Status == AgentStatus.Killed, "the agent to stop");

        Assert.Equal(LaunchJobState.Running, (await h.JobAsync(submitted.Id)).State);
        Assert.NotNull(h.Server.Job(AgentHarness.Namespace, name));
        Assert.DoesNotContain(h.Server.Deletions, d => d.Name == name);
        var next = h.StartAgent("k8s");
        await Eventually.Until(async () => (await h.JobAsync(submitted.Id)).AgentId == next.Id, "the next agent to re-attach");
    }

    [Fact]
    public async Task AJobWhosePodIsStillPendingIsLeftInItsPlaceAndRunsUnderTheNextAgent()
    {
        await using var h = new AgentHarness();
        await h.QueueAsync("k8s", Config);
        var submitted = await h.SubmitAsync("k8s");
        var firstAgent = h.StartAgent("k8s", leaveJobsRunning: true);
        var name = Name(await h.KubeJobAsync(submitted.RunId));
        var pod = await h.PodAsync(name); // created, not scheduled yet
        Assert.Equal(LaunchJobState.Starting, (await h.JobAsync(submitted.Id)).State);

        await firstAgent.StopAsync();

        var left = await h.JobAsync(submitted.Id);
        Assert.Equal(LaunchJobState.Starting, left.State);
        Assert.True(left.LeaseExpiresAt <= DateTimeOffset.UtcNow, $"lease expires {left.LeaseExpiresAt}");
        Assert.NotNull(h.Server.Job(AgentHarness.Namespace, name));
        Assert.DoesNotContain(h.Server.Deletions, d => d.Name == name);

        var secondAgent = h.StartAgent("k8s");
        await Eventually.Until(async () => (await h.JobAsync(submitted.Id)).AgentId == secondAgent.Id, "the second agent to re-attach");
        h.Server.SetPodPhase(AgentHarness.Namespace, pod, "Running");
        var running = await h.StateAsync(submitted.Id, LaunchJobState.Running);
        Assert.Equal($"{AgentHarness.Namespace}/{name}/batch/v1/Job", running.Handle);
        h.Server.CompleteJob(AgentHarness.Namespace, name);
        var finished = await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed);
        Assert.Equal(LaunchJobState.Finished, finished.State);
        Assert.Equal(1, finished.Attempts);
    }

    [Fact]
    public async Task ACustomResourceIsCreatedFollowedAndFinished()
    {
        await using var h = new AgentHarness();
        h.Server.RegisterCustomResource("kubeflow.org", "v1", "pytorchjobs", "PyTorchJob");
        await h.QueueAsync("ddp", """
            {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "ddp-${run_id}"},
             "spec": {"pytorchReplicaSpecs": {
               "Master": {"replicas": 1, "template": {"spec": {"containers": [{"name": "pytorch", "image": "${image_uri}"}]}}},
               "Worker": {"replicas": 1, "template": {"spec": {"containers": [{"name": "pytorch", "image": "${image_uri}"}]}}}}}}
            """);
        var submitted = await h.SubmitAsync("ddp");
        h.StartAgent("ddp");
        var name = $"ddp-{submitted.RunId}";
        await Eventually.Until(() => h.Server.Get(new ApiResource("kubeflow.org", "v1", "pytorchjobs", "PyTorchJob"), AgentHarness.Namespace, name) is not null, "the PyTorchJob");
        var pods = h.Server.StartPodsFor("kubeflow.org", "v1", "pytorchjobs", AgentHarness.Namespace, name);
        Assert.Equal(2, pods.Count);
        foreach (var pod in pods) h.Server.SetPodPhase(AgentHarness.Namespace, pod, "Running");
        var running = await h.StateAsync(submitted.Id, LaunchJobState.Running);
        Assert.Equal($"{AgentHarness.Namespace}/{name}/kubeflow.org/v1/PyTorchJob", running.Handle);
        h.Server.AppendPodLog(AgentHarness.Namespace, pods[0], "master ready");
        h.Server.AppendPodLog(AgentHarness.Namespace, pods[1], "worker ready");
        await Eventually.Until(() => h.Log(running).Contains("worker ready") && h.Log(running).Contains("master ready"), "both pods' output");

        h.Server.SetCustomObjectStatus("kubeflow.org", "v1", "pytorchjobs", AgentHarness.Namespace, name, (JsonObject)JsonNode.Parse("""
            {"conditions": [{"type": "Created", "status": "True"}, {"type": "Running", "status": "False"},
                            {"type": "Succeeded", "status": "True", "reason": "PyTorchJobSucceeded"}]}
            """)!);

        var finished = await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed);
        Assert.Equal(LaunchJobState.Finished, finished.State);
        Assert.Contains(h.Server.Requests, r => r.Method == "POST" && r.Path == $"/apis/kubeflow.org/v1/namespaces/{AgentHarness.Namespace}/pytorchjobs" && r.Status == 201);
    }

    [Fact]
    public async Task AForbiddenNamespaceFailsTheJobSayingWhatToGrant()
    {
        await using var h = new AgentHarness();
        h.Server.AddNamespace("restricted");
        h.Server.Forbid("restricted");
        await h.QueueAsync("k8s", """{"namespace": "restricted"}""");
        var submitted = await h.SubmitAsync("k8s");
        h.StartAgent("k8s");

        var failed = await h.StateAsync(submitted.Id, LaunchJobState.Failed);
        Assert.Equal(FailureStage.Agent, failed.FailureStage);
        Assert.Contains("does not allow user 'launch-agent' to create secrets in namespace 'restricted' (403 Forbidden", failed.FailureMessage);
    }
}
