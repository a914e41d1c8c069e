using WandbLaunch.Engine.Cloud.Aws;

namespace WandbLaunch.Engine.AwsTests;

/// <summary>
/// CloudWatch Logs' DescribeLogStreams and GetLogEvents as the agent calls them (W&amp;B's runner/sagemaker_runner.py
/// get_logs reads the same group and stream prefix), against the stand-in, which checks each request against botocore's
/// logs model and pages as the real service does.
/// </summary>
public sealed class CloudWatchLogsTests
{
    private const string Group = CloudWatchLogs.TrainingJobsGroup;

    [Fact]
    public async Task StreamsAreListedByPrefixAcrossPagesInNameOrder()
    {
        await using var h = new AwsHarness();
        using var client = h.Client();
        var expected = Enumerable.Range(1, 60).Select(i => $"train-1/algo-{i:D2}-1712345678").ToList();
        foreach (var name in expected.AsEnumerable().Reverse()) h.Server.AppendLog(name, "x");
        h.Server.AppendLog("train-10/algo-1-1712345678", "another job whose name starts alike");

        var names = await CloudWatchLogs.StreamNamesAsync(client, Group, "train-1/", CancellationToken.None);

        Assert.Equal(expected, names);
        // 50 streams a page: the second page was asked for with the first's token.
        Assert.Equal(2, h.Server.CallsOf("DescribeLogStreams"));
        Assert.Empty(h.Server.Rejections);
    }

    [Fact]
    public async Task EventsAreReadForwardAndTheSameTokenComesBackWhenNothingIsNew()
    {
        await using var h = new AwsHarness();
        h.Server.LogEventsPageSize = 2;
        using var client = h.Client();
        const string stream = "train-1/algo-1-1712345678";
        h.Server.AppendLog(stream, "a", "b", "c");

        var first = await CloudWatchLogs.EventsAsync(client, Group, stream, null, null, CancellationToken.None);
        var second = await CloudWatchLogs.EventsAsync(client, Group, stream, first.NextForwardToken, null, CancellationToken.None);
        var idle = await CloudWatchLogs.EventsAsync(client, Group, stream, second.NextForwardToken, null, CancellationToken.None);
        h.Server.AppendLog(stream, "d");
        var later = await CloudWatchLogs.EventsAsync(client, Group, stream, idle.NextForwardToken, null, CancellationToken.None);

        Assert.Equal(["a", "b"], first.Events.Select(e => e.Message));
        Assert.Equal(["c"], second.Events.Select(e => e.Message));
        Assert.Empty(idle.Events);
        Assert.Equal(second.NextForwardToken, idle.NextForwardToken);
        Assert.Equal(["d"], later.Events.Select(e => e.Message));
    }

    [Fact]
    public async Task AStartTimeSkipsEarlierEvents()
    {
        await using var h = new AwsHarness();
        using var client = h.Client();
        const string stream = "train-1/algo-1-1712345678";
        var now = DateTimeOffset.UtcNow;
        h.Server.AppendLogAt(stream, now.AddMinutes(-5), "before");
        h.Server.AppendLogAt(stream, now, "after");

        var page = await CloudWatchLogs.EventsAsync(client, Group, stream, null, now.AddMinutes(-1).ToUnixTimeMilliseconds(), CancellationToken.None);

        Assert.Equal(["after"], page.Events.Select(e => e.Message));
        Assert.Equal(now.ToUnixTimeMilliseconds(), page.Events[0].Timestamp);
    }

    [Fact]
    public async Task AMissingLogGroupAndADeniedReadAreTypedErrors()
    {
        await using var h = new AwsHarness();
        using var client = h.Client();

        var missing = await Assert.ThrowsAsync<AwsException>(() => CloudWatchLogs.StreamNamesAsync(client, Group, "train-1/", CancellationToken.None));
        Assert.Equal("AwsResourceNotFound", missing.ErrorId);
        Assert.Equal("ResourceNotFoundException", missing.Code);

        h.Server.DenyLogs = true;
        var denied = await Assert.ThrowsAsync<AwsException>(() => CloudWatchLogs.EventsAsync(client, Group, "train-1/algo-1-1", null, null, CancellationToken.None));
        Assert.Equal("AwsAccessDenied", denied.ErrorId);
        Assert.Contains("logs:GetLogEvents", denied.Message);
        Assert.DoesNotContain(AwsHarness.SecretKey, denied.Message);
    }
}
