using System.Diagnostics;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Runners.LocalProcess;

/// <summary>A job running as a local process: its output goes to the job log; its exit code decides the outcome.</summary>
internal sealed class RunningProcess : IRunningJob
{
    private readonly Process _process;
    private readonly JobLog _log;
    private static readonly TimeSpan OutputDrainTime = TimeSpan.FromSeconds(2);
    private readonly string _traceId;
    private readonly bool _ownGroup;
    private readonly int _pid;
    private volatile bool _cancelled;
    private int _stopStarted;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <param name="process">The job's process.</param>
    /// <param name="log">Where its output goes.</param>
    /// <param name="traceId">The job's id, in every process it starts as WANDB_LAUNCH_TRACE_ID.</param>
    /// <param name="ownGroup">Whether the process leads a session and process group of its own (see <see cref="ProcessGroup"/>).</param>
    public RunningProcess(Process process, JobLog log, string traceId, bool ownGroup)
    {
        _process = process;
        _log = log;
        _traceId = traceId;
        _ownGroup = ownGroup;
        _pid = process.Id;
        Handle = ProcessHandle.Of(process).ToString();
        Description = $"pid {process.Id}";
        _process.StandardInput.Close();
        Completion = WatchAsync();
    }

    public string Handle { get; }

    public string Description { get; }

    public Task Started => Task.CompletedTask;

    public Task<JobOutcome> Completion { get; }

    private async Task<JobOutcome> WatchAsync()
    {
        var stdout = PumpAsync(_process.StandardOutput);
        var stderr = PumpAsync(_process.StandardError);
        await _process.WaitForExitAsync().ConfigureAwait(false);
        // The exit decides the outcome. Output still open after it belongs to children the process left running in
        // the background (they inherited its stdout): take what is buffered, but do not wait for them to exit.
        await Task.WhenAny(Task.WhenAll(stdout, stderr), Task.Delay(OutputDrainTime)).ConfigureAwait(false);
        var code = _process.ExitCode;
        _process.Dispose();
        if (_cancelled)
        {
            // Its own end is not the job's: what it started may still be running until the stop has finished.
            await _stopped.Task.ConfigureAwait(false);
            return JobOutcome.Stopped("Stopped on request; its processes were ended.");
        }
        if (code == 0) return JobOutcome.Finished();
        return JobOutcome.Failed(FailureStage.Run, _log.ExitFailure("process", code), code);
    }

    private async Task PumpAsync(StreamReader reader)
    {
        try
        {
            while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line) _log.Output(line);
        }
        catch (ObjectDisposedException)
        {
            // The job ended and its log was closed while a background child still wrote.
        }
    }

    public Task CancelAsync(TimeSpan grace)
    {
        _cancelled = true;
        if (Interlocked.Exchange(ref _stopStarted, 1) == 0) _ = StopAsync(grace);
        return Task.CompletedTask;
    }

    /// <summary>SIGTERM to the job's group, SIGKILL after <paramref name="grace"/>, then its tree and anything with its trace id.</summary>
    private async Task StopAsync(TimeSpan grace)
    {
        try
        {
            if (_ownGroup)
            {
                _log.Agent($"sent SIGTERM to the job's processes; they get {grace.TotalSeconds:0.#} s to end before SIGKILL");
                var forced = await ProcessGroup.StopAsync(_pid, _traceId, grace).ConfigureAwait(false);
                if (forced) _log.Agent($"some of the job's processes ignored SIGTERM for {grace.TotalSeconds:0.#} s and were killed");
            }
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Already exited (or disposed once it did).
            }
            StrayProcesses.Kill(_traceId);
        }
        catch (ObjectDisposedException)
        {
            // The log closed as the job ended.
        }
        finally
        {
            _stopped.TrySetResult();
        }
    }
}
