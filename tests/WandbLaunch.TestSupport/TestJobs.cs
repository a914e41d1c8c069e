using System.Diagnostics;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Artifacts;

namespace WandbLaunch.TestSupport;

/// <summary>W&amp;B jobs for tests: real git repositories (<c>git init</c>) and job and code artifacts logged to a store.</summary>
public static class TestJobs
{
    /// <summary>Runs git in <paramref name="directory"/> and returns its output; fails the test on a non-zero exit.</summary>
    public static string Git(string directory, params string[] arguments)
    {
        var info = new ProcessStartInfo("git") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        info.Environment["GIT_AUTHOR_NAME"] = info.Environment["GIT_COMMITTER_NAME"] = "test";
        info.Environment["GIT_AUTHOR_EMAIL"] = info.Environment["GIT_COMMITTER_EMAIL"] = "test@example.com";
        info.Environment["GIT_CONFIG_NOSYSTEM"] = "1";
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"git {string.Join(' ', arguments)} failed: {error}");
        return output.Result.Trim();
    }

    /// <summary>A new repository at <paramref name="directory"/> with <paramref name="files"/> committed on <c>main</c>; returns the commit.</summary>
    public static string InitRepository(string directory, IReadOnlyDictionary<string, string> files)
    {
        Directory.CreateDirectory(directory);
        Git(directory, "init", "--quiet", "--initial-branch=main");
        return Commit(directory, files, "first");
    }

    /// <summary>Writes <paramref name="files"/> and commits them; returns the commit.</summary>
    public static string Commit(string directory, IReadOnlyDictionary<string, string> files, string message)
    {
        foreach (var (path, text) in files)
        {
            var full = Path.Combine(directory, path);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full, text);
        }
        Git(directory, "add", "-A");
        Git(directory, "commit", "--quiet", "-m", message);
        return Git(directory, "rev-parse", "HEAD");
    }

    /// <summary>A repo job's <c>wandb-job.json</c>.</summary>
    public static JsonObject RepoDefinition(string remote, string commit, params string[] entryPoint) => new()
    {
        ["_version"] = "v0",
        ["source_type"] = "repo",
        ["source"] = new JsonObject
        {
            ["git"] = new JsonObject { ["remote"] = remote, ["commit"] = commit },
            ["entrypoint"] = Strings(entryPoint),
            ["notebook"] = false,
        },
        ["input_types"] = new JsonObject(),
        ["output_types"] = new JsonObject(),
        ["runtime"] = "3.10.12",
    };

    /// <summary>An artifact job's <c>wandb-job.json</c> naming its code artifact by id.</summary>
    public static JsonObject ArtifactDefinition(string codeArtifactId, params string[] entryPoint) => new()
    {
        ["_version"] = "v0",
        ["source_type"] = "artifact",
        ["source"] = new JsonObject
        {
            ["artifact"] = "wandb-artifact://_id/" + codeArtifactId,
            ["entrypoint"] = Strings(entryPoint),
            ["notebook"] = false,
        },
        ["input_types"] = new JsonObject(),
        ["output_types"] = new JsonObject(),
        ["runtime"] = "3.11",
    };

    /// <summary>An image job's <c>wandb-job.json</c>.</summary>
    public static JsonObject ImageDefinition(string image) => new()
    {
        ["_version"] = "v0",
        ["source_type"] = "image",
        ["source"] = new JsonObject { ["image"] = image },
        ["input_types"] = new JsonObject(),
        ["output_types"] = new JsonObject(),
    };

    public static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());

    /// <summary>
    /// Logs an artifact of <paramref name="type"/> whose files are <paramref name="files"/> (path → text), written to
    /// a scratch folder under <paramref name="scratch"/> first.
    /// </summary>
    public static async Task<ArtifactVersion> LogAsync(IArtifactStore store, string scratch, string entity, string project, string name, string type,
        IReadOnlyDictionary<string, string> files, params string[] aliases)
    {
        var folder = Path.Combine(scratch, "artifact-" + Guid.NewGuid().ToString("N")[..8]);
        var onDisk = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (path, text) in files)
        {
            var full = Path.Combine(folder, path);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full, text);
            onDisk[path] = full;
        }
        var commit = await store.CommitAsync(new NewArtifact { Entity = entity, Project = project, Name = name, Type = type, Files = onDisk, Aliases = aliases }, CancellationToken.None);
        return commit.Version;
    }

    /// <summary>Logs a job artifact: <c>wandb-job.json</c>, <c>requirements.frozen.txt</c> and any <paramref name="extra"/> files (diff.patch).</summary>
    public static Task<ArtifactVersion> LogJobAsync(IArtifactStore store, string scratch, string entity, string project, string name, JsonObject definition,
        IReadOnlyDictionary<string, string>? extra = null, string frozenRequirements = "wandb==0.19.0\n")
    {
        var files = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["wandb-job.json"] = definition.ToJsonString(),
            ["requirements.frozen.txt"] = frozenRequirements,
        };
        foreach (var (path, text) in extra ?? new Dictionary<string, string>()) files[path] = text;
        return LogAsync(store, scratch, entity, project, name, "job", files);
    }
}
