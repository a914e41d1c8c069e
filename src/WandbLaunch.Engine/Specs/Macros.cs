using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Documents;

namespace WandbLaunch.Engine.Specs;

/// <summary>
/// W&amp;B's agent-side macros in <c>resource_args</c>: <c>${project_name}</c>, <c>${entity_name}</c>,
/// <c>${run_id}</c>, <c>${run_name}</c>, <c>${image_uri}</c>, <c>${author}</c>, and any environment variable of
/// the agent. As W&amp;B's <c>fill_macros</c> (<c>_project_spec.py</c>) and <c>macro_sub</c> (<c>utils.py</c>): a name is
/// any run of word characters (<c>\$\{(\w+)\}</c>), and an agent environment variable wins over a built-in macro of
/// the same name. Unknown macros are left as written; so are built-ins without a value (W&amp;B writes <c>None</c>).
/// </summary>
public static partial class Macros
{
    [GeneratedRegex(@"\$\{(\w+)\}")]
    private static partial Regex Macro();

    public sealed record Values(string? Project, string? Entity, string RunId, string? RunName, string? ImageUri, string? Author);

    public static JsonNode? Substitute(JsonNode? node, Values values, Func<string, string?> environment)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonObject obj:
                var copy = new JsonObject();
                foreach (var (key, value) in obj) copy[key] = Substitute(value, values, environment);
                return copy;
            case JsonArray arr:
                return new JsonArray(arr.Select(item => Substitute(item, values, environment)).ToArray());
            default:
                return JsonTree.TryGetString(node, out var text) ? JsonValue.Create(Replace(text, values, environment)) : node.DeepClone();
        }
    }

    public static string Replace(string text, Values values, Func<string, string?> environment) =>
        Macro().Replace(text, m => environment(m.Groups[1].Value) ?? m.Groups[1].Value switch
        {
            "project_name" => values.Project ?? m.Value,
            "entity_name" => values.Entity ?? m.Value,
            "run_id" => values.RunId,
            "run_name" => values.RunName ?? values.RunId,
            "image_uri" => values.ImageUri ?? m.Value,
            "author" => values.Author ?? m.Value,
            _ => m.Value,
        });
}
