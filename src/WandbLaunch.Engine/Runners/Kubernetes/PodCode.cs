using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.FileSystem;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Runners.Kubernetes;

/// <summary>
/// The volume claim W&amp;B's agent copies a base-image job's code to (<c>WANDB_LAUNCH_CODE_PVC_NAME</c> and
/// <c>WANDB_LAUNCH_CODE_PVC_MOUNT_PATH</c> in the agent's environment, both set): the claim's name, and where the
/// agent itself has that claim mounted.
/// </summary>
public sealed record CodeClaim(string ClaimName, string MountPath)
{
    public const string NameVariable = "WANDB_LAUNCH_CODE_PVC_NAME";

    public const string MountPathVariable = "WANDB_LAUNCH_CODE_PVC_MOUNT_PATH";

    /// <summary>The claim, when both variables are set (non-empty), as W&amp;B's runner reads them; else null (an emptyDir).</summary>
    public static CodeClaim? FromEnvironment(Func<string, string?> environment) =>
        environment(NameVariable) is { Length: > 0 } name && environment(MountPathVariable) is { Length: > 0 } path ? new CodeClaim(name, path) : null;
}

/// <summary>
/// W&amp;B's code mount for base-image jobs on Kubernetes (<c>kubernetes_runner.py</c>): every pod gets volume
/// <see cref="VolumeName"/> mounted at <c>/mnt/wandb</c> in each main container, which works in
/// <see cref="MountedCode.ContainerWorkingDir"/> and, with the automatic default base image, installs the job's
/// requirements before running its command. The volume is an emptyDir filled by init container
/// <see cref="InitContainerName"/> (a git clone and checkout, or a code artifact download, by W&amp;B's script), or,
/// with a <see cref="CodeClaim"/>, the claim at <c>subPath</c> = the image source string, where the agent copied the
/// prepared code (<see cref="CopyToClaim"/>).
/// </summary>
public static class PodCode
{
    public const string VolumeName = "wandb-source-code-volume";

    public const string InitContainerName = "wandb-source-code-init";

    /// <summary>The image W&amp;B's init container fetches code with: it has git, Python and the wandb package.</summary>
    public const string InitImage = "wandb/launch-agent:0.25.1";

    /// <summary>Where the init container puts the job artifact (W&amp;B's <c>job_dir</c>), and so its frozen requirements.</summary>
    public const string JobDirectory = MountedCode.Directory + "/.job";

    public const string FrozenRequirementsPath = JobDirectory + "/requirements.frozen.txt";

    private const string FrozenRequirementsFile = "requirements.frozen.txt";

    /// <summary>Names W&amp;B leaves out when it copies code to the claim (<c>shutil.ignore_patterns</c>), at every depth.</summary>
    public static readonly IReadOnlyCollection<string> NotCopied = [".git", "fsmonitor--daemon.ipc"];

    /// <summary>
    /// Refuses at stage agent what no pod could fetch: with the local store (which no pod can reach), the code
    /// artifact of an artifact job, unless the agent copies the code to a claim.
    /// </summary>
    public static void CheckFetchable(MountedCode code, CodeClaim? claim)
    {
        if (claim is not null) return;
        if (code.Source == MountedCodeSource.Artifact && string.IsNullOrEmpty(code.CodeArtifact))
        {
            throw new JobFailedException(FailureStage.Agent, "The job runs in its base image with its code mounted, but its code artifact is not known, so no pod could fetch it.");
        }
        if (code.Source == MountedCodeSource.Artifact && !code.StoreReachableFromJobs)
        {
            throw new JobFailedException(FailureStage.Agent,
                $"The job runs in its base image with its code mounted, and its code is the artifact {code.CodeArtifact}. On Kubernetes a pod's init container " +
                "downloads that artifact from the W&B server, but this job's store is the local store on the agent's host, which no pod can reach. " +
                $"Set {CodeClaim.NameVariable} (a PersistentVolumeClaim in the job's namespace) and {CodeClaim.MountPathVariable} (where the agent has that claim mounted) " +
                "in the agent's environment, so that the agent copies the code there" +
                (code.InstallDependencies ? "; or set builder.type to docker or kaniko to build an image with the code." : "."));
        }
        if (code.Source == MountedCodeSource.Repo)
        {
            // Checked when the job was resolved; a value starting with '-' would reach git as an option.
            foreach (var (value, what) in new[] { (code.GitRemote, "git remote"), (code.GitCommit, "git commit") })
            {
                if (string.IsNullOrEmpty(value) || value.StartsWith('-') || value.Contains('\0'))
                {
                    throw new JobFailedException(FailureStage.Agent, $"The job's {what} {Printable.Quote(value)} cannot be fetched by a pod: it is empty, starts with '-' or holds a NUL.");
                }
            }
        }
    }

    /// <summary>
    /// Whether the pod's fetch leaves out the job artifact W&amp;B downloads for the frozen requirements: with the local
    /// store, for a repo job whose requirements are installed, in an emptyDir.
    /// </summary>
    public static bool SkipsFrozenRequirements(MountedCode code, CodeClaim? claim) =>
        claim is null && code.InstallDependencies && !code.StoreReachableFromJobs;

    /// <summary>
    /// Mounts <paramref name="code"/> in one pod spec (its main containers already have their command, args and env),
    /// from <paramref name="claim"/> or an emptyDir; <paramref name="baseUrl"/> is the W&amp;B server the init container
    /// downloads from (the job's WANDB_BASE_URL).
    /// </summary>
    public static void Apply(JsonObject podSpec, MountedCode code, CodeClaim? claim, string baseUrl)
    {
        JsonObject? apiKeyEnv = null;
        foreach (var container in (podSpec["containers"] as JsonArray ?? []).OfType<JsonObject>())
        {
            var mount = new JsonObject { ["name"] = VolumeName, ["mountPath"] = MountedCode.Directory };
            if (claim is not null) mount["subPath"] = code.ImageSourceString;
            JsonTree.ArrayAt(container, "volumeMounts").Add(mount);
            container["workingDir"] = code.ContainerWorkingDir;
            if (code.InstallDependencies) WrapWithDependencyInstall(container, code.ContainerWorkingDir, FrozenRequirementsPath);
            apiKeyEnv ??= (container["env"] as JsonArray ?? []).OfType<JsonObject>().FirstOrDefault(e => e["name"]?.GetValue<string>() == Specs.JobEnvironment.ApiKeyVariable);
        }
        JsonTree.ArrayAt(podSpec, "volumes").Add(claim is null
            ? new JsonObject { ["name"] = VolumeName, ["emptyDir"] = new JsonObject() }
            : new JsonObject { ["name"] = VolumeName, ["persistentVolumeClaim"] = new JsonObject { ["claimName"] = claim.ClaimName } });
        if (claim is not null) return;

        var env = new JsonArray(new JsonObject { ["name"] = "WANDB_BASE_URL", ["value"] = baseUrl });
        if (apiKeyEnv is not null) env.Add(apiKeyEnv.DeepClone());
        var init = new JsonObject
        {
            ["name"] = InitContainerName,
            ["image"] = InitImage,
            ["volumeMounts"] = new JsonArray(new JsonObject { ["name"] = VolumeName, ["mountPath"] = MountedCode.Directory }),
            ["env"] = env,
            ["command"] = new JsonArray("/bin/sh", "-c", FetchScript(code)),
        };
        JsonTree.ArrayAt(podSpec, "initContainers").Add(init);
    }

    /// <summary>
    /// W&amp;B's <c>_build_code_fetch_script</c>: clone and check out the commit, or download the code artifact, into
    /// <c>/mnt/wandb</c>; with dependencies to install, download the job artifact to <see cref="JobDirectory"/> too
    /// (left out when the store is local: <see cref="SkipsFrozenRequirements"/>); then make it all writable.
    /// </summary>
    public static string FetchScript(MountedCode code)
    {
        const string dir = MountedCode.Directory;
        var chmod = $" && chmod -R a+w {dir}/* || true && chmod -R a+w {dir}/.* || true";
        var fetchJobArtifact = code.InstallDependencies && code.StoreReachableFromJobs && code.JobArtifact.Length > 0
            ? " && python -c " + PosixShell.Quote(Download(code.JobArtifact, JobDirectory))
            : "";
        if (code.Source == MountedCodeSource.Artifact)
        {
            return "python -c " + PosixShell.Quote(Download(code.CodeArtifact ?? "", dir)) + fetchJobArtifact + chmod;
        }
        return $"git clone {PosixShell.Quote(code.GitRemote ?? "")} {dir}" +
               $" && git config --global --add safe.directory {dir}" +
               $" && cd {dir} && git checkout {PosixShell.Quote(code.GitCommit ?? "")}" +
               fetchJobArtifact + chmod;
    }

    private static string Download(string artifact, string directory) =>
        $"import wandb; wandb.Api().artifact({PythonLiteral.Repr(artifact)}).download({PythonLiteral.Repr(directory)})";

    /// <summary>
    /// W&amp;B's <c>_set_container_command_with_dep_install</c>: the container's command and args become one
    /// <c>/bin/sh -c</c> script that installs <c>requirements.txt</c>, else <c>pyproject.toml</c>, else the frozen
    /// requirements, then execs them; a container with neither is left alone.
    /// </summary>
    public static void WrapWithDependencyInstall(JsonObject container, string workingDir, string requirementsPath)
    {
        var words = new List<string>();
        foreach (var key in new[] { "command", "args" })
        {
            if (container[key] is JsonArray list) words.AddRange(list.Select(w => w?.GetValue<string>() ?? ""));
        }
        if (words.Count == 0) return;
        var requirements = PosixShell.Quote($"{workingDir}/requirements.txt");
        var pyproject = PosixShell.Quote($"{workingDir}/pyproject.toml");
        var frozen = PosixShell.Quote(requirementsPath);
        var install = $"if [ -f {requirements} ]; then pip install -r {requirements};" +
                      $" elif [ -f {pyproject} ]; then pip install {PosixShell.Quote(workingDir)};" +
                      $" elif [ -f {frozen} ]; then pip install -r {frozen};" +
                      " else echo 'No requirements file found'; fi";
        container["command"] = new JsonArray("/bin/sh", "-c");
        container["args"] = new JsonArray($"{install} && exec {PosixShell.Join(words)}");
    }

    /// <summary>
    /// W&amp;B's <c>change_project_dir</c> for a claim: the prepared code copied to <c>&lt;mount path&gt;/&lt;image source
    /// string&gt;</c> without <see cref="NotCopied"/>, links copied as links (never followed), plus the frozen requirements
    /// at <c>.job/requirements.frozen.txt</c>, where the dependency install looks for them. It is copied to a sibling
    /// first and renamed into place, so a pod never sees half a copy; a directory already there (the same job version,
    /// copied before, perhaps in use by a running pod) is kept. Returns the directory.
    /// </summary>
    public static string CopyToClaim(MountedCode code, CodeClaim claim, Action<string> note)
    {
        var source = code.ImageSourceString;
        if (source.Length == 0 || source is "." or ".." || source.IndexOfAny(['/', '\\', '\0']) >= 0)
        {
            throw new JobFailedException(FailureStage.Agent, $"The job's image source string {Printable.Quote(source)} cannot name a directory on the code volume claim.");
        }
        string target, partial;
        try
        {
            target = ContainedPath.Join(claim.MountPath, source, "image source string");
            partial = ContainedPath.Join(claim.MountPath, $".{source}.partial-{Guid.NewGuid():N}", "image source string");
        }
        catch (LaunchException e)
        {
            throw new JobFailedException(FailureStage.Agent, e.Message, e);
        }
        if (Directory.Exists(target))
        {
            note($"the job's code is already on the claim {claim.ClaimName} at {target}; it is used as it is");
            return target;
        }
        try
        {
            DirectoryCopy.Copy(code.HostDirectory, partial, NotCopied);
            var frozen = Path.Combine(code.HostDirectory, FrozenRequirementsFile);
            if (File.Exists(frozen) && new FileInfo(frozen).LinkTarget is null)
            {
                // The code's own .job is replaced only where it is a plain directory: a link in the copy is never written through.
                var jobDirectory = Path.Combine(partial, ".job");
                if (new DirectoryInfo(jobDirectory).LinkTarget is null && !File.Exists(jobDirectory))
                {
                    Directory.CreateDirectory(jobDirectory);
                    var copy = Path.Combine(jobDirectory, FrozenRequirementsFile);
                    if (File.Exists(copy) || new FileInfo(copy).LinkTarget is not null) File.Delete(copy);
                    File.Copy(frozen, copy);
                }
            }
            try
            {
                Directory.Move(partial, target);
            }
            catch (IOException) when (Directory.Exists(target))
            {
                // Another agent copied the same job version meanwhile.
                Directory.Delete(partial, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try
            {
                if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);
            }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
            {
            }
            throw new JobFailedException(FailureStage.Agent, $"Could not copy the job's code to the code volume claim {claim.ClaimName} at {target}: {e.Message}");
        }
        note($"copied the job's code to the claim {claim.ClaimName} at {target}");
        return target;
    }
}
