using System.Text.Json.Nodes;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Config;

/// <summary>Reading, validating and writing launch-config.yaml files.</summary>
public static class AgentConfigFile
{
    /// <summary>
    /// Reads a config file. A missing file is an error when <paramref name="path"/> was given explicitly and an
    /// empty config when it is the default path; an empty file is <c>{}</c>; invalid YAML names the position.
    /// </summary>
    public static ParsedDocument Read(string? path)
    {
        var explicitPath = path is not null;
        var fullPath = Resolve(path);
        if (!File.Exists(fullPath))
        {
            if (explicitPath)
            {
                throw LaunchException.NotFound("AgentConfigNotFound",
                    $"The agent config file '{fullPath}' does not exist. Create it with New-WandbLaunchAgentConfig -Path '{fullPath}', or omit -Path to use {AgentConfigDefaults.Path()}.",
                    fullPath);
            }
            EngineLog.Verbose("config", () => $"{Printable.Quote(fullPath)} does not exist: using an empty config");
            return StructuredText.Parse("", fullPath, "InvalidAgentConfigYaml");
        }
        EngineLog.Verbose("config", () => $"reading {Printable.Quote(fullPath)}");
        return StructuredText.ParseFile(fullPath, "InvalidAgentConfigYaml");
    }

    public static string Resolve(string? path)
    {
        if (path is null) return AgentConfigDefaults.Path();
        OsValues.CheckPath(path, "agent config path");
        return Path.GetFullPath(FileSystem.UserHome.Expand(path));
    }

    /// <summary>Reads and validates; throws the first error (with file, line and column) when the file is invalid.</summary>
    public static LaunchAgentConfig Load(string? path)
    {
        var result = AgentConfigValidator.Validate(Read(path));
        return result.Config ?? throw ToException(result);
    }

    public static LaunchException ToException(AgentConfigValidator.Result result)
    {
        var errors = result.Errors.ToList();
        var first = errors[0];
        var more = errors.Count > 1 ? $" ({errors.Count - 1} more: {string.Join("; ", errors.Skip(1).Select(e => e.ToString()))})" : "";
        return new LaunchException(first.ErrorId, LaunchErrorCategory.InvalidData, first + more, (object?)first.File ?? first.Key);
    }

    /// <summary>
    /// Validates <paramref name="document"/>: the config read from <paramref name="current"/> (null for a new file)
    /// with the keys in <paramref name="changedKeys"/> changed. Issues in keys that kept their place in the file name
    /// its line and column; issues in changed keys name none, as no file holds that text yet.
    /// </summary>
    public static AgentConfigValidator.Result ValidateChanged(ParsedDocument? current, string path, JsonObject document, IEnumerable<string> changedKeys)
    {
        // A round trip through YAML gives values the types they will have when read back from the file.
        var root = StructuredText.Parse(YamlWriter.Write(document), path, "InvalidAgentConfigYaml").Root;
        var changed = changedKeys.Select(k => k.Split('.').Aggregate("", DocumentPath.Key)).ToList();
        bool Unchanged(string p) =>
            p.Length > 0 && !changed.Any(c => p == c || p.StartsWith(c + ".", StringComparison.Ordinal) || p.StartsWith(c + "[", StringComparison.Ordinal));
        var parsed = current is null
            ? new ParsedDocument(root, path, new Dictionary<string, SourcePosition>())
            : current.WithChanges(root, Unchanged);
        return AgentConfigValidator.Validate(parsed);
    }

    /// <summary>
    /// Applies <paramref name="changes"/> to the document: each key path (<c>builder.destination</c>) is set, and a
    /// null value removes the key. Every other key is kept as it was.
    /// </summary>
    public static JsonObject Apply(JsonObject document, IEnumerable<KeyValuePair<string, JsonNode?>> changes)
    {
        var copy = (JsonObject)document.DeepClone();
        foreach (var (path, value) in changes)
        {
            var parts = path.Split('.');
            var parent = copy;
            for (var i = 0; i < parts.Length - 1; i++)
            {
                if (parent[parts[i]] is not JsonObject child)
                {
                    if (value is null) { parent = null; break; }
                    child = new JsonObject();
                    parent[parts[i]] = child;
                }
                parent = child;
            }
            if (parent is null) continue;
            if (value is null) parent.Remove(parts[^1]);
            else parent[parts[^1]] = value.DeepClone();
        }
        return copy;
    }

    /// <summary>Validates <paramref name="document"/> and writes it; nothing is written when it is invalid.</summary>
    public static LaunchAgentConfig Write(string path, JsonObject document) => WriteText(Resolve(path), YamlWriter.Write(document));

    /// <summary>
    /// Writes <paramref name="document"/> over the file <paramref name="current"/> was read from, which differs from it
    /// only in <paramref name="changedKeys"/>, by editing the text that was read (<see cref="YamlEditor"/>): comments,
    /// blank lines and the formatting of every other key stay as they are. Nothing is written when the result is invalid.
    /// </summary>
    public static LaunchAgentConfig Update(string path, ParsedDocument current, JsonObject document, IEnumerable<string> changedKeys) =>
        WriteText(Resolve(path), YamlEditor.Edit(current.Text, document, changedKeys));

    private static LaunchAgentConfig WriteText(string fullPath, string yaml)
    {
        var result = AgentConfigValidator.Validate(StructuredText.Parse(yaml, fullPath, "InvalidAgentConfigYaml"));
        if (result.Config is null) throw ToException(result);
        try
        {
            var directory = Path.GetDirectoryName(fullPath);
            if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
            // Write beside the target and rename, so a crash never leaves a half-written config.
            var temp = fullPath + ".tmp-" + Environment.ProcessId;
            File.WriteAllText(temp, yaml);
            File.Move(temp, fullPath, overwrite: true);
            EngineLog.Verbose("config", () => $"wrote {Printable.Quote(fullPath)}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LaunchException("AgentConfigNotWritable", LaunchErrorCategory.WriteError, $"Cannot write the agent config '{fullPath}': {e.Message}", fullPath, e);
        }
        return result.Config;
    }
}
