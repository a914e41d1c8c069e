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
internal sealed class RunningVertexJob : PolledJob
{
    private readonly GoogleApiClient _client;
    private readonly Uri _url;
    private readonly VertexPolling _polling;
    private string? _lastState;

    public RunningVertexJob(GoogleApiClient client, Uri baseUrl, string name, JobLog log, Action<string> warn, VertexPolling polling, JsonObject? created)
        : base(name, $"Vertex AI CustomJob {name}", log, warn)
    {
        _client = client;
        _url = new Uri(baseUrl, "v1/" + name);
        _polling = polling;
        if (created is not null) _lastState = State(created);
        Begin();
    }

    /// <summary>GetCustomJob requests made so far (tests check the polling pace).</summary>
    public int Polls => Volatile.Read(ref _polls);

    private int _polls;

    protected override string DetachedMessage => $"stopped following {Handle}; it keeps running on Vertex AI";

    private static string? State(JsonObject job) => job["state"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    protected override async Task<JobOutcome> FollowAsync()
    {
        var wait = _polling.First;
        var failures = 0;
        while (true)
        {
            JsonObject job;
            try
            {
                Interlocked.Increment(ref _polls);
                job = await _client.SendAsync(HttpMethod.Get, _url, null, "Reading the Vertex AI CustomJob", Stopping).ConfigureAwait(false);
                failures = 0;
            }
            catch (GoogleApiException e) when (e.HttpStatus == 404)
            {
                return CancelRequested
                    ? JobOutcome.Stopped($"Stopped on request; {Handle} is gone.")
                    : JobOutcome.Failed(FailureStage.Run, $"{Handle} was deleted before it finished (not by this agent): {e.ServiceMessage}");
            }
            catch (LaunchException e) when (!Stopping.IsCancellationRequested)
            {
                failures++;
                if (failures == 1 || failures % 10 == 0) Note($"reading {Handle} failed ({e.Message}); trying again");
                await SleepAsync(TimeSpan.FromTicks(Math.Min(_polling.Steady.Ticks, _polling.First.Ticks * (1L << Math.Min(failures, 6))))).ConfigureAwait(false);
                continue;
            }
            if (Outcome(job) is { } outcome) return outcome;
            await SleepAsync(CancelRequested ? _polling.AfterCancel : wait).ConfigureAwait(false);
            wait = _polling.Next(wait);
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
                MarkStarted();
                return null;
            case "JOB_STATE_SUCCEEDED":
                return JobOutcome.Finished();
            case "JOB_STATE_FAILED":
                return JobOutcome.Failed(FailureStage.Run, $"{Handle} failed: {error ?? "Vertex AI gave no reason"}. See {VertexRunner.ConsoleLink(Handle)}");
            case "JOB_STATE_EXPIRED":
                return JobOutcome.Failed(FailureStage.Run, $"{Handle} expired before it could run{(error is null ? "" : ": " + error)}.");
            case "JOB_STATE_CANCELLED":
                return JobOutcome.Stopped(CancelRequested
                    ? $"Stopped on request; {Handle} was cancelled."
                    : $"{Handle} was cancelled outside this agent (in the console, gcloud or the API){(error is null ? "" : ": " + error)}.");
            case "JOB_STATE_PAUSED":
                if (changed) Warn($"{Handle} is paused; it ends only when resumed or cancelled.");
                return null;
            default:
                return null;
        }
    }

    public override async Task CancelAsync(TimeSpan grace)
    {
        MarkCancelRequested();
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
}
