using System.Globalization;
using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Runners.LocalContainer;

/// <summary>A job's container: its output streams to the job log; its exit code decides the outcome; it is removed at the end.</summary>
internal sealed class RunningContainer : IRunningJob
{
    private readonly DockerClient _client;
    private readonly string _id;
    private readonly JobLog _log;
    private readonly CancellationTokenSource _detach = new();
    private volatile bool _cancelled;

    public RunningContainer(DockerClient client, string id, JobLog log, DateTimeOffset? since)
    {
        _client = client;
        _id = id;
        _log = log;
        Handle = id;
        Description = $"container {id[..Math.Min(12, id.Length)]}";
        Completion = WatchAsync(since);
    }

    public string Handle { get; }

    public string Description { get; }

    public Task Started => Task.CompletedTask;

    public Task<JobOutcome> Completion { get; }

    public bool CanDetach => true;

    public async Task DetachAsync()
    {
        await _detach.CancelAsync().ConfigureAwait(false);
        await Completion.ConfigureAwait(false);
    }

    private async Task<JobOutcome> WatchAsync(DateTimeOffset? since)
    {
        var logs = FollowLogsAsync(since);
        ContainerWaitResponse wait;
        try
        {
            wait = await _client.Containers.WaitContainerAsync(_id, _detach.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_detach.IsCancellationRequested)
        {
            // Left running for a later agent: stop reading its output, remove nothing.
            await logs.ConfigureAwait(false);
            _log.Agent($"stopped following {Description}; it keeps running");
            return JobOutcome.Stopped($"stopped following {Description}; it keeps running");
        }
        await logs.ConfigureAwait(false);
        var code = (int)wait.StatusCode;
        await LocalContainerRunner.RemoveAsync(_client, _id).ConfigureAwait(false);
        _log.Agent($"{Description} exited with code {code} and was removed");
        if (_cancelled) return JobOutcome.Stopped("Stopped on request; its container was stopped and removed.");
        if (code == 0) return JobOutcome.Finished();
        return JobOutcome.Failed(FailureStage.Run, _log.ExitFailure("container", code), code);
    }

    private async Task FollowLogsAsync(DateTimeOffset? since)
    {
        try
        {
            var parameters = new ContainerLogsParameters { Follow = true, ShowStdout = true, ShowStderr = true };
            if (since is { } s) parameters.Since = s.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
            using var stream = await _client.Containers.GetContainerLogsAsync(_id, tty: false, parameters, _detach.Token).ConfigureAwait(false);
            var buffer = new byte[8192];
            var lines = new Dictionary<MultiplexedStream.TargetStream, StringBuilder>();
            while (true)
            {
                var read = await stream.ReadOutputAsync(buffer, 0, buffer.Length, _detach.Token).ConfigureAwait(false);
                if (read.EOF) break;
                if (!lines.TryGetValue(read.Target, out var pending)) lines[read.Target] = pending = new StringBuilder();
                pending.Append(Encoding.UTF8.GetString(buffer, 0, read.Count));
                var text = pending.ToString();
                var end = text.LastIndexOf('\n');
                if (end < 0) continue;
                foreach (var line in text[..end].Split('\n')) _log.Output(line.TrimEnd('\r'));
                pending.Clear().Append(text[(end + 1)..]);
            }
            foreach (var rest in lines.Values.Where(b => b.Length > 0)) _log.Output(rest.ToString());
        }
        catch (DockerContainerNotFoundException)
        {
            // Removed before its logs were read.
        }
        catch (OperationCanceledException) when (_detach.IsCancellationRequested)
        {
            // Detached: a later agent follows the output from here.
        }
    }

    /// <summary>
    /// <c>docker stop -t</c>: the engine sends the container's stop signal (SIGTERM unless its image sets another) and
    /// kills it <paramref name="grace"/> later (whole seconds, rounded up).
    /// </summary>
    public async Task CancelAsync(TimeSpan grace)
    {
        _cancelled = true;
        var seconds = (uint)Math.Min(Math.Ceiling(Math.Max(grace.TotalSeconds, 0)), int.MaxValue);
        try
        {
            _log.Agent($"stopping {Description}: its stop signal now, killed if it still runs {seconds} s later");
        }
        catch (ObjectDisposedException)
        {
            // The job ended and its log was closed meanwhile.
        }
        try
        {
            await _client.Containers.StopContainerAsync(_id, new ContainerStopParameters { WaitBeforeKillSeconds = seconds }, CancellationToken.None).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
        }
    }
}
