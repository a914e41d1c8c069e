using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;

namespace WandbLaunch.Engine.Config;

/// <summary>
/// An agent configuration (launch-config.yaml) after validation. <see cref="Document"/> keeps every key as
/// written, so that a file can be changed key by key and written back without losing anything.
/// </summary>
public sealed class LaunchAgentConfig
{
    /// <summary>The file this config was read from, or null for one built in memory.</summary>
    public string? Path { get; init; }

    public IReadOnlyList<string> Queues { get; init; } = [];

    public string? Entity { get; init; }

    /// <summary>-1 means unlimited.</summary>
    public int MaxJobs { get; init; } = AgentConfigDefaults.MaxJobs;

    /// <summary>-1 means unlimited.</summary>
    public int MaxSchedulers { get; init; } = AgentConfigDefaults.MaxSchedulers;

    public bool SecureMode { get; init; }

    public int Verbosity { get; init; }

    /// <summary>Seconds after a stop request before the run is cancelled.</summary>
    public int StoppedRunTimeout { get; init; } = AgentConfigDefaults.StoppedRunTimeout;

    public BuilderSettings Builder { get; init; } = new();

    public RegistrySettings Registry { get; init; } = new();

    public EnvironmentSettings Environment { get; init; } = new();

    /// <summary>For an effective config: where each top-level key's value came from (default, file, environment, parameter).</summary>
    public IReadOnlyDictionary<string, string>? Sources { get; init; }

    /// <summary>Warnings found while reading (deprecated or unknown keys).</summary>
    public IReadOnlyList<ConfigIssue> Warnings { get; init; } = [];

    internal JsonObject Document { get; init; } = new();

    /// <summary>The config as YAML, as it would be written to a file.</summary>
    public string ToYaml() => YamlWriter.Write(Document);

    /// <summary>A copy of the underlying document.</summary>
    public JsonObject GetDocument() => (JsonObject)Document.DeepClone();
}
