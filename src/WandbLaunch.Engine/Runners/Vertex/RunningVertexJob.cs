using System.Text.Json.Nodes;
using WandbLaunch.Engine.Cloud.Google;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Runners.Vertex;

/// <summary>
/// A CustomJob followed by polling GetCustomJob (<see cref="VertexPolling"/>). States: QUEUED and PENDING →
/// starting; RUNNING → started; SUCCEEDED → finished; FAILED → failed with the service's <c>error.message</c>;
/// EXPIRED → failed; CANCELLED → stopped (on this agent's request, or from outside: W&amp;B maps it to "unknown" and
/// never ends the run, which would leave the launch job running forever); CANCELLING, PAUSED, UPDATING → keep
/// waiting. A CustomJob that disappears (404) ends the job. Failed reads are tried again with back-off.
/// </summary>
internal sealed class RunningVertexJob : IRunningJob
{
    private readonly GoogleApiClient _client;
    private readonly Uri _url;
    private readonly JobLog _log;
    private readonly Action<string> _warn;
    private readonly VertexPolling _polling;
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private CancellationTokenSource _wake = new();
    private readonly object _lock = new();
    private volatile bool _cancelRequested;
    private volatile bool _detached;
    private string? _lastState;

    public RunningVertexJob(GoogleApiClient client, Uri baseUrl, string name, JobLog log, Action<string> warn, VertexPolling polling, JsonObject? created)
    {
        _client = client;
        _url = new Uri(baseUrl, "v1/" + name);
        _log = log;
        _warn = warn;
        _polling = polling;
        Handle = name;
        Description = $"Vertex AI CustomJob {name}";
        if (created is not null) _lastState = State(created);
        Completion = Task.Run(MonitorAsync);
        Started = Task.WhenAny(_started.Task, Completion);
    }

    public string Handle { get; }

    public string Description { get; }

    public Task Started { get; }

    public Task<JobOutcome> Completion { get; }

    public bool CanDetach => true;

    /// <summary>GetCustomJob requests made so far (tests check the polling pace).</summary>
    public int Polls => Volatile.Read(ref _polls);

    private int _polls;

    private static string? State(JsonObject job) => job["state"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private async Task<JobOutcome> MonitorAsync()
    {
        var wait = _polling.First;
        var failures = 0;
        try
        {
            while (true)
            {
                if (_detached) return JobOutcome.Stopped($"stopped following {Handle}; it keeps running on Vertex AI");
                JsonObject job;
                try
                {
                    Interlocked.Increment(ref _polls);
                    job = await _client.SendAsync(HttpMethod.Get, _url, null, "Reading the Vertex AI CustomJob", _stop.Token).ConfigureAwait(false);
                    failures = 0;
                }
                catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                {
                    return JobOutcome.Stopped($"stopped following {Handle}; it keeps running on Vertex AI");
                }
                catch (GoogleApiException e) when (e.HttpStatus == 404)
                {
                    return _cancelRequested
                        ? JobOutcome.Stopped($"Stopped on request; {Handle} is gone.")
                        : JobOutcome.Failed(FailureStage.Run, $"{Handle} was deleted before it finished (not by this agent): {e.ServiceMessage}");
                }
                catch (LaunchException e)
                {
                    failures++;
                    if (failures == 1 || failures % 10 == 0) Note($"reading {Handle} failed ({e.Message}); trying again");
                    await SleepAsync(TimeSpan.FromTicks(Math.Min(_polling.Steady.Ticks, _polling.First.Ticks * (1L << Math.Min(failures, 6))))).ConfigureAwait(false);
                    continue;
                }
                if (Outcome(job) is { } outcome) return outcome;
                await SleepAsync(_cancelRequested ? _polling.AfterCancel : wait).ConfigureAwait(false);
                wait = _polling.Next(wait);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            return JobOutcome.Stopped($"stopped following {Handle}; it keeps running on Vertex AI");
        }
        catch (Exception e)
        {
            Note($"following {Handle} failed: {e.GetType().Name}: {e.Message}");
            return JobOutcome.Failed(FailureStage.Agent, $"The agent failed while following {Handle}: {e.Message}");
        }
        finally
        {
            _started.TrySetResult();
        }
    }

    private JobOutcome? Outcome(JsonObject job)
    {
        var state = State(job) ?? "JOB_STATE_UNSPECIFIED";
        var changed = state != _lastState;
        if (changed) Note($"{Handle} is {state}");
        _lastState = state;
        var error = job["error"]?["message"] is JsonValue m && m.TryGetValue<string>(out var message) && message.Length > 0 ? message : null;
        switch (state)
        {
            case "JOB_STATE_RUNNING":
                _started.TrySetResult();
                return null;
            case "JOB_STATE_SUCCEEDED":
                return JobOutcome.Finished();
            case "JOB_STATE_FAILED":
                return JobOutcome.Failed(FailureStage.Run, $"{Handle} failed: {error ?? "Vertex AI gave no reason"}. See {VertexRunner.ConsoleLink(Handle)}");
            case "JOB_STATE_EXPIRED":
                return JobOutcome.Failed(FailureStage.Run, $"{Handle} expired before it could run{(error is null ? "" : ": " + error)}.");
            case "JOB_STATE_CANCELLED":
                return JobOutcome.Stopped(_cancelRequested
                    ? $"Stopped on request; {Handle} was cancelled."
                    : $"{Handle} was cancelled outside this agent (in the console, gcloud or the API){(error is null ? "" : ": " + error)}.");
            case "JOB_STATE_PAUSED":
                if (changed) _warn($"{Handle} is paused; it ends only when resumed or cancelled.");
                return null;
            default:
                return null;
        }
    }

    private async Task SleepAsync(TimeSpan delay)
    {
        CancellationTokenSource wake;
        lock (_lock) wake = _wake;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(wake.Token, _stop.Token);
        try
        {
            await Task.Delay(delay, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            if (_stop.IsCancellationRequested) throw;
            lock (_lock)
            {
                if (ReferenceEquals(_wake, wake)) _wake = new CancellationTokenSource();
            }
        }
    }

    private void Wake()
    {
        lock (_lock) _wake.Cancel();
    }

    public async Task CancelAsync()
    {
        _cancelRequested = true;
        if (Completion.IsCompleted) return;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await _client.SendAsync(HttpMethod.Post, new Uri(_url + ":cancel"), new JsonObject(), "Cancelling the Vertex AI CustomJob", CancellationToken.None).ConfigureAwait(false);
                Note($"asked Vertex AI to cancel {Handle}");
                break;
            }
            catch (GoogleApiException e) when (e.HttpStatus is 400 or 404 or 409)
            {
                // FAILED_PRECONDITION: it has already ended; the next read says how.
                Note($"{Handle} cannot be cancelled ({e.Status}: {e.ServiceMessage})");
                break;
            }
            catch (LaunchException e) when (attempt < 4)
            {
                Note($"could not cancel {Handle}: {e.Message}; trying again");
                await Task.Delay(TimeSpan.FromSeconds(attempt)).ConfigureAwait(false);
            }
            catch (LaunchException e)
            {
                Note($"could not cancel {Handle}: {e.Message}; it may still run on Vertex AI");
                break;
            }
        }
        Wake();
    }

    public async Task DetachAsync()
    {
        _detached = true;
        Note($"stopped following {Handle}; it keeps running");
        await _stop.CancelAsync().ConfigureAwait(false);
        await Completion.ConfigureAwait(false);
    }

    private void Note(string line)
    {
        try
        {
            _log.Agent(line);
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
