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
    /// <summary>
    /// One level of a PowerShell value as the engine reads values: a PSCustomObject as an ordered dictionary of its
    /// properties (their values still wrapped), any other PSObject as the object it wraps. The engine walks the
    /// levels, so that it alone holds the limits (depth, size, a hashtable that contains itself).
    /// </summary>
    private static object? Unwrap(object value)
    {
        if (value is not PSObject pso) return value;
        if (pso.BaseObject is not PSCustomObject) return pso.BaseObject;
        var dict = new OrderedDictionary();
        foreach (var property in pso.Properties) dict[property.Name] = property.Value;
        return dict;
    }

    /// <summary>A hashtable or object as a JSON tree.</summary>
    public static JsonNode? ToJson(object? value, string errorId) => JsonTree.FromObject(value, errorId, unwrap: Unwrap);

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
