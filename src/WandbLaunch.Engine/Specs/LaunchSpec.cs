using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Queues;

namespace WandbLaunch.Engine.Specs;

/// <summary>
/// A launch spec (W&amp;B's <c>launch_spec</c>): what a queue item runs, and how. The engine reads and writes its
/// keys only through these typed members; the JSON document underneath keeps every other key (top-level, and
/// inside <c>overrides</c>, <c>docker</c>, <c>git</c>, <c>builder</c>...) unchanged and in order, so a spec
/// round-trips through parse, change, store and read without losing what W&amp;B or a later version put there.
/// </summary>
/// <remarks>
/// <see cref="Parse"/> checks the type of every known key (a user's or a file's spec); <see cref="FromStored"/>
/// trusts the shape of what the store holds, and the readers stay tolerant of a spec an older version stored. The
/// rules for hostile values (names that become paths, NULs, priorities) run in <see cref="LaunchSpecRules.Prepare"/>.
/// </remarks>
public sealed class LaunchSpec
{
    private readonly JsonObject _root;

    private LaunchSpec(JsonObject root)
    {
        _root = root;
        Overrides = new LaunchSpecOverrides(root);
    }

    /// <summary>An empty spec.</summary>
    public static LaunchSpec Empty() => new(new JsonObject());

    /// <summary>
    /// A copy of <paramref name="document"/> as a launch spec; refuses (InvalidLaunchSpec) a document that is not a
    /// mapping, or a known key holding the wrong kind of value, naming the key's path and what it must be.
    /// </summary>
    public static LaunchSpec Parse(JsonNode? document)
    {
        if (document is not JsonObject root)
        {
            throw LaunchException.Invalid("InvalidLaunchSpec", "A launch spec must be a mapping (a JSON or YAML object, a file holding one, or a hashtable).", null);
        }
        var spec = new LaunchSpec((JsonObject)root.DeepClone());
        LaunchSpecShape.Check(spec._root);
        return spec;
    }

    /// <summary>The spec a store holds (its JSON text), unchecked: a store an older version wrote is read as it is.</summary>
    public static LaunchSpec FromStored(string? json) => new(JsonTree.ParseJson(json) as JsonObject ?? new JsonObject());

    /// <summary>A copy of this spec.</summary>
    public LaunchSpec Clone() => new((JsonObject)_root.DeepClone());

    /// <summary>The spec as W&amp;B's JSON (the form it is stored and shown in).</summary>
    public string ToJson(bool indented = false) => JsonTree.ToJson(_root, indented);

    /// <summary>A copy of the spec as a JSON document.</summary>
    public JsonObject ToJsonObject() => (JsonObject)_root.DeepClone();

    /// <summary>The spec as plain dictionaries, lists and values (for PowerShell).</summary>
    public object? ToPlain() => JsonTree.ToPlain(_root);

    /// <summary>
    /// <c>job</c>: the W&amp;B job <em>artifact</em> to run (<c>entity/project/name[:alias]</c>). Not a queue item
    /// (<see cref="Jobs.LaunchJob"/>) and not a PowerShell job.
    /// </summary>
    public string? JobArtifactName { get => GetString(_root, Keys.Job); set => SetString(_root, Keys.Job, value); }

    /// <summary>
    /// <c>uri</c>: the code, a git URL or a local directory; null for W&amp;B's sweep-scheduler placeholder, which names no
    /// code (the spec keeps it as written).
    /// </summary>
    public string? Uri
    {
        get => GetString(_root, Keys.Uri) is { } uri && !IsSchedulerPlaceholder(uri) ? uri : null;
        set => SetString(_root, Keys.Uri, value);
    }

    /// <summary>
    /// W&amp;B's mark of a sweep scheduler (<c>sweeps/scheduler.py</c> <c>PLACEHOLDER_URI</c>); W&amp;B's agent takes any uri
    /// starting with "placeholder" as one and then runs the spec's image or job, else its own scheduler
    /// (<c>_project_spec.py</c> <c>init_source</c>).
    /// </summary>
    public static bool IsSchedulerPlaceholder(string uri) => uri.StartsWith("placeholder", StringComparison.Ordinal);

    /// <summary>Whether the spec is a scheduler W&amp;B's CLI queues (<c>uri</c> is the placeholder).</summary>
    public bool IsSweepScheduler => GetString(_root, Keys.Uri) is { } uri && IsSchedulerPlaceholder(uri);

    /// <summary><c>docker.docker_image</c>: a prebuilt image to run.</summary>
    public string? DockerImage
    {
        get => GetString(_root[Keys.Docker] as JsonObject, Keys.DockerImage);
        set => SetString(Child(Keys.Docker), Keys.DockerImage, value);
    }

    /// <summary><c>docker.user_id</c>: the uid of the user a generated image runs as (W&amp;B's default 1000); null when absent or not a whole number.</summary>
    public int? DockerUserId =>
        (_root[Keys.Docker] as JsonObject)?[Keys.UserId] is JsonValue v && JsonTree.IsInteger(v) && v.GetValue<long>() is >= 0 and <= int.MaxValue and var id ? (int)id : null;

    /// <summary>The prebuilt image the spec names, <c>docker.docker_image</c> else the top-level <c>image_uri</c>; null when neither (or empty).</summary>
    public string? PrebuiltImage =>
        DockerImage is { Length: > 0 } image ? image
        : GetString(_root, Keys.ImageUri) is { Length: > 0 } uri ? uri
        : null;

    /// <summary>What the spec runs, for display: its uri, else its job artifact, else its prebuilt image.</summary>
    public string? Source => Uri ?? JobArtifactName ?? PrebuiltImage;

    /// <summary>Which of the three sources (job, uri, docker image) the spec gives, in that order.</summary>
    public IReadOnlyList<string> SourcesGiven =>
        new[] { (_root[Keys.Job] is not null, "job"), (Uri is not null, "uri"), (PrebuiltImage is not null, "docker image") }
            .Where(s => s.Item1).Select(s => s.Item2).ToList();

    /// <summary><c>git.version</c>: the branch, tag or commit of a git uri.</summary>
    public string? GitVersion
    {
        get => GetString(_root[Keys.Git] as JsonObject, Keys.Version);
        set => SetString(Child(Keys.Git), Keys.Version, value);
    }

    /// <summary><c>overrides</c>: the entry point, arguments, run config, artifacts, Dockerfile and working directory.</summary>
    public LaunchSpecOverrides Overrides { get; }

    /// <summary><c>resource</c>: the resource the spec asks for (the queue's, once prepared).</summary>
    public string? Resource { get => GetString(_root, Keys.Resource); set => SetString(_root, Keys.Resource, value); }

    /// <summary>Whether the spec has a <c>resource</c> key at all (of any value).</summary>
    public bool HasResource => _root[Keys.Resource] is not null;

    /// <summary>The raw <c>resource</c> value, for messages about a wrong one.</summary>
    internal string? ResourceText => _root[Keys.Resource] is { } node ? JsonTree.TryGetString(node, out var s) ? s : JsonTree.Show(node) : null;

    /// <summary><c>resource_args</c>: a copy of every resource's arguments, or null.</summary>
    public JsonObject? ResourceArgs
    {
        get => _root[Keys.ResourceArgs]?.DeepClone() as JsonObject;
        set => SetNode(_root, Keys.ResourceArgs, value?.DeepClone());
    }

    /// <summary>A copy of <c>resource_args.&lt;resource&gt;</c>, or null when the spec has none.</summary>
    public JsonObject? ResourceArgsFor(string resource) => (_root[Keys.ResourceArgs] as JsonObject)?[resource]?.DeepClone() as JsonObject;

    /// <summary>Sets <c>resource_args</c> to <paramref name="args"/> for <paramref name="resource"/> only (a copy).</summary>
    public void SetResourceArgs(string resource, JsonObject args) => _root[Keys.ResourceArgs] = new JsonObject { [resource] = args.DeepClone() };

    /// <summary>
    /// <c>additional_services</c>: W&amp;B's list of <c>{config: &lt;a Kubernetes manifest&gt;}</c> created beside a Kubernetes
    /// job (<c>runner/kubernetes_runner.py</c>); a copy, or null when the spec has none.
    /// </summary>
    public JsonArray? AdditionalServices
    {
        get => _root[Keys.AdditionalServices]?.DeepClone() as JsonArray;
        set => SetNode(_root, Keys.AdditionalServices, value?.DeepClone());
    }

    /// <summary><c>run_id</c>: the W&amp;B run the job runs as.</summary>
    public string? RunId { get => GetString(_root, Keys.RunId); set => SetString(_root, Keys.RunId, value); }

    /// <summary><c>entity</c>: the W&amp;B user or team of the run.</summary>
    public string? Entity { get => GetString(_root, Keys.Entity); set => SetString(_root, Keys.Entity, value); }

    /// <summary><c>project</c>: the W&amp;B project of the run.</summary>
    public string? Project { get => GetString(_root, Keys.Project); set => SetString(_root, Keys.Project, value); }

    /// <summary>
    /// The project the run goes to, as W&amp;B's agent uses it: <see cref="Project"/> lower-cased
    /// (<c>_project_spec.py</c>: <c>self.target_project = target_project.lower()</c>), for <c>${project_name}</c>,
    /// <c>WANDB_PROJECT</c> and the run the agent watches.
    /// </summary>
    public string? TargetProject => Project?.ToLowerInvariant();

    /// <summary><c>author</c>: who submitted the job.</summary>
    public string? Author { get => GetString(_root, Keys.Author); set => SetString(_root, Keys.Author, value); }

    /// <summary><c>name</c>: the run's display name.</summary>
    public string? Name { get => GetString(_root, Keys.Name); set => SetString(_root, Keys.Name, value); }

    /// <summary><c>sweep_id</c>: the sweep the run belongs to.</summary>
    public string? SweepId { get => GetString(_root, Keys.SweepId); set => SetString(_root, Keys.SweepId, value); }

    /// <summary><c>build_context</c>: the subdirectory of the code to build from.</summary>
    public string? BuildContext { get => GetString(_root, Keys.BuildContext); set => SetString(_root, Keys.BuildContext, value); }

    /// <summary><c>python_version</c>: the Python of a generated image's base (<c>python:&lt;version&gt;-slim</c>).</summary>
    public string? PythonVersion { get => GetString(_root, Keys.PythonVersion); set => SetString(_root, Keys.PythonVersion, value); }

    /// <summary><c>builder.base_image</c>: the image a generated Dockerfile builds on (resource_args' own wins).</summary>
    public string? BuilderBaseImage
    {
        get => GetString(_root[Keys.Builder] as JsonObject, Keys.BaseImage);
        set => SetString(Child(Keys.Builder), Keys.BaseImage, value);
    }

    /// <summary>
    /// <c>priority</c>: 0 (critical) to 3 (low), or null. Reading refuses (InvalidPriority) a value that is not a whole
    /// number 0-3 or a priority's name; it is written as W&amp;B's number.
    /// </summary>
    public LaunchPriority? Priority
    {
        get => SpecValues.Priority(_root[Keys.Priority]);
        set => SetNode(_root, Keys.Priority, value is { } p ? JsonValue.Create((int)p) : null);
    }

    /// <summary><c>template_variables</c>: a copy of the values for the queue's template variables, or null.</summary>
    public JsonObject? TemplateVariables
    {
        get => _root[Keys.TemplateVariables]?.DeepClone() as JsonObject;
        set => SetNode(_root, Keys.TemplateVariables, value?.DeepClone());
    }

    /// <summary><c>_wandb_api_key</c>: an API key the spec carries (W&amp;B's launch_add can put one there). A secret.</summary>
    public string? ApiKey => GetString(_root, Keys.ApiKey);

    /// <summary>Every string and key of the spec, with its path, for the checks that walk the whole document.</summary>
    internal JsonObject Document => _root;

    private JsonObject Child(string key)
    {
        if (_root[key] is JsonObject existing) return existing;
        var created = new JsonObject();
        _root[key] = created;
        return created;
    }

    internal static string? GetString(JsonObject? parent, string key) => JsonTree.TryGetString(parent?[key], out var s) ? s : null;

    internal static void SetString(JsonObject parent, string key, string? value) => SetNode(parent, key, value is null ? null : JsonValue.Create(value));

    /// <summary>Sets a key in place (keeping its position), or removes it for null.</summary>
    internal static void SetNode(JsonObject parent, string key, JsonNode? value)
    {
        if (value is null) parent.Remove(key);
        else parent[key] = value;
    }

    /// <summary>W&amp;B's key names; written nowhere else in the engine.</summary>
    internal static class Keys
    {
        public const string Job = "job";
        public const string Uri = "uri";
        public const string Docker = "docker";
        public const string DockerImage = "docker_image";
        public const string UserId = "user_id";
        public const string ImageUri = "image_uri";
        public const string Git = "git";
        public const string Version = "version";
        public const string Overrides = "overrides";
        public const string Args = "args";
        public const string EntryPoint = "entry_point";
        public const string RunConfig = "run_config";
        public const string Artifacts = "artifacts";
        public const string Files = "files";
        public const string Dockerfile = "dockerfile";
        public const string WorkingDir = "working_dir";
        public const string Resource = "resource";
        public const string ResourceArgs = "resource_args";
        public const string RunId = "run_id";
        public const string Entity = "entity";
        public const string Project = "project";
        public const string Author = "author";
        public const string Name = "name";
        public const string SweepId = "sweep_id";
        public const string BuildContext = "build_context";
        public const string PythonVersion = "python_version";
        public const string Builder = "builder";
        public const string BaseImage = "base_image";
        public const string Priority = "priority";
        public const string TemplateVariables = "template_variables";
        public const string ApiKey = "_wandb_api_key";
        public const string AdditionalServices = "additional_services";
    }
}
