using System.Diagnostics;
using WandbLaunch.Engine.Cloud.Aws;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Runners.SageMaker;

/// <summary>
/// Copies a training job's output from CloudWatch Logs into its job log, a little at each of the runner's polls (no
/// timer of its own). W&amp;B's <c>runner/sagemaker_runner.py</c> (<c>get_logs</c>) reads only the first stream named
/// after the job, once, when the job has failed; this follows every stream of the job (<c>&lt;job&gt;/algo-&lt;n&gt;-&lt;epoch&gt;</c>,
/// one per instance) in name order while it runs, so output of a multi-instance job is not lost. The forward token of
/// each stream is kept in memory, so no event is written twice while the agent follows the job. An agent that
/// re-attaches reads from <c>startTime</c> = a minute before the log's last output (the same cursor the Kubernetes
/// runner uses): up to a minute of output may repeat, and none is lost unless CloudWatch took longer than that to
/// take it in. A message of several lines becomes several output lines; secrets are redacted by the log as for any
/// output. CloudWatch failing (no permission, no log group yet, throttling) is a warning on the job at most once and
/// never fails it; after AccessDenied the output is not asked for again.
/// </summary>
internal sealed class TrainingJobOutput
{
    /// <summary>
    /// The longest wait between two listings of the job's streams while they are missing (DescribeLogStreams allows 5
    /// calls a second per account and region, shared by every job): the listings back off from the first poll's
    /// interval to this, so 200 jobs whose output has not started yet list fewer than 2 a second.
    /// </summary>
    private readonly TimeSpan _lookCap;

    /// <summary>The wait before the next listing while streams are missing; grows to <see cref="_lookCap"/>.</summary>
    private TimeSpan _lookDelay = TimeSpan.Zero;

    /// <summary>GetLogEvents pages read per stream at one poll; the rest follows at the next (a page holds up to 1 MB).</summary>
    private const int MaxPagesPerPoll = 10;

    /// <summary>How far before the log's last output a re-attaching agent starts reading again.</summary>
    public static readonly TimeSpan ReattachOverlap = TimeSpan.FromMinutes(1);

    private readonly AwsClient _client;
    private readonly string _job;
    private readonly JobLog _log;
    private readonly Action<string> _warn;
    private readonly long? _startTime;
    private readonly List<string> _streams = [];
    private readonly Dictionary<string, string?> _tokens = new(StringComparer.Ordinal);
    private readonly Stopwatch _sinceStreams = new();
    private readonly TimeSpan _lookFirst;
    private bool _warned;
    private bool _denied;

    // startTime: for a re-attached job, read events from this time on (ms since the epoch); null reads from the head.
    // lookFirst, lookCap: the first and the longest wait between listings of the job's streams while they are missing.
    public TrainingJobOutput(AwsClient client, string job, JobLog log, Action<string> warn, long? startTime, TimeSpan lookFirst, TimeSpan lookCap)
    {
        _lookFirst = lookFirst;
        _lookCap = lookCap;
        _client = client;
        _job = job;
        _log = log;
        _warn = warn;
        _startTime = startTime;
    }

    /// <summary>Whether some stream of the job was found.</summary>
    public bool Found => _streams.Count > 0;

    /// <summary>The start time for a re-attach to the job whose log is at <paramref name="logPath"/>; null (the head) when it has no log.</summary>
    public static long? ReattachStart(string logPath) =>
        JobLog.LastOutputUtc(logPath) is { } last ? new DateTimeOffset(last - ReattachOverlap).ToUnixTimeMilliseconds() : null;

    /// <summary>
    /// Writes what the job's streams gained since the last call. The streams are looked for until there is one per
    /// instance (<paramref name="instances"/>; when 0, unknown: always, as a stream may still come), with a wait that
    /// grows while they are missing, and at the <paramref name="final"/> call, after the job ended.
    /// </summary>
    public async Task ReadAsync(int instances, bool final, CancellationToken cancellationToken)
    {
        if (_denied) return;
        try
        {
            var missing = instances > 0 ? _streams.Count < instances : true;
            if (missing && (final || !_sinceStreams.IsRunning || _sinceStreams.Elapsed >= _lookDelay))
            {
                // Each listing waits longer before the next (also when it fails: no log group yet); a new stream starts the waits again.
                var before = _streams.Count;
                _lookDelay = Min(_lookCap, _lookDelay == TimeSpan.Zero ? _lookFirst : _lookDelay * 2);
                _sinceStreams.Restart();
                await FindStreamsAsync(cancellationToken).ConfigureAwait(false);
                if (_streams.Count > before) _lookDelay = _lookFirst;
            }
            var prefixed = instances > 1 || _streams.Count > 1;
            foreach (var stream in _streams) await ReadStreamAsync(stream, prefixed, cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            // The log was closed (the agent is leaving the job): what is left is read by the agent that re-attaches.
        }
        catch (AwsException e) when (e.ErrorId == "AwsResourceNotFound")
        {
            // The log group appears with the account's first training job that writes anything: nothing to read yet.
        }
        catch (AwsException e) when (e.ErrorId == "AwsAccessDenied")
        {
            _denied = true;
            Warn($"the job's output cannot be read from CloudWatch Logs ({CloudWatchLogs.TrainingJobsGroup}), so the job log holds only the agent's notes: {e.Message}");
        }
        catch (LaunchException e) when (!cancellationToken.IsCancellationRequested)
        {
            Warn($"reading the job's output from CloudWatch Logs failed (the agent tries again at its next poll): {e.Message}");
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private void Warn(string message)
    {
        if (_warned) return;
        _warned = true;
        _warn(message);
    }

    private async Task FindStreamsAsync(CancellationToken cancellationToken)
    {
        var names = await CloudWatchLogs.StreamNamesAsync(_client, CloudWatchLogs.TrainingJobsGroup, _job + "/", cancellationToken).ConfigureAwait(false);
        foreach (var name in names)
        {
            if (_tokens.ContainsKey(name)) continue;
            _tokens[name] = null;
            _streams.Add(name);
            _log.Agent($"following CloudWatch log stream {CloudWatchLogs.TrainingJobsGroup}/{name}");
        }
    }

    private async Task ReadStreamAsync(string stream, bool prefixed, CancellationToken cancellationToken)
    {
        for (var page = 0; page < MaxPagesPerPoll; page++)
        {
            var token = _tokens[stream];
            var answer = await CloudWatchLogs.EventsAsync(_client, CloudWatchLogs.TrainingJobsGroup, stream, token, _startTime, cancellationToken).ConfigureAwait(false);
            foreach (var e in answer.Events) Write(prefixed ? Instance(stream) : null, e.Message);
            if (answer.NextForwardToken is { } next) _tokens[stream] = next;
            // The same token back means nothing more for now.
            if (answer.NextForwardToken is null || answer.NextForwardToken == token || answer.Events.Count == 0) return;
        }
    }

    /// <summary>The instance part of a stream's name (<c>algo-2-1712345678</c> → <c>algo-2</c>), which prefixes its lines when the job runs on several.</summary>
    private string Instance(string stream)
    {
        var rest = stream.Length > _job.Length + 1 ? stream[(_job.Length + 1)..] : stream;
        var dash = rest.LastIndexOf('-');
        return dash > 0 && rest[(dash + 1)..].All(char.IsAsciiDigit) ? rest[..dash] : rest;
    }

    private void Write(string? instance, string message)
    {
        foreach (var line in message.TrimEnd('\n', '\r').Split('\n'))
        {
            var text = line.TrimEnd('\r');
            _log.Output(instance is null ? text : $"[{instance}] {text}");
        }
    }
}
