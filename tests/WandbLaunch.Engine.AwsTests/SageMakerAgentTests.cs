using System.Text.Json.Nodes;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.AwsTests;

/// <summary>
/// A real agent on a SQLite store running sagemaker jobs against the AWS stand-in: what SageMaker reports (driven
/// through the stand-in) reaches the store through the runner's DescribeTrainingJob polls.
/// </summary>
public sealed class SageMakerAgentTests
{
    [Fact]
    public async Task QueuedRunningFinishedWithTheRequestW_BSends()
    {
        await using var h = new AwsHarness();
        await h.QueueAsync();
        var submitted = await h.SubmitAsync();
        h.StartAgent();

        var training = await h.TrainingJobAsync(submitted.RunId);
        var running = await h.StateAsync(submitted.Id, LaunchJobState.Running);
        Assert.Equal($"us-east-1/{submitted.RunId}", running.Handle);
        var request = training.Request;
        // The role name is completed with the account STS named; the image is the job's; W&B's own keys are gone.
        Assert.Equal("arn:aws:iam::123456789012:role/SageMakerExecutionRole", request["RoleArn"]!.GetValue<string>());
        Assert.Equal("123456789012.dkr.ecr.us-east-1.amazonaws.com/launch:train-1", request["AlgorithmSpecification"]!["TrainingImage"]!.GetValue<string>());
        Assert.Equal("ml.m5.xlarge", request["ResourceConfig"]!["InstanceType"]!.GetValue<string>());
        Assert.Null(request["EcrRepoName"]);
        Assert.Null(request["region"]);
        Assert.Null(request["resource_config"]);
        Assert.Equal([("team", "ml"), ("WandbRunId", submitted.RunId)],
            ((JsonArray)request["Tags"]!).Select(t => (t!["Key"]!.GetValue<string>(), t["Value"]!.GetValue<string>())));
        // As W&B's runner does, the job gets its API key in the training job's environment.
        Assert.Equal(AwsHarness.ApiKey, request["Environment"]!["WANDB_API_KEY"]!.GetValue<string>());
        Assert.Equal(submitted.RunId, request["Environment"]!["WANDB_RUN_ID"]!.GetValue<string>());
        Assert.Equal(1, h.Server.CallsOf("GetCallerIdentity"));

        h.Server.SetStatus(submitted.RunId, "Completed");
        var finished = await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed);
        Assert.Equal(LaunchJobState.Finished, finished.State);
        var log = h.Log(finished);
        Assert.Contains("Run job submitted with arn: arn:aws:sagemaker:us-east-1:123456789012:training-job/" + submitted.RunId, log);
        Assert.Contains($"https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1#/jobs/{submitted.RunId}", log);
        Assert.DoesNotContain(AwsHarness.ApiKey, log);
        Assert.DoesNotContain(AwsHarness.SecretKey, log);
        Assert.DoesNotContain(AwsHarness.SessionToken, log);
        Assert.Empty(h.Server.Rejections);
    }

    // agent/agent.py: every running job is read each AGENT_POLLING_INTERVAL (10 s); AgentOptions.CloudJobPollingInterval
    // (Start-WandbLaunchAgent -CloudJobPollingInterval) gives such a fixed interval instead of the back-off.
    [Fact]
    public async Task WithAFixedCloudJobPollingIntervalATrainingJobIsDescribedAtThatIntervalWithoutBackingOff()
    {
        await using var h = new AwsHarness();
        await h.QueueAsync();
        var submitted = await h.SubmitAsync();
        h.StartAgent(cloudJobPollingInterval: TimeSpan.FromSeconds(1));
        await h.StateAsync(submitted.Id, LaunchJobState.Running);

        var before = h.Server.Job(submitted.RunId)!.Describes;
        await Task.Delay(TimeSpan.FromSeconds(6));
        var describes = h.Server.Job(submitted.RunId)!.Describes - before;
        // About 6 at 1 s; the default (5 s doubling to 30 s) describes it at most twice in 6 s.
        Assert.InRange(describes, 4, 8);
        Assert.Empty(h.Server.Rejections);
    }

    // sagemaker_runner.py names the training job after the run id; one with '_' (which W&B accepts, _project_spec.py)
    // would be refused by SageMaker, so the default name is the run id's DNS-safe form (RunNames) and the tag keeps the id.
    [Fact]
    public async Task ARunIdWithUnderscoresNamesItsTrainingJobInItsDnsSafeForm()
    {
        await using var h = new AwsHarness();
        await h.QueueAsync();
        var submitted = await h.SubmitAsync(extraSpecJson: """{"run_id": "Baseline_LR_0-1"}""");
        h.StartAgent();
        var name = Identifiers.RunNames.Of("Baseline_LR_0-1");
        var training = await h.TrainingJobAsync(name);
        Assert.Contains(((JsonArray)training.Request["Tags"]!), t => (string?)t!["Key"] == "WandbRunId" && (string?)t["Value"] == "Baseline_LR_0-1");
        Assert.Equal("Baseline_LR_0-1", (string?)training.Request["Environment"]!["WANDB_RUN_ID"]);
        var running = await h.StateAsync(submitted.Id, LaunchJobState.Running);
        Assert.Equal($"us-east-1/{name}", running.Handle);
        Assert.Empty(h.Server.Rejections);
    }

    [Fact]
    public async Task AFailedTrainingJobFailsTheLaunchJobWithSageMakersFailureReason()
    {
        await using var h = new AwsHarness();
        await h.QueueAsync();
        var submitted = await h.SubmitAsync();
        h.StartAgent();
        await h.StateAsync(submitted.Id, LaunchJobState.Running);

        h.Server.SetStatus(submitted.RunId, "Failed", "AlgorithmError: ExecuteUserScriptError: exit code 1 (train.py line 12: CUDA out of memory)");
        var failed = await h.StateAsync(submitted.Id, LaunchJobState.Failed, LaunchJobState.Finished);
        Assert.Equal(LaunchJobState.Failed, failed.State);
        Assert.Equal(FailureStage.Run, failed.FailureStage);
        Assert.Equal("AlgorithmError: ExecuteUserScriptError: exit code 1 (train.py line 12: CUDA out of memory)", failed.FailureMessage);
    }

    [Fact]
    public async Task AJobStoppedOnSageMakerOutsideTheAgentCountsAsFinishedAsW_BCountsIt()
    {
        await using var h = new AwsHarness();
        await h.QueueAsync();
        var submitted = await h.SubmitAsync();
        h.StartAgent();
        await h.StateAsync(submitted.Id, LaunchJobState.Running);

        h.Server.SetStatus(submitted.RunId, "Stopping");
        await Task.Delay(300);
        Assert.Equal(LaunchJobState.Running, (await h.JobAsync(submitted.Id)).State);
        h.Server.SetStatus(submitted.RunId, "Stopped");
        var ended = await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed, LaunchJobState.Stopped);
        Assert.Equal(LaunchJobState.Finished, ended.State);
        Assert.Equal(0, h.Server.CallsOf("StopTrainingJob"));
    }

    [Fact]
    public async Task StopWandbLaunchJobStopsTheTrainingJobAndWaitsUntilSageMakerHasStoppedIt()
    {
        await using var h = new AwsHarness();
        h.Server.StopAfterDescribes = 3;
        await h.QueueAsync();
        var submitted = await h.SubmitAsync();
        h.StartAgent();
        await h.StateAsync(submitted.Id, LaunchJobState.Running);

        await h.Backend.RequestStopAsync(submitted.Id, CancellationToken.None);
        var stopped = await h.StateAsync(submitted.Id, LaunchJobState.Stopped, LaunchJobState.Finished, LaunchJobState.Failed);
        Assert.Equal(LaunchJobState.Stopped, stopped.State);
        Assert.Equal(1, h.Server.CallsOf("StopTrainingJob"));
        // Stopped only once SageMaker said so: it was Stopping for three polls first.
        Assert.Equal("Stopped", h.Server.Job(submitted.RunId)!.Status);
        Assert.Contains("Training job " + submitted.RunId + " status: Stopping", h.Log(stopped));
    }

    [Fact]
    public async Task ALaterAgentReAttachesThroughTheHandleAndNothingIsCreatedTwice()
    {
        await using var h = new AwsHarness();
        await h.QueueAsync();
        var submitted = await h.SubmitAsync();
        var first = h.StartAgent(leaveJobsRunning: true, name: "first");
        await h.StateAsync(submitted.Id, LaunchJobState.Running);
        await first.Cancellation.CancelAsync();
        await first.DisposeAsync();
        Assert.Equal("InProgress", h.Server.Job(submitted.RunId)!.Status);
        Assert.Equal(0, h.Server.CallsOf("StopTrainingJob"));

        h.StartAgent(name: "second");
        var describes = h.Server.Job(submitted.RunId)!.Describes;
        await Eventually.Until(() => h.Server.Job(submitted.RunId)!.Describes > describes + 1, "the second agent to follow the training job");
        h.Server.SetStatus(submitted.RunId, "Completed");
        var finished = await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed);
        Assert.Equal(LaunchJobState.Finished, finished.State);
        Assert.Equal(1, h.Server.CallsOf("CreateTrainingJob"));
        Assert.Contains($"re-attached to SageMaker training job {submitted.RunId} in us-east-1", h.Log(finished));
    }

    [Fact]
    public async Task ATrainingJobNameInUseFailsTheJobSayingHowToNameJobs()
    {
        await using var h = new AwsHarness();
        await h.QueueAsync(config: AwsHarness.QueueConfig.Replace("\"RoleArn\"", "\"TrainingJobName\": \"nightly-train\", \"RoleArn\""));
        var first = await h.SubmitAsync();
        var second = await h.SubmitAsync();
        h.StartAgent();
        var ends = new[] { LaunchJobState.Failed, LaunchJobState.Running };
        var a = await h.StateAsync(first.Id, ends);
        var b = await h.StateAsync(second.Id, ends);
        var failed = a.State == LaunchJobState.Failed ? a : b;
        Assert.Equal(LaunchJobState.Failed, failed.State);
        Assert.Contains("ResourceInUse", failed.FailureMessage);
        Assert.Contains("${run_id}", failed.FailureMessage);
        Assert.Single(h.Server.Jobs);
    }

    [Fact]
    public async Task ThrottledPollsBackOffAndTheJobStillEnds()
    {
        await using var h = new AwsHarness();
        await h.QueueAsync();
        var submitted = await h.SubmitAsync();
        h.StartAgent();
        await h.StateAsync(submitted.Id, LaunchJobState.Running);
        h.Server.Throttle("DescribeTrainingJob", 6);
        await Eventually.Until(() => h.Server.Calls.Count(c => c.Operation == "DescribeTrainingJob") > 0 && h.Server.Job(submitted.RunId)!.Describes > 3, "polls past the throttling");
        h.Server.SetStatus(submitted.RunId, "Completed");
        Assert.Equal(LaunchJobState.Finished, (await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed)).State);
    }

    [Fact]
    public async Task PollsSlowDownWhileNothingChanges()
    {
        await using var h = new AwsHarness();
        await h.QueueAsync();
        var submitted = await h.SubmitAsync();
        // First poll after 100 ms, doubling to 400 ms: over 2.4 s about 9 polls, where a fixed 100 ms would make 24.
        h.StartAgent(polling: AwsHarness.FastPolling with { First = TimeSpan.FromMilliseconds(100), Cap = TimeSpan.FromMilliseconds(400) });
        await h.StateAsync(submitted.Id, LaunchJobState.Running);
        var before = h.Server.Job(submitted.RunId)!.Describes;
        await Task.Delay(2400);
        var polls = h.Server.Job(submitted.RunId)!.Describes - before;
        Assert.InRange(polls, 2, 12);
    }

    [Fact]
    public async Task ACreateWhoseAnswerWasLostIsFollowedNotFailed()
    {
        await using var h = new AwsHarness();
        h.Server.LoseAnswer("CreateTrainingJob");
        await h.QueueAsync();
        var submitted = await h.SubmitAsync();
        h.StartAgent();
        var running = await h.StateAsync(submitted.Id, LaunchJobState.Running, LaunchJobState.Failed);
        Assert.Equal(LaunchJobState.Running, running.State);
        Assert.Equal(2, h.Server.CallsOf("CreateTrainingJob"));
        Assert.Single(h.Server.Jobs);
        h.Server.SetStatus(submitted.RunId, "Completed");
        Assert.Equal(LaunchJobState.Finished, (await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed)).State);
        Assert.Contains("already exists for this launch job", h.Log(running));
    }

    [Fact]
    public async Task ExpiredCredentialsFailTheJobSayingToRenewThemAndCreateNothing()
    {
        await using var h = new AwsHarness();
        h.Server.Expire(AwsHarness.AccessKey);
        await h.QueueAsync();
        var submitted = await h.SubmitAsync();
        h.StartAgent();
        var failed = await h.StateAsync(submitted.Id, LaunchJobState.Failed, LaunchJobState.Running);
        Assert.Equal(LaunchJobState.Failed, failed.State);
        Assert.Equal(FailureStage.Agent, failed.FailureStage);
        Assert.Contains("ExpiredToken", failed.FailureMessage);
        Assert.Contains("renew the credentials", failed.FailureMessage);
        Assert.DoesNotContain(AwsHarness.SessionToken, failed.FailureMessage);
        Assert.Empty(h.Server.Jobs);
    }

    [Fact]
    public async Task TheRegionOfAnAwsEnvironmentWinsOverAwsRegionAndNoRegionAtAllFailsTheJobSayingWhereToSetIt()
    {
        await using var h = new AwsHarness("eu-west-1");
        h.Env["AWS_REGION"] = "us-east-1";
        await h.QueueAsync();
        var submitted = await h.SubmitAsync();
        await using (var agent = h.StartAgent(environment: new Config.EnvironmentSettings { Type = "aws", Region = "eu-west-1" }))
        {
            var running = await h.StateAsync(submitted.Id, LaunchJobState.Running, LaunchJobState.Failed);
            Assert.Equal($"eu-west-1/{submitted.RunId}", running.Handle);
            h.Server.SetStatus(submitted.RunId, "Completed");
            await h.StateAsync(submitted.Id, LaunchJobState.Finished);
        }

        h.Env.TryRemove("AWS_REGION", out _);
        var second = await h.SubmitAsync();
        h.StartAgent(environment: new Config.EnvironmentSettings { Type = "gcp", Region = "us-central1" });
        var failed = await h.StateAsync(second.Id, LaunchJobState.Failed, LaunchJobState.Running);
        Assert.Equal(LaunchJobState.Failed, failed.State);
        Assert.Contains("SageMaker jobs need an AWS region", failed.FailureMessage);
        Assert.Single(h.Server.Jobs);
    }

    [Fact]
    public async Task CredentialsThatExpireWhileAJobRunsLeaveItRunningWithAWarningUntilAwsAnswersAgain()
    {
        await using var h = new AwsHarness();
        await h.QueueAsync();
        var submitted = await h.SubmitAsync();
        h.StartAgent();
        await h.StateAsync(submitted.Id, LaunchJobState.Running);

        h.Server.Expire(AwsHarness.AccessKey);
        var warned = await Eventually.Until(async () => (await h.JobAsync(submitted.Id)) is { Warnings.Count: > 0 } j ? j : null, "a warning on the job");
        Assert.Equal(LaunchJobState.Running, warned.State);
        Assert.Contains("renew the credentials", warned.Warnings[^1].Message);
        Assert.DoesNotContain(AwsHarness.SessionToken, warned.Warnings[^1].Message);

        h.Server.Renew(AwsHarness.AccessKey);
        h.Server.SetStatus(submitted.RunId, "Completed");
        Assert.Equal(LaunchJobState.Finished, (await h.StateAsync(submitted.Id, LaunchJobState.Finished, LaunchJobState.Failed)).State);
    }
}
