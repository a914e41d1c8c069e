using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.FileSystem;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.WandbJobs;

namespace WandbLaunch.Engine.Builders;

/// <summary>
/// Chooses the build context and Dockerfile by W&amp;B's rules, first that applies: the job's build-context
/// subdirectory; <c>overrides.dockerfile</c>; the job's own Dockerfile (a uri job's <c>Dockerfile</c>, a W&amp;B
/// job's <c>source.dockerfile</c>); <c>Dockerfile.wandb</c> beside the entry point (for a W&amp;B job that directory
/// becomes the context, as in W&amp;B's <c>BuildContextManager</c>); otherwise a generated Dockerfile (for a W&amp;B
/// job W&amp;B's own, <see cref="WandbDockerfile"/>).
/// </summary>
public static class BuildPlanner
{
    public const string DefaultPythonBaseImage = "python:3.10-slim";

    /// <param name="codeDirectory">The job's code.</param>
    /// <param name="spec">The (lowered) spec.</param>
    /// <param name="baseImage">The base of a uri job's generated Dockerfile.</param>
    /// <param name="job">A W&amp;B job's build inputs; null for a uri job.</param>
    public static BuildPlan Plan(string codeDirectory, LaunchSpec spec, string? baseImage, JobBuild? job = null)
    {
        var context = codeDirectory;
        if (spec.BuildContext is { Length: > 0 } subdirectory)
        {
            context = Inside(codeDirectory, subdirectory, "build_context");
            if (!Directory.Exists(context)) throw new JobFailedException(FailureStage.Build, $"The job's build_context '{subdirectory}' is not a directory of its code.");
        }
        if (spec.Overrides.Dockerfile is { Length: > 0 } dockerfile)
        {
            var path = Inside(context, dockerfile, "overrides.dockerfile");
            if (!File.Exists(path)) throw new JobFailedException(FailureStage.Build, $"overrides.dockerfile '{dockerfile}' does not exist in the build context.");
            return new BuildPlan(context, File.ReadAllText(path), $"overrides.dockerfile ({dockerfile})");
        }
        if (job is not null) return PlanJob(codeDirectory, context, spec, job);
        var own = Inside(context, "Dockerfile", "Dockerfile");
        if (File.Exists(own)) return new BuildPlan(context, File.ReadAllText(own), "the job's Dockerfile");

        var entryPoint = spec.Overrides.EntryPoint ?? [];
        var entryFile = entryPoint.FirstOrDefault(a => a.Length > 0 && !Path.IsPathRooted(a) && !a.Contains('\0') && File.Exists(Path.Combine(context, a)));
        var besideEntry = Inside(context, Path.Join(Path.GetDirectoryName(entryFile ?? "") ?? "", BuildPlan.DockerfileName), $"{BuildPlan.DockerfileName} beside the entry point");
        if (File.Exists(besideEntry)) return new BuildPlan(context, File.ReadAllText(besideEntry), $"{Path.GetRelativePath(context, besideEntry)} beside the entry point");

        return new BuildPlan(context, Generate(context, entryPoint, baseImage, spec), "generated");
    }

    /// <summary>W&amp;B's rules after <c>overrides.dockerfile</c>: the job's <c>dockerfile</c>, <c>Dockerfile.wandb</c> in the entry point's directory, else W&amp;B's generated Dockerfile.</summary>
    private static BuildPlan PlanJob(string codeDirectory, string context, LaunchSpec spec, JobBuild job)
    {
        if (job.Job.Definition.Dockerfile is { Length: > 0 } dockerfile)
        {
            var path = Inside(context, dockerfile, "source.dockerfile");
            if (!File.Exists(path)) throw new JobFailedException(FailureStage.Build, $"The job's Dockerfile does not exist at {dockerfile} in its build context.");
            return new BuildPlan(context, File.ReadAllText(path), $"the job's dockerfile ({dockerfile})");
        }
        if (EntryPointDirectory(job.Job, spec) is { } directory)
        {
            var besideEntry = Inside(context, Path.Join(directory, BuildPlan.DockerfileName), $"{BuildPlan.DockerfileName} beside the entry point");
            if (File.Exists(besideEntry))
            {
                return new BuildPlan(Path.GetDirectoryName(besideEntry)!, File.ReadAllText(besideEntry), $"{Path.GetRelativePath(context, besideEntry)} beside the entry point");
            }
        }
        var entryPoint = spec.Overrides.EntryPoint is { Count: > 0 } given ? given
            : throw new JobFailedException(FailureStage.Build, $"The job {job.Job.Requested} has no entry point (source.entrypoint or overrides.entry_point), so no Dockerfile can be generated for it.");
        var generated = WandbDockerfile.Generate(new WandbDockerfile.Inputs
        {
            PythonVersion = spec.PythonVersion,
            CodeDirectory = codeDirectory,
            EntryPoint = entryPoint,
            AcceleratorBaseImage = job.AcceleratorBaseImage,
            UserName = job.UserName,
            UserId = job.UserId,
            BuildKit = job.BuildKit,
        });
        // W&B copies the whole code (not the build context) to src/ for its generated Dockerfile.
        return new BuildPlan(codeDirectory, generated.Text, "generated (W&B's template)")
        {
            ArchivePrefix = "src/",
            ExtraFiles = generated.ExtraFiles,
            Warnings = generated.Warnings,
        };
    }

    /// <summary>
    /// The directory of the entry point file W&amp;B looks for <c>Dockerfile.wandb</c> in: the job's entry point's
    /// last word (else the override's entry point file), relative; "" for the context root.
    /// </summary>
    private static string? EntryPointDirectory(ResolvedJob job, LaunchSpec spec)
    {
        var name = job.JobEntryPoint is { Count: > 0 } own ? own[^1] : EntryPointFile(spec.Overrides.EntryPoint);
        if (name is null || name.Contains('\0') || Path.IsPathRooted(name)) return null;
        return Path.GetDirectoryName(name) ?? "";
    }

    /// <summary>W&amp;B's <c>get_entrypoint_file</c>: the first word if it is a .py/.sh file, else the second.</summary>
    private static string? EntryPointFile(IReadOnlyList<string>? entryPoint)
    {
        if (entryPoint is not { Count: > 0 }) return null;
        if (entryPoint[0].EndsWith(".py", StringComparison.Ordinal) || entryPoint[0].EndsWith(".sh", StringComparison.Ordinal)) return entryPoint[0];
        return entryPoint.Count < 2 ? null : entryPoint[1];
    }

    /// <summary>
    /// W&amp;B's <c>EntryPoint.update_entrypoint_path</c>: when a job's image is built from <c>Dockerfile.wandb</c> in its
    /// entry point's directory (that directory is the context), a two-word <c>python x/y.py</c> or <c>bash x/y.sh</c>
    /// entry point of the job (not an override) runs the file by its base name. Null when the rule does not apply.
    /// </summary>
    public static IReadOnlyList<string>? EntryPointInImage(ResolvedJob job, LaunchSpec original)
    {
        var spec = job.Spec;
        if (spec.Overrides.Dockerfile is { Length: > 0 } || job.Definition.Dockerfile is { Length: > 0 }) return null;
        if (original.Overrides.EntryPoint is { Count: > 0 } || job.JobEntryPoint is not { Count: 2 } entry) return null;
        if (!(entry[0].StartsWith("python", StringComparison.Ordinal) || entry[0] == "bash")) return null;
        var directory = Path.GetDirectoryName(entry[1]);
        if (string.IsNullOrEmpty(directory) || job.CodeDirectory is null) return null;
        var context = job.CodeDirectory;
        try
        {
            if (spec.BuildContext is { Length: > 0 } sub) context = ContainedPath.Join(context, sub, "build_context", allowRoot: true);
            if (!File.Exists(ContainedPath.Join(context, Path.Join(directory, BuildPlan.DockerfileName), BuildPlan.DockerfileName))) return null;
        }
        catch (LaunchException)
        {
            return null;
        }
        return [entry[0], Path.GetFileName(entry[1])];
    }

    /// <summary>W&amp;B's <c>image_tag_from_dockerfile_and_source</c>: the first 8 hex of sha256(source string + Dockerfile).</summary>
    public static string JobImageTag(string sourceString, string dockerfile) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(sourceString + dockerfile))).ToLowerInvariant()[..8];

    /// <summary>
    /// A Dockerfile for the code: Python code (a .py entry point or a requirements.txt) gets a venv build stage with
    /// requirements.txt installed; all code is copied to the working directory, owned by a non-root user (uid 1000,
    /// gid 0), with PYTHONUNBUFFERED=1 and the entry point as ENTRYPOINT.
    /// </summary>
    public static string Generate(string context, IReadOnlyList<string> entryPoint, string? baseImage, LaunchSpec spec)
    {
        var python = File.Exists(Path.Combine(context, "requirements.txt")) || entryPoint.Any(a => a.EndsWith(".py", StringComparison.Ordinal)) ||
                     entryPoint.FirstOrDefault() is "python" or "python3";
        var image = baseImage ?? (python ? PythonImage(spec) : throw new JobFailedException(FailureStage.Build,
            "The job's code is not Python, so the agent cannot choose a base image: set resource_args.<resource>.builder.base_image (Submit-WandbLaunchJob -ResourceArgs @{ builder = @{ base_image = '<image>' } })."));
        var text = new StringBuilder();
        if (python)
        {
            text.AppendLine($"FROM {image} AS build");
            text.AppendLine("RUN python -m venv /env");
            if (File.Exists(Path.Combine(context, "requirements.txt")))
            {
                text.AppendLine("COPY requirements.txt /tmp/requirements.txt");
                text.AppendLine("RUN /env/bin/pip install --no-cache-dir -r /tmp/requirements.txt");
            }
            text.AppendLine();
        }
        text.AppendLine($"FROM {image}");
        if (python)
        {
            text.AppendLine("COPY --from=build /env /env");
            text.AppendLine("ENV PATH=/env/bin:$PATH");
        }
        text.AppendLine("ENV PYTHONUNBUFFERED=1");
        text.AppendLine("WORKDIR /mnt/wandb");
        text.AppendLine("COPY --chown=1000:0 . /mnt/wandb");
        text.AppendLine("USER 1000:0");
        if (entryPoint.Count > 0) text.AppendLine($"ENTRYPOINT {JsonSerializer.Serialize(entryPoint)}");
        return text.ToString();
    }

    private static string PythonImage(LaunchSpec spec) =>
        spec.PythonVersion is { Length: > 0 } version ? $"python:{version}-slim" : DefaultPythonBaseImage;

    /// <summary><paramref name="relative"/> inside <paramref name="root"/>, links resolved (see <see cref="ContainedPath.Join"/>); outside fails the build.</summary>
    private static string Inside(string root, string relative, string key)
    {
        try
        {
            return ContainedPath.Join(root, relative, key, allowRoot: true);
        }
        catch (LaunchException e)
        {
            throw new JobFailedException(FailureStage.Build, e.Message, e);
        }
    }
}
