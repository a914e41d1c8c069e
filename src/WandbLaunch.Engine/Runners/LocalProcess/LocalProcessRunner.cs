using System.Diagnostics;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Code;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.FileSystem;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Runners.LocalProcess;

/// <summary>
/// Runs the entry point as a process on the agent's host: in the job's code directory (a local directory in place,
/// or a fresh clone of its git source), with <c>overrides.args</c> appended as an argument vector (never through a
/// shell), the agent's environment plus the job's W&amp;B environment and <c>resource_args.env</c>.
/// </summary>
public sealed class LocalProcessRunner : ILaunchRunner
{
    private static readonly string[] AllowedKeys = ["env"];

    public string Resource => LaunchResource.LocalProcess;

    public bool RequiresImage => false;

    public RenderedRequest Render(JobContext context)
    {
        var plan = Plan(context);
        var lines = new List<string> { $"command: {Quote(plan.Command)}", $"working directory: {plan.WorkingDirectoryDescription}", "environment:" };
        lines.AddRange(plan.Environment.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => $"  {p.Key}={(context.Secrets.Contains(p.Value) || p.Key == JobEnvironment.ApiKeyVariable ? "***" : p.Value)}"));
        return new RenderedRequest { Resource = Resource, Summary = Quote(plan.Command), Text = string.Join('\n', lines) + "\n" };
    }

    public async Task<IRunningJob> StartAsync(JobContext context, CancellationToken cancellationToken)
    {
        var log = context.Log;
        var plan = Plan(context);
        if (plan.Unresolved)
        {
            throw new JobFailedException(FailureStage.Agent, $"The job {context.Spec.JobArtifactName} was not resolved to code on the agent's host, so there is nothing to run.");
        }
        foreach (var key in plan.IgnoredKeys)
        {
            log.Agent($"warning: resource_args.{Resource}.{key} is not used by local-process runs (allowed: {string.Join(", ", AllowedKeys)})");
        }
        var codeDirectory = await CodeDirectory.ResolveAsync(context.Spec, context.WorkDirectory, context.Job.RunId, context.Job.Id, log, cancellationToken).ConfigureAwait(false);
        var workingDirectory = plan.WorkingDirectory is null ? codeDirectory : WorkingDirectoryIn(codeDirectory, plan.WorkingDirectory);

        // In a session of its own (see ProcessGroup), so that stopping the job reaches everything it started.
        var setsid = ProcessGroup.Setsid;
        if (setsid is not null) EnsureFindable(plan.Command[0], workingDirectory, plan.Environment);
        var info = new ProcessStartInfo(setsid ?? plan.Command[0])
        {
            WorkingDirectory = workingDirectory,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        if (setsid is not null)
        {
            info.ArgumentList.Add("--");
            info.ArgumentList.Add(plan.Command[0]);
        }
        foreach (var argument in plan.Command.Skip(1)) info.ArgumentList.Add(argument);
        foreach (var (name, value) in plan.Environment) info.Environment[name] = value;

        log.Agent($"starting {Quote(plan.Command)} in {workingDirectory}");
        await context.Launching().ConfigureAwait(false);
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new JobFailedException(FailureStage.Run, $"Could not start '{plan.Command[0]}'.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new JobFailedException(FailureStage.Run, $"Could not start '{plan.Command[0]}': {e.Message}. Check the entry point (overrides.entry_point) and the agent's PATH.", e);
        }
        return new RunningProcess(process, log, context.Job.Id, ownGroup: setsid is not null);
    }

    /// <summary>
    /// setsid would only report a missing program in the job's output: look it up first, as starting it directly
    /// would, so that the failure names the entry point.
    /// </summary>
    private static void EnsureFindable(string command, string workingDirectory, IReadOnlyDictionary<string, string> environment)
    {
        bool Executable(string path) => File.Exists(path) && (OperatingSystem.IsWindows() || (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0);
        var found = command.Contains('/')
            ? Executable(Path.Combine(workingDirectory, command))
            : ((environment.TryGetValue("PATH", out var p) ? p : System.Environment.GetEnvironmentVariable("PATH")) ?? "")
                .Split(':', StringSplitOptions.RemoveEmptyEntries).Any(d => Executable(Path.Combine(d, command)));
        if (!found)
        {
            throw new JobFailedException(FailureStage.Run,
                $"Could not start '{command}': no such executable file. Check the entry point (overrides.entry_point) and the agent's PATH.");
        }
    }

    public Task<IRunningJob?> AttachAsync(LaunchJob job, JobLog log, CancellationToken cancellationToken)
    {
        // A process started by another agent is not our child: its output and exit code cannot be recovered. Make
        // sure nothing of the job runs unwatched (its recorded process tree, and anything carrying its trace id,
        // such as a process started but not yet recorded, or a git clone), so it never runs twice.
        if (ProcessHandle.TryParse(job.Handle, out var handle) && handle.FindLiveProcess() is { } orphan)
        {
            using (orphan)
            {
                log.Agent($"killing process tree {handle.Pid}, left running by agent {job.PreviousAgentId}");
                try
                {
                    // Its group too: a job started in a session of its own has its pid as group id.
                    if (ProcessGroup.IsAlive(handle.Pid)) ProcessGroup.Signal(handle.Pid, ProcessGroup.SigKill);
                    orphan.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                    // It exited meanwhile.
                }
            }
        }
        var strays = StrayProcesses.Kill(job.Id);
        if (strays > 0) log.Agent($"killed {strays} process(es) of this job left behind by agent {job.PreviousAgentId}");
        return Task.FromResult<IRunningJob?>(null);
    }

    private sealed record ProcessPlan(
        SourceUri.Kind Source,
        string? Uri,
        string? GitVersion,
        string? WorkingDirectory,
        IReadOnlyList<string> Command,
        IReadOnlyDictionary<string, string> Environment,
        IReadOnlyList<string> IgnoredKeys,
        bool Unresolved = false)
    {
        public string WorkingDirectoryDescription =>
            (Source == SourceUri.Kind.Git ? $"<clone of {Uri}{(GitVersion is null ? "" : "@" + GitVersion)}>" : Uri!) +
            (WorkingDirectory is null ? "" : "/" + WorkingDirectory);
    }

    private ProcessPlan Plan(JobContext context)
    {
        var spec = context.Spec;
        if (spec.PrebuiltImage is { } image)
        {
            throw new JobFailedException(FailureStage.Agent,
                $"The local-process resource cannot run docker images ('{image}'); submit it to a local-container queue instead.");
        }
        var overrides = spec.Overrides;
        var entryPoint = overrides.EntryPoint ?? [];
        var environment = new Dictionary<string, string>(context.Environment, StringComparer.Ordinal);
        if (context.ResourceArgs["env"] is JsonObject extra)
        {
            foreach (var (name, value) in extra)
            {
                environment[name] = JsonTree.TryGetString(value, out var s) ? s : value?.ToJsonString() ?? "";
            }
        }
        var ignored = context.ResourceArgs.Select(p => p.Key).Where(k => !AllowedKeys.Contains(k)).ToList();
        if (spec.JobArtifactName is { } job && spec.Uri is null)
        {
            // A preview of a W&B job: the agent resolves it (code prepared, spec lowered to a uri) before it starts.
            if (entryPoint.Count == 0) entryPoint = [$"<entry point of job {job}>"];
            return new ProcessPlan(SourceUri.Kind.LocalDirectory, $"<code of job {job}>", null, overrides.WorkingDir, entryPoint.Concat(overrides.Args ?? []).ToList(),
                environment, ignored, Unresolved: true);
        }
        var uri = spec.Uri ?? "";
        var kind = SourceUri.Classify(uri);
        if (entryPoint.Count == 0)
        {
            throw new JobFailedException(FailureStage.Agent,
                "The job has no entry point: give overrides.entry_point (Submit-WandbLaunchJob -EntryPoint python, train.py).");
        }
        var command = entryPoint.Concat(overrides.Args ?? []).ToList();
        var gitVersion = spec.GitVersion;
        var workingDir = overrides.WorkingDir;
        return new ProcessPlan(kind, uri, gitVersion, workingDir, command, environment, ignored);
    }

    /// <summary>overrides.working_dir inside the job's code, links resolved; the stored spec may predate the Submit check.</summary>
    private static string WorkingDirectoryIn(string codeDirectory, string workingDir)
    {
        try
        {
            return ContainedPath.Join(codeDirectory, workingDir, "overrides.working_dir", allowRoot: true);
        }
        catch (LaunchException e)
        {
            throw new JobFailedException(FailureStage.Agent, e.Message, e);
        }
    }


    private static string Quote(IEnumerable<string> argv) =>
        string.Join(' ', argv.Select(a => a.Length > 0 && a.All(c => char.IsLetterOrDigit(c) || "-_./=:,@+%".Contains(c)) ? a : "'" + a.Replace("'", "'\\''") + "'"));
}
