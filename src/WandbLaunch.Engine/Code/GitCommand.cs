using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Code;

/// <summary>
/// Runs the git command line with an argument vector (no shell), never prompting: an agent or a script has nobody to
/// answer, so a remote that needs credentials fails instead of waiting. Cancelling kills git and its children.
/// </summary>
public static class GitCommand
{
    public readonly record struct Result(int ExitCode, string Output, string Error);

    // traceId goes to git as WANDB_LAUNCH_TRACE_ID, so that a later agent can find and end a git left behind by a dead one.
    /// <exception cref="LaunchException"><c>GitNotFound</c> when git cannot be started.</exception>
    public static async Task<Result> RunAsync(IReadOnlyList<string> arguments, string? workingDirectory, string? traceId, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo("git")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        info.Environment["GIT_TERMINAL_PROMPT"] = "0";
        info.Environment["GIT_ASKPASS"] = "";
        info.Environment["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes";
        if (traceId is not null) info.Environment["WANDB_LAUNCH_TRACE_ID"] = traceId;
        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (Win32Exception e)
        {
            throw new LaunchException("GitNotFound", LaunchErrorCategory.ResourceUnavailable, $"Cannot run git: {e.Message}. Install git on this host.", "git", e);
        }
        using (process)
        {
            process.StandardInput.Close();
            var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var error = process.StandardError.ReadToEndAsync(cancellationToken);
            try
            {
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
            return new Result(process.ExitCode, await output.ConfigureAwait(false), await error.ConfigureAwait(false));
        }
    }
}
