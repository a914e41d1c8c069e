using System.Diagnostics;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Runners.LocalProcess;

/// <summary>A job running as a local process: its output goes to the job log; its exit code decides the outcome.</summary>
internal sealed class RunningProcess : IRunningJob
{
    private readonly Process _process;
    private readonly JobLog _log;
    private static readonly TimeSpan OutputDrainTime = TimeSpan.FromSeconds(2);
    private volatile bool _cancelled;

    public RunningProcess(Process process, JobLog log)
    {
        _process = process;
        _log = log;
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
        if (_cancelled) return JobOutcome.Stopped("Stopped on request; its process tree was killed.");
        if (code == 0) return JobOutcome.Finished();
        var tail = _log.Tail();
        var message = tail.Count == 0
            ? $"The process exited with code {code} and wrote no output."
            : $"The process exited with code {code}; its last output: {tail[^1]}\n" + string.Join('\n', tail.TakeLast(10));
        return JobOutcome.Failed(FailureStage.Run, message, code);
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

    public Task CancelAsync()
    {
        _cancelled = true;
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
        return Task.CompletedTask;
    }
}
