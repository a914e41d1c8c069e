using System.Text;
using System.Text.Json;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.FileSystem;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Builders;

/// <summary>
/// Chooses the build context and Dockerfile by W&amp;B's rules, first that applies: the job's build-context
/// subdirectory; <c>overrides.dockerfile</c>; the job's own <c>Dockerfile</c>; <c>Dockerfile.wandb</c> beside the
/// entry point; otherwise a generated Dockerfile.
/// </summary>
public static class BuildPlanner
{
    public const string DefaultPythonBaseImage = "python:3.10-slim";

    public static BuildPlan Plan(string codeDirectory, LaunchSpec spec, string? baseImage)
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
        var own = Inside(context, "Dockerfile", "Dockerfile");
        if (File.Exists(own)) return new BuildPlan(context, File.ReadAllText(own), "the job's Dockerfile");

        var entryPoint = spec.Overrides.EntryPoint ?? [];
        var entryFile = entryPoint.FirstOrDefault(a => a.Length > 0 && !Path.IsPathRooted(a) && !a.Contains('\0') && File.Exists(Path.Combine(context, a)));
        var besideEntry = Inside(context, Path.Join(Path.GetDirectoryName(entryFile ?? "") ?? "", BuildPlan.DockerfileName), $"{BuildPlan.DockerfileName} beside the entry point");
        if (File.Exists(besideEntry)) return new BuildPlan(context, File.ReadAllText(besideEntry), $"{Path.GetRelativePath(context, besideEntry)} beside the entry point");

        return new BuildPlan(context, Generate(context, entryPoint, baseImage, spec), "generated");
    }

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
