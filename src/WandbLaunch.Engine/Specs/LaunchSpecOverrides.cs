using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using static WandbLaunch.Engine.Specs.LaunchSpec;

namespace WandbLaunch.Engine.Specs;

/// <summary>
/// A launch spec's <c>overrides</c>: what the run does differently from its job's defaults. A view over the spec's
/// document: reading a spec without overrides gives nulls, and the first value set creates the mapping; keys the
/// engine does not know (<c>files</c>...) stay as they are.
/// </summary>
public sealed class LaunchSpecOverrides
{
    private readonly JsonObject _spec;

    internal LaunchSpecOverrides(JsonObject spec) => _spec = spec;

    private JsonObject? Existing => _spec[Keys.Overrides] as JsonObject;

    private JsonObject Created()
    {
        if (Existing is { } existing) return existing;
        var created = new JsonObject();
        _spec[Keys.Overrides] = created;
        return created;
    }

    /// <summary>Whether the spec has an <c>overrides</c> mapping with anything in it.</summary>
    public bool Any => Existing is { Count: > 0 };

    /// <summary><c>overrides.entry_point</c>: the command as an argument vector, or null.</summary>
    public IReadOnlyList<string>? EntryPoint { get => Strings(Keys.EntryPoint); set => SetStrings(Keys.EntryPoint, value); }

    /// <summary><c>overrides.args</c>: arguments appended to the entry point, or null.</summary>
    public IReadOnlyList<string>? Args { get => Strings(Keys.Args); set => SetStrings(Keys.Args, value); }

    /// <summary><c>overrides.run_config</c>: a copy of the run's config (WANDB_CONFIG), or null.</summary>
    public JsonObject? RunConfig
    {
        get => Existing?[Keys.RunConfig]?.DeepClone() as JsonObject;
        set => Set(Keys.RunConfig, value?.DeepClone());
    }

    /// <summary><c>overrides.artifacts</c>: a copy of the artifacts the run uses, by name (WANDB_ARTIFACTS), or null.</summary>
    public JsonObject? Artifacts
    {
        get => Existing?[Keys.Artifacts]?.DeepClone() as JsonObject;
        set => Set(Keys.Artifacts, value?.DeepClone());
    }

    /// <summary><c>overrides.dockerfile</c>: the Dockerfile to build with, relative to the build context.</summary>
    /// <summary><c>overrides.files</c>: file overrides, given to the job as JSON in WANDB_LAUNCH_FILE_OVERRIDES (W&amp;B reads them in the run).</summary>
    public JsonObject? Files
    {
        get => Existing?[Keys.Files]?.DeepClone() as JsonObject;
        set => Set(Keys.Files, value?.DeepClone());
    }

    public string? Dockerfile { get => GetString(Existing, Keys.Dockerfile); set => Set(Keys.Dockerfile, value is null ? null : JsonValue.Create(value)); }

    /// <summary><c>overrides.working_dir</c>: where in the code the run starts, relative to it.</summary>
    public string? WorkingDir { get => GetString(Existing, Keys.WorkingDir); set => Set(Keys.WorkingDir, value is null ? null : JsonValue.Create(value)); }

    /// <summary>
    /// A list of strings; an item of another kind (only in a spec stored before Submit checked types) is read as its
    /// JSON text rather than dropped, so the command keeps its length and order.
    /// </summary>
    private List<string>? Strings(string key) =>
        Existing?[key] is JsonArray list ? list.Select(a => JsonTree.TryGetString(a, out var s) ? s : a?.ToJsonString() ?? "").ToList() : null;

    private void SetStrings(string key, IReadOnlyList<string>? values) =>
        Set(key, values is null ? null : new JsonArray(values.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray()));

    private void Set(string key, JsonNode? value)
    {
        if (value is null)
        {
            Existing?.Remove(key);
            return;
        }
        SetNode(Created(), key, value);
    }
}
