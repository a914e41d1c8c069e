using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Queues;

/// <summary>The rules every stored queue satisfies, shared by every backend.</summary>
public static class QueueRules
{
    /// <summary>The validated parts of a queue definition.</summary>
    public sealed record Checked(string Name, string Resource, JsonObject Config, IReadOnlyList<TemplateVariable> Variables);

    public static Checked Check(string name, string resource, JsonNode? configuration, JsonObject? templateVariables)
    {
        QueueNames.Validate(name);
        resource = LaunchResource.Normalize(resource);
        var config = NormalizeConfig(resource, configuration);
        if (resource == LaunchResource.LocalContainer) Docker.ContainerArgs.Check(config, "The local-container queue configuration");
        OsValues.CheckNul(config, "queue configuration");
        OsValues.CheckEnvironment(config, "The queue configuration");
        var variables = ReadVariables(templateVariables);
        ConfigTemplate.CheckVariables(config, variables.ToDictionary(v => v.Name, StringComparer.Ordinal));
        return new Checked(name, resource, config, variables);
    }

    /// <summary>
    /// Accepts the bare resource config or W&amp;B's stored form <c>{resource_args: {&lt;resource&gt;: config}}</c>
    /// and returns the bare config (a mapping).
    /// </summary>
    public static JsonObject NormalizeConfig(string resource, JsonNode? configuration)
    {
        switch (configuration)
        {
            case null:
                return new JsonObject();
            case JsonObject obj when obj.Count == 1 && obj["resource_args"] is JsonObject args:
                if (args.Count == 0) return new JsonObject();
                var other = args.Select(p => p.Key).FirstOrDefault(k => k != resource);
                if (other is not null || args[resource] is not (JsonObject or null))
                {
                    throw LaunchException.Invalid("InvalidQueueConfiguration",
                        $"The configuration's resource_args has {string.Join(", ", args.Select(p => $"'{p.Key}'"))}, but this queue's resource is '{resource}': " +
                        $"use resource_args.{resource} (a mapping), or give the bare configuration.", configuration.ToJsonString());
                }
                return (JsonObject?)args[resource]?.DeepClone() ?? new JsonObject();
            case JsonObject obj:
                return (JsonObject)obj.DeepClone();
            default:
                throw LaunchException.Invalid("InvalidQueueConfiguration",
                    $"A queue configuration must be a mapping (JSON object or YAML mapping); it was a {JsonTree.KindOf(configuration)}: {JsonTree.Show(configuration)}.",
                    JsonTree.Show(configuration));
        }
    }

    public static IReadOnlyList<TemplateVariable> ReadVariables(JsonObject? templateVariables) =>
        templateVariables is null
            ? []
            : templateVariables.Select(p => TemplateVariable.FromSchema(p.Key, p.Value)).ToList();

    public static JsonObject VariablesToJson(IEnumerable<TemplateVariable> variables)
    {
        var obj = new JsonObject();
        foreach (var v in variables) obj[v.Name] = v.ToSchema();
        return obj;
    }
}
