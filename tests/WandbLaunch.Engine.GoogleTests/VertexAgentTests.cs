using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Cloud.Google;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Runners.Vertex;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.GoogleTests;

/// <summary>A real agent runs launch jobs as CustomJobs on the stand-in, from creation to every way they end.</summary>
public sealed class VertexAgentTests
{
    [Fact]
    public async Task ACustomJobThatRunsAndSucceedsFinishesTheLaunchJob()
    {
        await using var h = new VertexHarness();
        await h.QueueAsync();
        var submitted = await h.SubmitAsync("{\"name\": \"bright-sun-7\"}");
        h.StartAgent();
        var name = await h.CustomJobAsync(submitted.RunId);
        Assert.Equal("JOB_STATE_PENDING", h.Server.StateOf(name));

        var body = h.Server.CreatedBodies.Single();
        Assert.Equal("bright-sun-7", (string?)body["displayName"]);
        var container = body["jobSpec"]!["workerPoolSpecs"]![0]!["containerSpec"]!;
        Assert.Equal(VertexHarness.Image, (string?)container["imageUri"]);
        Assert.Equal(["python", "train.py", "--epochs", "3"], ((JsonArray)container["command"]!).Select(c => (string)c!));
        var env = ((JsonArray)container["env"]!).ToDictionary(e => (string)e!["name"]!, e => (string?)e!["value"]);
        Assert.Equal("on", env["TEAM_SETTING"]);
        Assert.Equal(submitted.RunId, env["WANDB_RUN_ID"]);
        Assert.Equal(submitted.RunId, (string?)body["labels"]![VertexCustomJob.RunIdLabel]);

        h.Server.SetState(name, "JOB_STATE_RUNNING");
        var running = await h.StateAsync(submitted.Id, LaunchJobState.Running);
        Assert.Equal(name, running.Handle);
        h.Server.SetState(name, "JOB_STATE_SUCCEEDED");
        var finished = await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed);
        Assert.Equal(LaunchJobState.Finished, finished.State);

        var log = VertexHarness.Log(finished);
        Assert.Contains($"created {name}", log);
        Assert.Contains("https://console.cloud.google.com/vertex-ai/locations/us-central1/training/", log);
        foreach (var token in h.Server.Account.IssuedTokens) Assert.DoesNotContain(token, log);
        Assert.DoesNotContain(VertexHarness.ApiKey, log);
        foreach (var token in h.Server.Account.IssuedTokens) Assert.DoesNotContain(token, h.Events.ToString());
    }

    // runner/vertex_runner.py drops keys it does not read; the agent drops them too and says so in the job's log.
    [Fact]
    public async Task AKeyWandbDoesNotReadIsDroppedAndNamedInTheJobsLog()
    {
        await using var h = new VertexHarness();
        await h.QueueAsync(CustomJobBodyTests.Changed("spec.display_name=\"x\""));
        var submitted = await h.SubmitAsync();
        h.StartAgent();
        var name = await h.CustomJobAsync(submitted.RunId);
        Assert.NotEqual("x", (string?)h.Server.CreatedBodies.Single()["displayName"]);
        h.Server.SetState(name, "JOB_STATE_SUCCEEDED");
        var finished = await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed);
        Assert.Equal(LaunchJobState.Finished, finished.State);
        Assert.Contains("warning: resource_args.gcp-vertex.spec.display_name is not read by W&B's Vertex runner and is dropped", VertexHarness.Log(finished));
    }

    [Fact]
    public async Task AFailedCustomJobFailsTheLaunchJobWithTheServicesMessage()
    {
        await using var h = new VertexHarness();
        var (submitted, name, _) = await h.RunningAsync();
        h.Server.SetState(name, "JOB_STATE_FAILED", "The replica workerpool0-0 exited with a non-zero status of 1.");
        var failed = await h.StateAsync(submitted.Id, LaunchJobState.Failed, LaunchJobState.Finished);
        Assert.Equal(LaunchJobState.Failed, failed.State);
        Assert.Contains("exited with a non-zero status of 1", failed.FailureMessage);
    }

    [Fact]
    public async Task ACustomJobCancelledFromOutsideEndsTheLaunchJobAsStopped()
    {
        await using var h = new VertexHarness();
        var (submitted, name, _) = await h.RunningAsync();
        // W&B maps CANCELLING/CANCELLED to "unknown" and never ends the run; this agent ends it.
        h.Server.SetState(name, "JOB_STATE_CANCELLING");
        h.Server.SetState(name, "JOB_STATE_CANCELLED", "CANCELED");
        var stopped = await h.StateAsync(submitted.Id, LaunchJobState.Stopped, LaunchJobState.Failed, LaunchJobState.Finished);
        Assert.Equal(LaunchJobState.Stopped, stopped.State);
        Assert.Contains("cancelled outside this agent", VertexHarness.Log(stopped));
    }

    [Fact]
    public async Task StoppingTheLaunchJobCancelsTheCustomJob()
    {
        await using var h = new VertexHarness();
        var (submitted, name, _) = await h.RunningAsync();
        await h.Backend.RequestStopAsync(submitted.Id, CancellationToken.None);
        var stopped = await h.StateAsync(submitted.Id, LaunchJobState.Stopped, LaunchJobState.Failed, LaunchJobState.Finished);
        Assert.Equal(LaunchJobState.Stopped, stopped.State);
        Assert.Equal("JOB_STATE_CANCELLED", h.Server.StateOf(name));
        Assert.Contains(h.Server.Requests, r => r.Method == "POST" && r.Path == $"/v1/{name}:cancel" && r.Status == 200);
        Assert.Contains($"asked Vertex AI to cancel {name}", VertexHarness.Log(stopped));
    }

    [Fact]
    public async Task ARestartedAgentReattachesThroughTheHandleAndSeesTheJobFinish()
    {
        await using var h = new VertexHarness();
        var (submitted, name, first) = await h.RunningAsync(leaveJobsRunning: true);
        await first.StopAsync();
        Assert.Equal(LaunchJobState.Running, (await h.JobAsync(submitted.Id)).State);
        Assert.Equal("JOB_STATE_RUNNING", h.Server.StateOf(name));
        Assert.DoesNotContain(h.Server.Requests, r => r.Path.EndsWith(":cancel", StringComparison.Ordinal));

        var second = h.StartAgent();
        var taken = await Eventually.Until(async () => await h.JobAsync(submitted.Id) is { } j && j.AgentId == second.Id ? j : null, "the second agent to re-attach");
        await Eventually.Until(() => VertexHarness.Log(taken).Contains($"re-attached to {name}"), "the re-attach note");
        h.Server.SetState(name, "JOB_STATE_SUCCEEDED");
        var finished = await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed);
        Assert.Equal(LaunchJobState.Finished, finished.State);
        Assert.Single(h.Server.JobNames);
    }

    [Fact]
    public async Task ACreateTheServiceRefusesFailsTheLaunchJobWithGooglesStatusAndMessage()
    {
        await using var h = new VertexHarness();
        await h.QueueAsync();
        h.Server.FailNextCreate(409, "ALREADY_EXISTS", "CustomJob with the same display name is being created.");
        var submitted = await h.SubmitAsync();
        h.StartAgent();
        var failed = await h.StateAsync(submitted.Id, LaunchJobState.Failed, LaunchJobState.Finished);
        Assert.Contains("409 ALREADY_EXISTS: CustomJob with the same display name is being created.", failed.FailureMessage);
        Assert.Empty(h.Server.JobNames);
    }

    [Fact]
    public async Task AThrottledCreateIsTriedAgainAndTheJobRuns()
    {
        await using var h = new VertexHarness();
        await h.QueueAsync();
        h.Server.Throttle(2);
        var submitted = await h.SubmitAsync();
        h.StartAgent();
        var name = await h.CustomJobAsync(submitted.RunId);
        Assert.Equal(2, h.Server.Requests.Count(r => r.Status == 429));
        h.Server.SetState(name, "JOB_STATE_SUCCEEDED");
        Assert.Equal(LaunchJobState.Finished, (await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed)).State);
    }

    [Fact]
    public async Task WrongCredentialsFailTheJobAndSayWhose()
    {
        await using var h = new VertexHarness();
        using var stranger = System.Security.Cryptography.RSA.Create(2048);
        h.Env["GOOGLE_APPLICATION_CREDENTIALS"] = h.Dir.Write("stranger.json", h.Server.ServiceAccountKeyJson(stranger));
        await h.QueueAsync();
        var submitted = await h.SubmitAsync();
        h.StartAgent();
        var failed = await h.StateAsync(submitted.Id, LaunchJobState.Failed, LaunchJobState.Finished);
        var message = failed.FailureMessage ?? "";
        Assert.Contains("Google refused to issue an access token for service account " + h.Server.Account.ClientEmail, message);
        Assert.Empty(h.Server.JobNames);
    }

    [Fact]
    public async Task PollingSlowsTowardItsSteadyPace()
    {
        await using var h = new VertexHarness();
        var (submitted, name, _) = await h.RunningAsync();
        var before = h.Server.Reads(name);
        await Task.Delay(TimeSpan.FromSeconds(3));
        var reads = h.Server.Reads(name) - before;
        // At the steady 300 ms at most 10 reads in 3 s (plus one in flight); at the first 100 ms it would be 30.
        Assert.InRange(reads, 2, 12);
    }

    // agent/agent.py: every running job is read each AGENT_POLLING_INTERVAL (10 s); AgentOptions.CloudJobPollingInterval
    // (Start-WandbLaunchAgent -CloudJobPollingInterval) gives such a fixed interval instead of the back-off.
    [Fact]
    public async Task WithAFixedCloudJobPollingIntervalARunningCustomJobIsReadAtThatIntervalWithoutBackingOff()
    {
        await using var h = new VertexHarness();
        await h.QueueAsync();
        var submitted = await h.SubmitAsync();
        h.StartAgent(cloudJobPollingInterval: TimeSpan.FromSeconds(1));
        var name = await h.CustomJobAsync(submitted.RunId);
        h.Server.SetState(name, "JOB_STATE_RUNNING");
        await h.StateAsync(submitted.Id, LaunchJobState.Running);

        var before = h.Server.Reads(name);
        await Task.Delay(TimeSpan.FromSeconds(6));
        var reads = h.Server.Reads(name) - before;
        // About 6 at 1 s; the default (5 s, then 7.5 s ...) reads at most twice in 6 s.
        Assert.InRange(reads, 4, 8);
    }

    [Fact]
    public void TheDefaultPollingReachesOneReadPerThirtySecondsAndStaysThere()
    {
        var polling = VertexPolling.Default;
        var wait = polling.First;
        for (var i = 0; i < 20; i++) wait = polling.Next(wait);
        Assert.Equal(TimeSpan.FromSeconds(30), wait);
        Assert.True(polling.First < polling.Steady);
    }

    /// <summary>A job's context as the agent makes it (macros substituted, W&amp;B environment built) for the typical queue.</summary>
    private static JobContext ContextFor(LaunchAgentConfig config, Func<string, string?> environment, string workDirectory, JobLog log)
    {
        var spec = new JsonObject
        {
            ["docker"] = new JsonObject { ["docker_image"] = VertexHarness.Image },
            ["entity"] = VertexHarness.Entity, ["project"] = "llm", ["run_id"] = "run12345", ["name"] = "bright-sun-7",
            ["resource_args"] = new JsonObject { ["gcp-vertex"] = CustomJobBodyTests.TypicalQueue() },
        };
        var job = new LaunchJob
        {
            Id = "item-0123456789ab", Queue = "vertex", Entity = VertexHarness.Entity, Project = "llm", Resource = "gcp-vertex",
            State = LaunchJobState.Starting, Attempts = 1, RunId = "run12345", AgentId = "agent-golden000001", LaunchSpec = LaunchSpec.Parse(spec),
        };
        var options = new AgentOptions { Config = config, Name = "preview", Environment = environment, WorkDirectory = workDirectory };
        return JobContextFactory.Create(job, options, log);
    }

    [Fact]
    public void ThePreviewShowsTheBodyWithTheApiKeyRedacted()
    {
        using var dir = new TempDirectory();
        using var log = JobLog.Discard();
        var env = new Dictionary<string, string> { [JobEnvironment.ApiKeyVariable] = VertexHarness.ApiKey };
        var config = new LaunchAgentConfig { Environment = new EnvironmentSettings { Type = "gcp", Region = "europe-west4", Project = "ml-project" } };
        var rendered = new VertexRunner(n => env.GetValueOrDefault(n)).Render(ContextFor(config, n => env.GetValueOrDefault(n), dir.Path, log));
        Assert.Equal("CustomJob bright-sun-7 in projects/ml-project/locations/europe-west4 (1 worker pool)", rendered.Summary);
        Assert.Contains("POST https://europe-west4-aiplatform.googleapis.com/v1/projects/ml-project/locations/europe-west4/customJobs", rendered.Text);
        Assert.Contains("\"imageUri\": \"" + VertexHarness.Image + "\"", rendered.Text);
        Assert.Contains("\"WANDB_API_KEY\"", rendered.Text);
        Assert.DoesNotContain(VertexHarness.ApiKey, rendered.Text);
    }

    [Fact]
    public void WithoutAGcpEnvironmentTheRegionIsGcloudsThenGoogleCloudRegion()
    {
        using var dir = new TempDirectory();
        using var log = JobLog.Discard();
        var env = new Dictionary<string, string> { ["CLOUDSDK_CONFIG"] = dir.Path, ["GOOGLE_CLOUD_REGION"] = "asia-east1" };
        string Summary() => new VertexRunner(n => env.GetValueOrDefault(n)).Render(ContextFor(new LaunchAgentConfig(), n => env.GetValueOrDefault(n), dir.Path, log)).Summary;
        Assert.EndsWith("locations/asia-east1 (1 worker pool)", Summary());
        Directory.CreateDirectory(Path.Combine(dir.Path, "configurations"));
        File.WriteAllText(Path.Combine(dir.Path, "active_config"), "work\n");
        File.WriteAllText(Path.Combine(dir.Path, "configurations", "config_work"), "[core]\nproject = ml-project\n\n[compute]\nregion = us-west1\nzone = us-west1-b\n");
        Assert.EndsWith("locations/us-west1 (1 worker pool)", Summary());
        env["CLOUDSDK_COMPUTE_REGION"] = "us-east4";
        Assert.EndsWith("locations/us-east4 (1 worker pool)", Summary());
    }

    [Fact]
    public async Task WithoutARegionThePreviewLeavesItToTheAgentAndTheAgentSaysWhereToSetOne()
    {
        using var dir = new TempDirectory();
        using var log = JobLog.Discard();
        var runner = new VertexRunner(_ => null);
        Assert.Contains("locations/<the agent's region>", runner.Render(ContextFor(new LaunchAgentConfig(), _ => null, dir.Path, log)).Summary);
        var e = await Assert.ThrowsAsync<Errors.LaunchException>(() => runner.StartAsync(ContextFor(new LaunchAgentConfig(), _ => null, dir.Path, log), CancellationToken.None));
        Assert.Equal("MissingVertexRegion", e.ErrorId);
        Assert.Contains("GOOGLE_CLOUD_REGION", e.Message);
    }
}
