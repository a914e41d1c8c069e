using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.AwsTests;

/// <summary>
/// A SageMaker training job's output, which SageMaker writes to CloudWatch Logs (/aws/sagemaker/TrainingJobs, a stream
/// <c>&lt;job&gt;/algo-&lt;n&gt;-&lt;epoch&gt;</c> per instance), reaches the job log while the agent polls the job. W&amp;B's
/// runner/sagemaker_runner.py (SagemakerSubmittedRun.get_logs) reads the same group and stream prefix, only once the
/// job has failed; ours follows them (docs/differences-from-wandb.md).
/// </summary>
public sealed class SageMakerJobOutputTests
{
    private static string Stream(string job, int instance = 1) => $"{job}/algo-{instance}-1712345678";

    private static List<string> Output(AwsHarness h, LaunchJob job) =>
        h.Log(job).Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith("[agent] ", StringComparison.Ordinal)).ToList();

    private static async Task<LaunchJob> RunningAsync(AwsHarness h, int instances = 1)
    {
        await h.QueueAsync(config: AwsHarness.QueueConfig.Replace("\"InstanceCount\": 1", $"\"InstanceCount\": {instances}"));
        var submitted = await h.SubmitAsync();
        h.StartAgent();
        return await h.StateAsync(submitted.Id, LaunchJobState.Running);
    }

    private static Task UntilOutputAsync(AwsHarness h, LaunchJob job, string line) =>
        Eventually.Until(() => Output(h, job).Contains(line), $"'{line}' in the job log");

    [Fact]
    public async Task OutputReachesTheJobLogInOrderAcrossSeveralPollsWithoutDuplicates()
    {
        await using var h = new AwsHarness();
        var job = await RunningAsync(h);
        h.Server.AppendLog(Stream(job.RunId), "epoch 1 loss 0.9", "epoch 2 loss 0.7");
        await UntilOutputAsync(h, job, "epoch 2 loss 0.7");
        var streamLookups = h.Server.CallsOf("DescribeLogStreams");
        var describes = h.Server.Job(job.RunId)!.Describes;
        await Eventually.Until(() => h.Server.Job(job.RunId)!.Describes > describes + 2, "more polls with nothing new");
        h.Server.AppendLog(Stream(job.RunId), "epoch 3 loss 0.5\n", "line one\nline two");
        await UntilOutputAsync(h, job, "line two");
        h.Server.SetStatus(job.RunId, "Completed");
        var finished = await h.StateAsync(job.Id, LaunchJobState.Finished, LaunchJobState.Failed);

        Assert.Equal(LaunchJobState.Finished, finished.State);
        Assert.Equal(["epoch 1 loss 0.9", "epoch 2 loss 0.7", "epoch 3 loss 0.5", "line one", "line two"], Output(h, finished));
        Assert.Contains($"following CloudWatch log stream /aws/sagemaker/TrainingJobs/{Stream(job.RunId)}", h.Log(finished));
        // One instance, one stream: once found, the streams are not listed again (DescribeLogStreams: 5 calls/s per account).
        Assert.Equal(streamLookups, h.Server.CallsOf("DescribeLogStreams"));
        // Each poll after the first read goes on from the stream's forward token, with startFromHead as W&B sends it.
        var reads = h.Server.Calls.Where(c => c.Operation == "GetLogEvents").Select(c => c.Body).ToList();
        Assert.All(reads, r => Assert.True(r["startFromHead"]!.GetValue<bool>()));
        Assert.Null(reads[0]["nextToken"]);
        Assert.All(reads.Skip(1), r => Assert.NotNull(r["nextToken"]));
        Assert.All(h.Server.Calls.Where(c => c.Operation == "DescribeLogStreams"),
            c => Assert.Equal(job.RunId + "/", c.Body["logStreamNamePrefix"]!.GetValue<string>()));
        Assert.Empty(h.Server.Rejections);
    }

    [Fact]
    public async Task MoreOutputThanOnePageIsReadPageByPageInOrder()
    {
        await using var h = new AwsHarness();
        h.Server.LogEventsPageSize = 3;
        var job = await RunningAsync(h);
        var lines = Enumerable.Range(1, 8).Select(i => $"step {i}").ToArray();
        h.Server.AppendLog(Stream(job.RunId), lines);
        await UntilOutputAsync(h, job, "step 8");
        h.Server.SetStatus(job.RunId, "Completed");
        var finished = await h.StateAsync(job.Id, LaunchJobState.Finished, LaunchJobState.Failed);
        Assert.Equal(lines, Output(h, finished));
    }

    [Fact]
    public async Task EveryInstancesStreamIsFollowedEachLinePrefixedWithItsInstance()
    {
        await using var h = new AwsHarness();
        var job = await RunningAsync(h, instances: 2);
        h.Server.AppendLog(Stream(job.RunId, 1), "host 1 ready");
        await UntilOutputAsync(h, job, "[algo-1] host 1 ready");
        // The second instance's stream appears later; the streams are listed until there is one per instance.
        h.Server.AppendLog(Stream(job.RunId, 2), "host 2 ready");
        await UntilOutputAsync(h, job, "[algo-2] host 2 ready");
        h.Server.SetStatus(job.RunId, "Completed");
        var finished = await h.StateAsync(job.Id, LaunchJobState.Finished, LaunchJobState.Failed);
        Assert.Equal(["[algo-1] host 1 ready", "[algo-2] host 2 ready"], Output(h, finished));
    }

    [Fact]
    public async Task ASecretInTheOutputIsRedactedInTheLog()
    {
        await using var h = new AwsHarness();
        var job = await RunningAsync(h);
        h.Server.AppendLog(Stream(job.RunId), $"WANDB_API_KEY={AwsHarness.ApiKey}", "done");
        await UntilOutputAsync(h, job, "done");
        Assert.Contains("WANDB_API_KEY=***", Output(h, job));
        Assert.DoesNotContain(AwsHarness.ApiKey, h.Log(job));
    }

    [Fact]
    public async Task NoLogGroupOrStreamYetIsNoWarningAndTheOutputFollowsOnceItAppears()
    {
        await using var h = new AwsHarness();
        var job = await RunningAsync(h);
        // No log group at all yet (ResourceNotFoundException), then a group without the job's stream.
        await Eventually.Until(() => h.Server.CallsOf("DescribeLogStreams") >= 2, "reads of the missing log group");
        h.Server.CreateLogGroup();
        var described = h.Server.CallsOf("DescribeLogStreams");
        await Eventually.Until(() => h.Server.CallsOf("DescribeLogStreams") >= described + 2, "reads of the group without the stream");
        Assert.Empty(Output(h, job));

        h.Server.AppendLog(Stream(job.RunId), "started at last");
        await UntilOutputAsync(h, job, "started at last");
        h.Server.SetStatus(job.RunId, "Completed");
        var finished = await h.StateAsync(job.Id, LaunchJobState.Finished, LaunchJobState.Failed);
        Assert.Equal(LaunchJobState.Finished, finished.State);
        Assert.Empty(finished.Warnings);
        Assert.DoesNotContain("warning", h.Log(finished));
    }

    [Fact]
    public async Task WhileTheJobsStreamIsMissingTheListingsBackOffToFourStatusIntervals()
    {
        // DescribeLogStreams allows 5 calls a second per account: 200 jobs whose output has not started must not list
        // their streams at every status poll (the Cloud runners bench counted 6.7 a second before this back-off).
        await using var h = new AwsHarness();
        var job = await RunningAsync(h);
        // No log group yet (ResourceNotFoundException, as in an account's first training job), then a group without the stream.
        await AssertListingsBackOffAsync(h, job, "no log group");
        h.Server.CreateLogGroup();
        await AssertListingsBackOffAsync(h, job, "no stream in the group");

        // A stream that appears is still found, and followed.
        h.Server.AppendLog(Stream(job.RunId), "output at last");
        await UntilOutputAsync(h, job, "output at last");
    }

    private static async Task AssertListingsBackOffAsync(AwsHarness h, LaunchJob job, string what)
    {
        var describes = h.Server.Job(job.RunId)!.Describes;
        var listings = h.Server.CallsOf("DescribeLogStreams");
        await Eventually.Until(() => h.Server.Job(job.RunId)!.Describes >= describes + 16, "sixteen more status polls");
        var moreListings = h.Server.CallsOf("DescribeLogStreams") - listings;
        var morePolls = h.Server.Job(job.RunId)!.Describes - describes;
        Assert.True(moreListings * 2 <= morePolls, $"{what}: {moreListings} listings over {morePolls} status polls: the listings did not back off");
    }

    [Fact]
    public async Task WithoutPermissionToReadTheLogsTheJobGetsOneWarningAndStillFinishes()
    {
        await using var h = new AwsHarness();
        h.Server.DenyLogs = true;
        var job = await RunningAsync(h);
        h.Server.AppendLog(Stream(job.RunId), "unseen");
        var warned = await Eventually.Until(async () => (await h.JobAsync(job.Id)) is { Warnings.Count: > 0 } j ? j : null, "a warning on the job");
        var describes = h.Server.Job(job.RunId)!.Describes;
        await Eventually.Until(() => h.Server.Job(job.RunId)!.Describes > describes + 2, "more polls");
        h.Server.SetStatus(job.RunId, "Completed");
        var finished = await h.StateAsync(job.Id, LaunchJobState.Finished, LaunchJobState.Failed);

        Assert.Equal(LaunchJobState.Finished, finished.State);
        var warning = Assert.Single(finished.Warnings);
        Assert.Contains("CloudWatch Logs", warning.Message);
        Assert.Contains("AccessDeniedException", warning.Message);
        Assert.Contains("logs:DescribeLogStreams", warning.Message);
        // Denied once, not asked again.
        Assert.Equal(1, h.Server.CallsOf("DescribeLogStreams"));
        Assert.Empty(Output(h, finished));
    }

    [Fact]
    public async Task AFailedJobsFailureNamesItsLastOutputEvenWhatItWroteJustBeforeItEnded()
    {
        await using var h = new AwsHarness();
        var job = await RunningAsync(h);
        h.Server.AppendLog(Stream(job.RunId), "Traceback (most recent call last):", "  File \"train.py\", line 12");
        await UntilOutputAsync(h, job, "  File \"train.py\", line 12");
        // Written as the job ended: only the read after the last poll sees it.
        h.Server.AppendLog(Stream(job.RunId), "RuntimeError: CUDA out of memory");
        h.Server.SetStatus(job.RunId, "Failed", "AlgorithmError: ExecuteUserScriptError: exit code 1");
        var failed = await h.StateAsync(job.Id, LaunchJobState.Failed, LaunchJobState.Finished);

        Assert.Equal(LaunchJobState.Failed, failed.State);
        Assert.Equal(
            "AlgorithmError: ExecuteUserScriptError: exit code 1\nIts last output:\nTraceback (most recent call last):\n  File \"train.py\", line 12\nRuntimeError: CUDA out of memory",
            failed.FailureMessage);
    }

    // An agent that re-attaches reads from a minute before the log's last output (TrainingJobOutput.ReattachOverlap):
    // what the job wrote before that is not written again, what it wrote in that minute is, and nothing is lost.
    [Fact]
    public async Task AfterAReAttachOnlyTheLastMinuteBeforeTheFirstAgentLeftIsWrittenAgain()
    {
        await using var h = new AwsHarness();
        await h.QueueAsync();
        var submitted = await h.SubmitAsync();
        var first = h.StartAgent(leaveJobsRunning: true, name: "first");
        var job = await h.StateAsync(submitted.Id, LaunchJobState.Running);
        h.Server.AppendLogAt(Stream(job.RunId), DateTimeOffset.UtcNow.AddMinutes(-10), "old 1", "old 2");
        h.Server.AppendLogAt(Stream(job.RunId), DateTimeOffset.UtcNow.AddSeconds(-5), "recent");
        await UntilOutputAsync(h, job, "recent");
        await first.Cancellation.CancelAsync();
        await first.DisposeAsync();
        h.Server.AppendLog(Stream(job.RunId), "while no agent followed");

        h.StartAgent(name: "second");
        await UntilOutputAsync(h, job, "while no agent followed");
        h.Server.AppendLog(Stream(job.RunId), "after the re-attach");
        await UntilOutputAsync(h, job, "after the re-attach");
        h.Server.SetStatus(job.RunId, "Completed");
        var finished = await h.StateAsync(job.Id, LaunchJobState.Finished, LaunchJobState.Failed);

        Assert.Equal(["old 1", "old 2", "recent", "recent", "while no agent followed", "after the re-attach"], Output(h, finished));
    }
}
