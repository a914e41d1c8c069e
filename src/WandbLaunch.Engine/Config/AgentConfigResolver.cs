using System.Globalization;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Config;

/// <summary>
/// The agent's effective config, resolved as W&amp;B resolves it: built-in defaults &lt; launch-config.yaml &lt;
/// environment (<c>WANDB_ENTITY</c>, <c>WANDB_LAUNCH_MAX_JOBS</c>) &lt; parameters. A string <c>queue</c> key
/// is added to <c>queues</c>.
/// </summary>
public static class AgentConfigResolver
{
    public const string SourceDefault = "default";
    public const string SourceFile = "file";
    public const string SourceEnvironment = "environment";
    public const string SourceParameter = "parameter";

    /// <summary>Values given on the command line; null members were not given.</summary>
    public sealed class Overrides
    {
        public IReadOnlyList<string>? Queues { get; init; }

        public string? Entity { get; init; }

        public int? MaxJobs { get; init; }

        public IReadOnlyDictionary<string, JsonNode?>? Settings { get; init; }
    }

    public static LaunchAgentConfig Resolve(string? path, Func<string, string?> environment, Overrides? overrides = null)
    {
        var file = AgentConfigFile.Read(path);
        var fileResult = AgentConfigValidator.Validate(file);
        if (fileResult.Config is null) throw AgentConfigFile.ToException(fileResult);

        var sources = new Dictionary<string, string>(StringComparer.Ordinal);
        var doc = AgentConfigDefaults.Document();
        foreach (var (key, _) in doc) sources[key] = SourceDefault;
        foreach (var (key, value) in (JsonObject)(file.Root ?? new JsonObject()))
        {
            if (key == "queue")
            {
                continue;
            }
            doc[key] = value?.DeepClone();
            sources[key] = SourceFile;
        }
        if (fileResult.Config.Queues.Count > 0)
        {
            doc["queues"] = new JsonArray(fileResult.Config.Queues.Select(q => (JsonNode?)JsonValue.Create(q)).ToArray());
            sources["queues"] = SourceFile;
        }

        if (environment("WANDB_ENTITY") is { Length: > 0 } entity)
        {
            doc["entity"] = entity;
            sources["entity"] = SourceEnvironment;
        }
        if (environment("WANDB_LAUNCH_MAX_JOBS") is { Length: > 0 } maxJobsText)
        {
            if (!int.TryParse(maxJobsText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var maxJobs) || maxJobs < -1 || maxJobs == 0)
            {
                throw LaunchException.Invalid("InvalidMaxJobs",
                    $"The environment variable WANDB_LAUNCH_MAX_JOBS is '{maxJobsText}'; it must be -1 (unlimited) or a positive whole number.", maxJobsText);
            }
            doc["max_jobs"] = maxJobs;
            sources["max_jobs"] = SourceEnvironment;
        }

        if (overrides is not null)
        {
            if (overrides.Queues is { Count: > 0 } queues)
            {
                doc["queues"] = new JsonArray(queues.Distinct().Select(q => (JsonNode?)JsonValue.Create(q)).ToArray());
                sources["queues"] = SourceParameter;
            }
            if (overrides.Entity is { } e)
            {
                doc["entity"] = e;
                sources["entity"] = SourceParameter;
            }
            if (overrides.MaxJobs is { } m)
            {
                doc["max_jobs"] = m;
                sources["max_jobs"] = SourceParameter;
            }
            if (overrides.Settings is { } settings)
            {
                doc = AgentConfigFile.Apply(doc, settings);
                foreach (var key in settings.Keys) sources[key.Split('.')[0]] = SourceParameter;
            }
        }

        // Re-validate the merged document: environment and parameters obey the same rules as the file.
        var merged = StructuredText.Parse(YamlWriter.Write(doc), file.File, "InvalidAgentConfigYaml");
        // Keys still as the file has them keep their line and column, so a warning about one names where it is.
        var positioned = file.WithChanges(merged.Root, path => sources.TryGetValue(TopLevelKey(path), out var source) && source == SourceFile);
        var result = AgentConfigValidator.Validate(positioned, sources);
        if (result.Config is null) throw AgentConfigFile.ToException(result);
        return result.Config;
    }

    private static string TopLevelKey(string path)
    {
        var end = path.IndexOfAny(['.', '[']);
        return end < 0 ? path : path[..end];
    }
}
