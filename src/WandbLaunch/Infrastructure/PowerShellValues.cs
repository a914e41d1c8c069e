using System.Collections;
using System.Collections.Specialized;
using System.Management.Automation;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Infrastructure;

/// <summary>Turns PowerShell values (PSObject wrappers, PSCustomObject, hashtables, arrays) into engine values.</summary>
internal static class PowerShellValues
{
    /// <summary>Unwraps PSObjects recursively into dictionaries, lists and primitives.</summary>
    public static object? ToPlain(object? value)
    {
        if (value is PSObject pso)
        {
            if (pso.BaseObject is PSCustomObject)
            {
                var dict = new OrderedDictionary();
                foreach (var property in pso.Properties) dict[property.Name] = ToPlain(property.Value);
                return dict;
            }
            value = pso.BaseObject;
        }
        switch (value)
        {
            case null or string:
                return value;
            case IDictionary dictionary:
                var copy = new OrderedDictionary();
                foreach (DictionaryEntry entry in dictionary) copy[entry.Key] = ToPlain(entry.Value);
                return copy;
            case IEnumerable list:
                return list.Cast<object?>().Select(ToPlain).ToList();
            default:
                return value;
        }
    }

    /// <summary>A hashtable or object as a JSON tree.</summary>
    public static JsonNode? ToJson(object? value, string errorId) => JsonTree.FromObject(ToPlain(value), errorId);

    /// <summary>
    /// A document given as JSON or YAML text, or as a hashtable or object. Text is parsed; anything else is converted.
    /// </summary>
    public static JsonNode? ToDocument(object? value, string errorId)
    {
        var plain = value is PSObject pso && pso.BaseObject is not PSCustomObject ? pso.BaseObject : value;
        if (plain is string text) return StructuredText.Parse(text, null, errorId).Root;
        if (plain is null) return null;
        if (plain is PSObject or IDictionary) return ToJson(plain, errorId);
        throw LaunchException.Invalid(errorId,
            $"Expected JSON or YAML text, a hashtable or an object; got a {plain.GetType().Name}.", plain);
    }
}
