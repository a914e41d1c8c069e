using System.Text.Json.Nodes;

namespace WandbLaunch.Engine.Cloud.Aws;

/// <summary>One event of a CloudWatch log stream: when the job wrote it (ms since the epoch) and what.</summary>
public sealed record LogEvent(long Timestamp, string Message);

/// <summary>A page of GetLogEvents: its events, oldest first, and the token that reads on from after them.</summary>
public sealed record LogEventsPage(IReadOnlyList<LogEvent> Events, string? NextForwardToken);

/// <summary>
/// The two CloudWatch Logs reads the agent needs to follow a SageMaker training job's output, as W&amp;B's
/// <c>runner/sagemaker_runner.py</c> (<c>SagemakerSubmittedRun.get_logs</c>) does: DescribeLogStreams by name prefix
/// and GetLogEvents forward from the head, over the signed JSON 1.1 <see cref="AwsClient"/>. Failures are
/// <see cref="AwsException"/>s (ResourceNotFoundException → <c>AwsResourceNotFound</c>, AccessDeniedException →
/// <c>AwsAccessDenied</c>).
/// </summary>
public static class CloudWatchLogs
{
    /// <summary>Where SageMaker writes every training job's output: one stream per instance, <c>&lt;job&gt;/algo-&lt;n&gt;-&lt;epoch&gt;</c>.</summary>
    public const string TrainingJobsGroup = "/aws/sagemaker/TrainingJobs";

    /// <summary>Pages of DescribeLogStreams read at most in one call (50 streams a page): a job has one stream per instance.</summary>
    private const int MaxStreamPages = 20;

    /// <summary>The names of the streams in <paramref name="group"/> that start with <paramref name="prefix"/>, in name order.</summary>
    public static async Task<IReadOnlyList<string>> StreamNamesAsync(AwsClient client, string group, string prefix, CancellationToken cancellationToken)
    {
        var names = new List<string>();
        string? token = null;
        for (var page = 0; page < MaxStreamPages; page++)
        {
            var request = new JsonObject { ["logGroupName"] = group, ["logStreamNamePrefix"] = prefix };
            if (token is not null) request["nextToken"] = token;
            var answer = await client.CallJsonAsync(AwsService.CloudWatchLogs, "DescribeLogStreams", request, cancellationToken).ConfigureAwait(false);
            foreach (var stream in answer["logStreams"] as JsonArray ?? [])
            {
                if (Text(stream?["logStreamName"]) is { Length: > 0 } name) names.Add(name);
            }
            token = Text(answer["nextToken"]);
            if (token is null) break;
        }
        return names;
    }

    /// <summary>
    /// One page of <paramref name="stream"/>'s events, oldest first: from <paramref name="nextToken"/> when given, else
    /// from the head (from <paramref name="startTime"/>, ms since the epoch, when given). The answer's token is the same
    /// as the one sent when nothing new has arrived.
    /// </summary>
    public static async Task<LogEventsPage> EventsAsync(AwsClient client, string group, string stream, string? nextToken, long? startTime, CancellationToken cancellationToken)
    {
        var request = new JsonObject { ["logGroupName"] = group, ["logStreamName"] = stream, ["startFromHead"] = true };
        if (nextToken is not null) request["nextToken"] = nextToken;
        else if (startTime is { } start) request["startTime"] = start;
        var answer = await client.CallJsonAsync(AwsService.CloudWatchLogs, "GetLogEvents", request, cancellationToken).ConfigureAwait(false);
        var events = new List<LogEvent>();
        foreach (var e in answer["events"] as JsonArray ?? [])
        {
            var timestamp = e?["timestamp"] is JsonValue t && t.TryGetValue<long>(out var ms) ? ms : 0;
            events.Add(new LogEvent(timestamp, Text(e?["message"]) ?? ""));
        }
        return new LogEventsPage(events, Text(answer["nextForwardToken"]));
    }

    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}
