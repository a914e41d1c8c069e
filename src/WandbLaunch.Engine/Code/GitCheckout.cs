using System.Diagnostics;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Code;

/// <summary>Clones a job's git source at its version with the git command line (an argument vector, no shell).</summary>
internal static class GitCheckout
{
    // The job's id goes to git as WANDB_LAUNCH_TRACE_ID, so that a later agent can find and end a clone left behind by a dead one.
    public static async Task<string> CloneAsync(string uri, string? version, string directory, string traceId, JobLog log, CancellationToken cancellationToken)
    {
        if (!string.IsNullOrEmpty(version))
        {
            // Read back from the store, so checked again: a version starting with '-' would reach git as an option.
            try
            {
                SpecNames.GitVersion(version, "git.version");
            }
            catch (Errors.LaunchException e)
            {
                throw new JobFailedException(FailureStage.Build, e.Message, e);
            }
        }
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        FileSystem.PrivateFiles.EnsureDirectory(Path.GetDirectoryName(directory)!, tightenExisting: false);
        log.Agent($"git clone {uri}{(version is null ? "" : $" (version {version})")}");
        await RunGitAsync(["clone", "--quiet", "--", uri, directory], null, traceId, log, cancellationToken).ConfigureAwait(false);
        if (!string.IsNullOrEmpty(version))
        {
            await RunGitAsync(["-c", "advice.detachedHead=false", "checkout", "--quiet", version, "--"], directory, traceId, log, cancellationToken).ConfigureAwait(false);
        }
        return directory;
    }

    private static async Task RunGitAsync(string[] arguments, string? workingDirectory, string traceId, JobLog log, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo("git")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        // Never prompt for credentials: an agent has nobody to answer.
        info.Environment["GIT_TERMINAL_PROMPT"] = "0";
        info.Environment["WANDB_LAUNCH_TRACE_ID"] = traceId;
        info.Environment["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes";
        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new JobFailedException(FailureStage.Build, $"Cannot run git to fetch the job's code: {e.Message}. Install git on the agent's host.", e);
        }
        using (process)
        {
            process.StandardInput.Close();
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            try
            {
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
            var error = (await stderr.ConfigureAwait(false)).Trim();
            foreach (var line in ((await stdout.ConfigureAwait(false)) + "\n" + error).Split('\n', StringSplitOptions.RemoveEmptyEntries)) log.Agent("git: " + line);
            if (process.ExitCode != 0)
            {
                throw new JobFailedException(FailureStage.Build, $"git {arguments[0]} failed (exit code {process.ExitCode}): {error}");
            }
        }
    }
}
