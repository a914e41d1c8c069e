using System.Text.Json.Nodes;

namespace WandbLaunch.TestSupport;

/// <summary>Launch specs as W&amp;B's JSON, the way tests build them and reach into them.</summary>
public static class TestSpecs
{
    /// <summary>A spec the local-process runner can run: the code in <paramref name="uri"/>, started with <paramref name="entryPoint"/>.</summary>
    public static JsonObject LocalProcess(string uri, IEnumerable<string> entryPoint, string? entity = null, string? project = null)
    {
        var spec = new JsonObject();
        if (entity is not null) spec["entity"] = entity;
        if (project is not null) spec["project"] = project;
        spec["uri"] = uri;
        spec["overrides"] = new JsonObject { ["entry_point"] = new JsonArray(entryPoint.Select(e => (JsonNode?)e).ToArray()) };
        return spec;
    }

    /// <summary>The mapping at a dotted path ("" is the root); mappings on the way are made when <paramref name="create"/>, else null.</summary>
    public static JsonObject? At(JsonObject root, string path, bool create)
    {
        var current = root;
        foreach (var part in path.Length == 0 ? [] : path.Split('.'))
        {
            if (current[part] is not JsonObject next)
            {
                if (!create) return null;
                next = new JsonObject();
                current[part] = next;
            }
            current = next;
        }
        return current;
    }

    /// <summary>Puts <paramref name="value"/> at a dotted path (<c>git.version</c>), making the mappings on the way; returns the spec.</summary>
    public static JsonObject Set(JsonObject spec, string path, JsonNode? value)
    {
        var dot = path.LastIndexOf('.');
        At(spec, dot < 0 ? "" : path[..dot], create: true)![path[(dot + 1)..]] = value;
        return spec;
    }
}
