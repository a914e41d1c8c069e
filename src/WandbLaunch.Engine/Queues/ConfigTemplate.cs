using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Queues;

/// <summary>
/// The <c>{{name}}</c> placeholders of a queue configuration: checking them against the queue's variables, and
/// rendering them with a push's values. A string that is exactly one placeholder takes the value's type
/// (so <c>cpus: "{{cpus}}"</c> becomes a number); a placeholder inside a longer string is replaced as text.
/// </summary>
public static partial class ConfigTemplate
{
    [GeneratedRegex(@"\{\{\s*([A-Za-z_][A-Za-z0-9_\-]*)\s*\}\}")]
    private static partial Regex Placeholder();

    [GeneratedRegex(@"^\{\{\s*([A-Za-z_][A-Za-z0-9_\-]*)\s*\}\}$")]
    private static partial Regex WholePlaceholder();

    /// <summary>The placeholder names in the tree (in keys and values), in order of first appearance.</summary>
    public static IReadOnlyList<string> Placeholders(JsonNode? config)
    {
        var names = new List<string>();
        Visit(config, text =>
        {
            foreach (Match m in Placeholder().Matches(text))
            {
                if (!names.Contains(m.Groups[1].Value)) names.Add(m.Groups[1].Value);
            }
        });
        return names;
    }

    /// <summary>Every placeholder must have a variable and every variable must be used.</summary>
    public static void CheckVariables(JsonNode? config, IReadOnlyDictionary<string, TemplateVariable> variables)
    {
        var used = Placeholders(config);
        var missing = used.Where(n => !variables.ContainsKey(n)).ToList();
        if (missing.Count > 0)
        {
            throw LaunchException.Invalid("TemplateVariableMissing",
                $"The configuration uses {string.Join(", ", missing.Select(n => "{{" + n + "}}"))} but the queue defines no such template variable. " +
                $"Add {(missing.Count == 1 ? "it" : "them")} with -TemplateVariable @{{ {missing[0]} = @{{ type = 'integer'; minimum = 1; maximum = 8 }} }}" +
                (variables.Count > 0 ? $" (defined: {string.Join(", ", variables.Keys)})." : "."),
                missing[0]);
        }
        var unused = variables.Keys.Where(n => !used.Contains(n)).ToList();
        if (unused.Count > 0)
        {
            throw LaunchException.Invalid("TemplateVariableUnused",
                $"Template variable(s) {string.Join(", ", unused.Select(n => $"'{n}'"))} are defined but the configuration never uses them; " +
                $"write {{{{{unused[0]}}}}} where the value belongs, or remove the variable.",
                unused[0]);
        }
    }

    /// <summary>
    /// Validates <paramref name="values"/> against the variables (unknown names are refused; a missing value takes
    /// the default or is an error) and returns the checked, typed values.
    /// </summary>
    public static IReadOnlyDictionary<string, JsonNode> ResolveValues(IReadOnlyDictionary<string, TemplateVariable> variables, JsonObject? values)
    {
        var result = new Dictionary<string, JsonNode>(StringComparer.Ordinal);
        if (values is not null)
        {
            foreach (var (name, value) in values)
            {
                if (!variables.TryGetValue(name, out var variable))
                {
                    throw LaunchException.Invalid("UnknownTemplateVariable",
                        variables.Count == 0
                            ? $"Template variable '{name}' was given, but this queue's configuration has no template variables."
                            : $"Template variable '{name}' was given, but this queue defines only: {string.Join(", ", variables.Keys)}.",
                        name);
                }
                result[name] = variable.Coerce(value);
            }
        }
        foreach (var variable in variables.Values)
        {
            if (result.ContainsKey(variable.Name)) continue;
            if (!variable.HasDefault)
            {
                throw LaunchException.Invalid("TemplateValueMissing",
                    $"Template variable '{variable.Name}' has no default, so a value is required ({variable}). Pass it with -TemplateVariable @{{ {variable.Name} = ... }}.",
                    variable.Name);
            }
            result[variable.Name] = variable.DefaultNode!.DeepClone();
        }
        return result;
    }

    /// <summary>Returns a copy of <paramref name="config"/> with every placeholder replaced.</summary>
    public static JsonNode? Render(JsonNode? config, IReadOnlyDictionary<string, JsonNode> values)
    {
        switch (config)
        {
            case null:
                return null;
            case JsonObject obj:
                var copy = new JsonObject();
                foreach (var (key, value) in obj) copy[ReplaceText(key, values)] = Render(value, values);
                return copy;
            case JsonArray arr:
                return new JsonArray(arr.Select(item => Render(item, values)).ToArray());
            default:
                if (!JsonTree.TryGetString(config, out var text)) return config.DeepClone();
                var whole = WholePlaceholder().Match(text);
                if (whole.Success && values.TryGetValue(whole.Groups[1].Value, out var typed)) return typed.DeepClone();
                return JsonValue.Create(ReplaceText(text, values));
        }
    }

    private static string ReplaceText(string text, IReadOnlyDictionary<string, JsonNode> values) =>
        Placeholder().Replace(text, m => values.TryGetValue(m.Groups[1].Value, out var v)
            ? (JsonTree.TryGetString(v, out var s) ? s : v.ToJsonString())
            : m.Value);

    private static void Visit(JsonNode? node, Action<string> onText)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, value) in obj)
                {
                    onText(key);
                    Visit(value, onText);
                }
                break;
            case JsonArray arr:
                foreach (var item in arr) Visit(item, onText);
                break;
            default:
                if (JsonTree.TryGetString(node, out var text)) onText(text);
                break;
        }
    }
}
