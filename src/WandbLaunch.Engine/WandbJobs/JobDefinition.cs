using System.Text.Json;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.WandbJobs;

/// <summary>
/// A W&amp;B job's <c>wandb-job.json</c> (W&amp;B: <c>sdk/internal/job_builder.py</c>, read by
/// <c>apis/public/jobs.py</c>). Parsed strictly: it comes from an artifact anyone with write access to the project
/// could have logged, so an unknown key, a missing field or a value of the wrong kind refuses the job with
/// <c>InvalidJobDefinition</c> naming the key, instead of running something other than what it says.
/// </summary>
public sealed record JobDefinition
{
    public const string FileName = "wandb-job.json";

    public const string FrozenRequirementsFileName = "requirements.frozen.txt";

    public const string DiffFileName = "diff.patch";

    /// <summary>The <c>_version</c> <c>wandb job create</c> writes when dockerfile or build_context is set.</summary>
    public const string VersionWithBuildFields = "0.17.0";

    public const string DefaultVersion = "v0";

    private static readonly string[] TopKeys = ["_version", "source_type", "source", "input_types", "output_types", "runtime", "services", "_partial"];

    private static readonly string[] SourceKeys = ["git", "artifact", "image", "entrypoint", "notebook", "build_context", "dockerfile", "base_image", "args"];

    public string Version { get; init; } = DefaultVersion;

    public required JobSourceType SourceType { get; init; }

    /// <summary>repo: the git remote (https://, ssh:// or user@host:path).</summary>
    public string? GitRemote { get; init; }

    /// <summary>repo: the commit (or ref) to check out.</summary>
    public string? GitCommit { get; init; }

    /// <summary>artifact: <c>wandb-artifact://_id/&lt;id&gt;</c> (or a code artifact's name).</summary>
    public string? CodeArtifact { get; init; }

    /// <summary>image: the image reference.</summary>
    public string? Image { get; init; }

    public IReadOnlyList<string>? EntryPoint { get; init; }

    public IReadOnlyList<string>? Args { get; init; }

    public bool Notebook { get; init; }

    public string? BuildContext { get; init; }

    public string? Dockerfile { get; init; }

    public string? BaseImage { get; init; }

    /// <summary>The Python version the job was made with (<c>3.10.12</c> from a run, <c>3.10</c> from <c>wandb job create</c>).</summary>
    public string? Runtime { get; init; }

    public JsonObject? InputTypes { get; init; }

    public JsonObject? OutputTypes { get; init; }

    public JsonObject? Services { get; init; }

    public bool Partial { get; init; }

    public static string SourceTypeName(JobSourceType type) => type switch
    {
        JobSourceType.Repo => "repo",
        JobSourceType.Artifact => "artifact",
        _ => "image",
    };

    /// <summary>Parses and checks <c>wandb-job.json</c>; <paramref name="job"/> names the job in errors.</summary>
    public static JobDefinition Parse(string json, string job)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw Refuse(job, $"is not JSON ({e.Message})");
        }
        if (node is not JsonObject root) throw Refuse(job, "is not a JSON object");
        Unknown(root, TopKeys, "", job);
        var sourceType = String(root, "source_type", job) switch
        {
            "repo" => JobSourceType.Repo,
            "artifact" => JobSourceType.Artifact,
            "image" => JobSourceType.Image,
            null => throw Refuse(job, "has no source_type; it is one of repo, artifact or image"),
            var other => throw Refuse(job, $"has source_type {Shown(other)}; it is one of repo, artifact or image"),
        };
        if (root["source"] is not JsonObject source) throw Refuse(job, "has no source object");
        Unknown(source, SourceKeys, "source.", job);
        string? remote = null, commit = null, artifact = null, image = null;
        switch (sourceType)
        {
            case JobSourceType.Repo:
                if (source["git"] is not JsonObject git) throw Refuse(job, "is a repo job without source.git {remote, commit}");
                Unknown(git, ["remote", "commit"], "source.git.", job);
                remote = String(git, "remote", job, "source.git.") ?? throw Refuse(job, "has no source.git.remote");
                commit = String(git, "commit", job, "source.git.") ?? throw Refuse(job, "has no source.git.commit");
                break;
            case JobSourceType.Artifact:
                artifact = String(source, "artifact", job, "source.") ?? throw Refuse(job, "is an artifact job without source.artifact");
                break;
            default:
                image = String(source, "image", job, "source.") ?? throw Refuse(job, "is an image job without source.image");
                break;
        }
        return new JobDefinition
        {
            Version = String(root, "_version", job) ?? DefaultVersion,
            SourceType = sourceType,
            GitRemote = remote,
            GitCommit = commit,
            CodeArtifact = artifact,
            Image = image,
            EntryPoint = Strings(source, "entrypoint", job),
            Args = Strings(source, "args", job),
            Notebook = Bool(source, "notebook", job, "source.") ?? false,
            BuildContext = String(source, "build_context", job, "source."),
            Dockerfile = String(source, "dockerfile", job, "source."),
            BaseImage = String(source, "base_image", job, "source."),
            Runtime = String(root, "runtime", job),
            InputTypes = Object(root, "input_types", job),
            OutputTypes = Object(root, "output_types", job),
            Services = Object(root, "services", job),
            Partial = Bool(root, "_partial", job, "") ?? false,
        };
    }

    /// <summary>The JSON W&amp;B writes (null keys dropped).</summary>
    public string ToJson()
    {
        var source = new JsonObject();
        switch (SourceType)
        {
            case JobSourceType.Repo:
                source["git"] = new JsonObject { ["remote"] = GitRemote, ["commit"] = GitCommit };
                break;
            case JobSourceType.Artifact:
                source["artifact"] = CodeArtifact;
                break;
            default:
                source["image"] = Image;
                break;
        }
        if (EntryPoint is not null) source["entrypoint"] = new JsonArray(EntryPoint.Select(e => (JsonNode?)JsonValue.Create(e)).ToArray());
        if (SourceType != JobSourceType.Image) source["notebook"] = Notebook;
        if (Args is not null) source["args"] = new JsonArray(Args.Select(e => (JsonNode?)JsonValue.Create(e)).ToArray());
        if (BuildContext is not null) source["build_context"] = BuildContext;
        if (Dockerfile is not null) source["dockerfile"] = Dockerfile;
        if (BaseImage is not null) source["base_image"] = BaseImage;
        var root = new JsonObject
        {
            ["_version"] = Version,
            ["source_type"] = SourceTypeName(SourceType),
            ["source"] = source,
            ["input_types"] = InputTypes?.DeepClone() ?? new JsonObject(),
            ["output_types"] = OutputTypes?.DeepClone() ?? new JsonObject(),
        };
        if (Runtime is not null) root["runtime"] = Runtime;
        if (Services is { } services) root["services"] = services.DeepClone();
        if (Partial) root["_partial"] = true;
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static void Unknown(JsonObject o, string[] allowed, string prefix, string job)
    {
        foreach (var (key, _) in o)
        {
            if (!allowed.Contains(key, StringComparer.Ordinal))
            {
                throw Refuse(job, $"has the unknown key {Shown(prefix + key)}; {(prefix.Length == 0 ? "the top level" : prefix.TrimEnd('.'))} may have {string.Join(", ", allowed)}");
            }
        }
    }

    private static string? String(JsonObject o, string key, string job, string prefix = "")
    {
        var value = o[key];
        if (value is null) return null;
        if (!JsonTree.TryGetString(value, out var s)) throw Refuse(job, $"gives {prefix}{key} as {JsonTree.KindOf(value)} {JsonTree.Show(value)}; it is a string");
        if (s.Contains('\0')) throw Refuse(job, $"gives {prefix}{key} with a NUL character");
        return s;
    }

    private static bool? Bool(JsonObject o, string key, string job, string prefix)
    {
        var value = o[key];
        if (value is null) return null;
        if (value is JsonValue v && v.TryGetValue<bool>(out var b)) return b;
        throw Refuse(job, $"gives {prefix}{key} as {JsonTree.Show(value)}; it is true or false");
    }

    private static IReadOnlyList<string>? Strings(JsonObject source, string key, string job)
    {
        var value = source[key];
        if (value is null) return null;
        if (value is not JsonArray array || array.Any(a => !JsonTree.TryGetString(a, out var s) || s.Contains('\0')))
        {
            throw Refuse(job, $"gives source.{key} as {JsonTree.Show(value)}; it is a list of strings");
        }
        return array.Select(a => a!.GetValue<string>()).ToList();
    }

    private static JsonObject? Object(JsonObject o, string key, string job)
    {
        var value = o[key];
        if (value is null) return null;
        return value as JsonObject ?? throw Refuse(job, $"gives {key} as {JsonTree.Show(value)}; it is an object");
    }

    private static string Shown(string value) => JsonTree.Show(JsonValue.Create(value));

    private static LaunchException Refuse(string job, string what) =>
        LaunchException.InvalidData("InvalidJobDefinition", $"The {FileName} of job {job} {what}.", job);
}
