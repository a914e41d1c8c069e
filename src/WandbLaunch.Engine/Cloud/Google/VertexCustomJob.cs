using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Identifiers;

namespace WandbLaunch.Engine.Cloud.Google;

/// <summary>
/// A Vertex AI queue's configuration, <c>{spec, run}</c> with aiplatform's <c>CustomJob(...)</c> and
/// <c>submit(...)</c> arguments in snake_case (as W&amp;B's runner passes them), checked and turned into the
/// CustomJob REST body (projects.locations.customJobs.create, v1). The fields are those of
/// google/cloud/aiplatform/v1/custom_job.proto, machine_resources.proto and accelerator_type.proto; an argument
/// aiplatform or the service would refuse (an unknown field of a worker pool, a missing required one, a value of the
/// wrong type or outside an enum) is refused here with its path, before anything is queued or created. A key of the
/// configuration itself, of <c>spec</c> or of <c>run</c> that W&amp;B's runner does not read is dropped, as W&amp;B drops
/// it (<c>runner/vertex_runner.py</c> passes only the arguments it names), and reported as a warning with its path.
/// </summary>
public static partial class VertexCustomJob
{
    /// <summary>The label W&amp;B adds with the run id.</summary>
    public const string RunIdLabel = "wandb-run-id";

    /// <summary>The service's limit on a container's environment variables.</summary>
    public const int MaxEnvironmentVariables = 100;

    /// <summary>AcceleratorType (accelerator_type.proto), without ACCELERATOR_TYPE_UNSPECIFIED.</summary>
    public static readonly IReadOnlyList<string> AcceleratorTypes =
    [
        "NVIDIA_TESLA_K80", "NVIDIA_TESLA_P100", "NVIDIA_TESLA_V100", "NVIDIA_TESLA_P4", "NVIDIA_TESLA_T4", "NVIDIA_TESLA_A100",
        "NVIDIA_A100_80GB", "NVIDIA_L4", "NVIDIA_H100_80GB", "NVIDIA_H100_MEGA_80GB", "NVIDIA_H200_141GB", "NVIDIA_B200",
        "TPU_V2", "TPU_V3", "TPU_V4_POD", "TPU_V5_LITEPOD",
    ];

    private static readonly IReadOnlyList<string> ReservationAffinityTypes = ["NO_RESERVATION", "ANY_RESERVATION", "SPECIFIC_RESERVATION"];

    private enum Kind { String, Bool, Int, Seconds, Strings, Map, Object, List, Enum, GcsUri }

    /// <summary>A field of the configuration; with <c>DropsUnknown</c> its object's unknown keys are dropped with a warning (W&amp;B reads only the keys it names there), not refused.</summary>
    private sealed record Field(Kind Kind, bool Required = false, IReadOnlyDictionary<string, Field>? Fields = null, IReadOnlyList<string>? Values = null, string? Note = null,
        bool DropsUnknown = false);

    private static Dictionary<string, Field> Fields(params (string Name, Field Field)[] fields) => fields.ToDictionary(f => f.Name, f => f.Field, StringComparer.Ordinal);

    private static readonly Dictionary<string, Field> EnvVar = Fields(("name", new Field(Kind.String, Required: true)), ("value", new Field(Kind.String)));

    private static readonly Dictionary<string, Field> ContainerSpec = Fields(
        ("image_uri", new Field(Kind.String, Required: true, Note: "use \"${image_uri}\" for the job's image")),
        ("command", new Field(Kind.Strings)),
        ("args", new Field(Kind.Strings)),
        ("env", new Field(Kind.List, Fields: EnvVar)));

    private static readonly Dictionary<string, Field> MachineSpec = Fields(
        ("machine_type", new Field(Kind.String)),
        ("accelerator_type", new Field(Kind.Enum, Values: AcceleratorTypes)),
        ("accelerator_count", new Field(Kind.Int)),
        ("tpu_topology", new Field(Kind.String)),
        ("reservation_affinity", new Field(Kind.Object, Fields: Fields(
            ("reservation_affinity_type", new Field(Kind.Enum, Required: true, Values: ReservationAffinityTypes)),
            ("key", new Field(Kind.String)),
            ("values", new Field(Kind.Strings))))));

    private static readonly Dictionary<string, Field> WorkerPoolSpec = Fields(
        ("container_spec", new Field(Kind.Object, Required: true, Fields: ContainerSpec, Note: "W&B runs every worker pool as a container")),
        ("machine_spec", new Field(Kind.Object, Fields: MachineSpec)),
        ("replica_count", new Field(Kind.Int)),
        ("nfs_mounts", new Field(Kind.List, Fields: Fields(
            ("server", new Field(Kind.String, Required: true)), ("path", new Field(Kind.String, Required: true)), ("mount_point", new Field(Kind.String, Required: true))))),
        ("disk_spec", new Field(Kind.Object, Fields: Fields(("boot_disk_type", new Field(Kind.String)), ("boot_disk_size_gb", new Field(Kind.Int))))));

    /// <summary>aiplatform.CustomJob(...) arguments that W&amp;B passes on.</summary>
    private static readonly Dictionary<string, Field> Spec = Fields(
        ("worker_pool_specs", new Field(Kind.List, Required: true, Fields: WorkerPoolSpec)),
        ("staging_bucket", new Field(Kind.GcsUri, Required: true)),
        ("base_output_dir", new Field(Kind.GcsUri)),
        ("encryption_spec_key_name", new Field(Kind.String)),
        ("labels", new Field(Kind.Map)));

    /// <summary>CustomJob.submit(...) arguments that W&amp;B passes on.</summary>
    private static readonly Dictionary<string, Field> Run = Fields(
        ("service_account", new Field(Kind.String)),
        ("network", new Field(Kind.String)),
        ("timeout", new Field(Kind.Seconds)),
        ("enable_web_access", new Field(Kind.Bool)),
        ("experiment", new Field(Kind.String)),
        ("experiment_run", new Field(Kind.String)),
        ("tensorboard", new Field(Kind.String)),
        ("restart_job_on_worker_restart", new Field(Kind.Bool)));

    private static readonly Dictionary<string, Field> Root = Fields(
        ("spec", new Field(Kind.Object, Required: true, Fields: Spec, DropsUnknown: true)),
        ("run", new Field(Kind.Object, Fields: Run, DropsUnknown: true)));

    /// <summary>
    /// Checks a Vertex configuration (<c>resource_args.gcp-vertex</c>). Strings may still hold macros
    /// (<c>${image_uri}</c>); they are checked again when the job is rendered. <paramref name="where"/> names the configuration in messages (e.g. resource_args.gcp-vertex).
    /// Returns a warning for each key dropped because W&amp;B's runner does not read it (see the class).
    /// </summary>
    public static IReadOnlyList<string> Check(JsonObject args, string where)
    {
        var dropped = new List<string>();
        CheckObject(args, Root, where, dropped);
        var pools = (JsonArray)args["spec"]!["worker_pool_specs"]!;
        if (pools.Count == 0) throw Refuse($"{where}.spec.worker_pool_specs", "is empty; Vertex needs at least one worker pool spec", "[]");
        if (args["spec"]!["labels"] is JsonObject labels)
        {
            foreach (var (key, value) in labels) CheckLabel($"{where}.spec.labels", key, (string)value!);
        }
        for (var i = 0; i < pools.Count; i++)
        {
            var env = pools[i]!["container_spec"]!["env"] as JsonArray;
            if (env is { Count: > MaxEnvironmentVariables })
            {
                throw Refuse($"{where}.spec.worker_pool_specs[{i}].container_spec.env", $"has {env.Count} variables; Vertex takes at most {MaxEnvironmentVariables} per container", env.Count.ToString(CultureInfo.InvariantCulture));
            }
        }
        return dropped;
    }

    /// <summary>Checks an object's keys and values; an unknown key is refused, or reported in <paramref name="dropped"/> when given.</summary>
    private static void CheckObject(JsonObject node, IReadOnlyDictionary<string, Field> fields, string path, List<string>? dropped = null)
    {
        foreach (var (key, value) in node)
        {
            if (!fields.TryGetValue(key, out var field))
            {
                var snake = Snake(key);
                var hint = snake != key && fields.ContainsKey(snake) ? $" (aiplatform takes snake_case: {snake})"
                    : key == "python_package_spec" ? " (W&B runs each worker pool as a container: use container_spec)" : "";
                var allowed = string.Join(", ", fields.Keys);
                if (dropped is null) throw Refuse($"{path}.{key}", $"is not a field Vertex knows here{hint}; allowed: {allowed}", key);
                dropped.Add($"{path}.{Text.Printable.Escape(key)} is not read by W&B's Vertex runner and is dropped{hint}; read here: {allowed}.");
                continue;
            }
            if (value is null) continue;
            CheckValue(value, field, $"{path}.{key}", dropped);
        }
        foreach (var (name, field) in fields)
        {
            if (field.Required && IsEmpty(node[name]))
            {
                throw Refuse($"{path}.{name}", $"is required{(field.Note is null ? "" : $" ({field.Note})")}", null);
            }
        }
    }

    private static bool IsEmpty(JsonNode? node) => node is null or JsonObject { Count: 0 } || (node is JsonValue v && v.TryGetValue<string>(out var s) && s.Length == 0);

    private static void CheckValue(JsonNode value, Field field, string path, List<string>? dropped)
    {
        switch (field.Kind)
        {
            case Kind.String:
                if (!IsString(value)) throw WrongType(path, "a string", value);
                break;
            case Kind.GcsUri:
                if (!IsString(value, out var uri)) throw WrongType(path, "a gs:// URI", value);
                if (!uri.StartsWith("gs://", StringComparison.Ordinal) && !uri.Contains("${", StringComparison.Ordinal) || uri.Length <= "gs://".Length)
                {
                    throw Refuse(path, "must be a Cloud Storage URI gs://<bucket>[/<path>]", uri);
                }
                break;
            case Kind.Bool:
                if (value is not JsonValue b || !b.TryGetValue<bool>(out _)) throw WrongType(path, "true or false", value);
                break;
            case Kind.Int:
            case Kind.Seconds:
                if (!TryInteger(value, out var number) || number < 0 || number > int.MaxValue || field.Kind == Kind.Seconds && number == 0)
                {
                    throw WrongType(path, field.Kind == Kind.Seconds ? "a whole number of seconds (at least 1)" : "a whole number (0 or more)", value);
                }
                break;
            case Kind.Strings:
                if (value is not JsonArray strings || strings.Any(s => s is null || !IsString(s))) throw WrongType(path, "a list of strings", value);
                break;
            case Kind.Map:
                if (value is not JsonObject map || map.Any(p => p.Value is null || !IsString(p.Value))) throw WrongType(path, "a mapping of strings to strings", value);
                break;
            case Kind.Enum:
                if (!IsString(value, out var name) || !field.Values!.Contains(name, StringComparer.Ordinal))
                {
                    throw Refuse(path, $"is not one of: {string.Join(", ", field.Values!)}", Show(value));
                }
                break;
            case Kind.Object:
                if (value is not JsonObject obj) throw WrongType(path, "a mapping", value);
                CheckObject(obj, field.Fields!, path, field.DropsUnknown ? dropped : null);
                break;
            case Kind.List:
                if (value is not JsonArray list) throw WrongType(path, "a list", value);
                for (var i = 0; i < list.Count; i++)
                {
                    if (list[i] is not JsonObject item) throw WrongType($"{path}[{i}]", "a mapping", list[i]);
                    CheckObject(item, field.Fields!, $"{path}[{i}]");
                }
                break;
        }
    }

    private static bool IsString(JsonNode node) => IsString(node, out _);

    private static bool IsString(JsonNode node, out string text)
    {
        text = "";
        return node is JsonValue v && v.TryGetValue(out text!);
    }

    private static bool TryInteger(JsonNode value, out long number)
    {
        number = 0;
        if (value is not JsonValue v) return false;
        if (v.TryGetValue(out long l)) { number = l; return true; }
        if (v.TryGetValue(out int i)) { number = i; return true; }
        if (v.TryGetValue(out double d) && d == Math.Floor(d) && Math.Abs(d) < 1e15) { number = (long)d; return true; }
        return false;
    }

    [GeneratedRegex(@"^\p{Ll}[\p{Ll}\p{Lo}\p{Nd}_-]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex LabelKey();

    [GeneratedRegex(@"^[\p{Ll}\p{Lo}\p{Nd}_-]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex LabelValue();

    private static void CheckLabel(string path, string key, string value)
    {
        if (value.Contains("${", StringComparison.Ordinal)) return;
        if (!LabelKey().IsMatch(key)) throw Refuse($"{path}.{key}", "is not a label key Google accepts: up to 63 lowercase letters, digits, '_' and '-', starting with a lowercase letter", key);
        if (!LabelValue().IsMatch(value)) throw Refuse($"{path}.{key}", "has a value Google does not accept: up to 63 lowercase letters, digits, '_' and '-'", value);
    }

    private static string Show(JsonNode? node) => node is null ? "null" : node.ToJsonString();

    private static LaunchException WrongType(string path, string expected, JsonNode? value) => Refuse(path, $"must be {expected}", Show(value));

    private static LaunchException Refuse(string path, string problem, string? value) =>
        LaunchException.Invalid("InvalidVertexConfig",
            $"{path} {problem}{(value is null ? "" : $"; it is {Text.Printable.Escape(value.Length > 200 ? value[..200] + "..." : value)}")}. " +
            "The Vertex AI configuration is {spec: {worker_pool_specs, staging_bucket, base_output_dir, encryption_spec_key_name, labels}, run: {service_account, network, timeout, " +
            "enable_web_access, experiment, experiment_run, tensorboard, restart_job_on_worker_restart}}, with aiplatform's snake_case names.", value ?? path);

    private static string Snake(string name) => string.Concat(name.Select((c, i) => char.IsUpper(c) ? (i > 0 ? "_" : "") + char.ToLowerInvariant(c) : c.ToString()));

    private static string Camel(string name)
    {
        var parts = name.Split('_');
        return parts[0] + string.Concat(parts.Skip(1).Where(p => p.Length > 0).Select(p => char.ToUpperInvariant(p[0]) + p[1..]));
    }

    /// <summary>
    /// The CustomJob REST body, built as W&amp;B and aiplatform build it: each worker pool's
    /// <c>container_spec.command</c> is <paramref name="command"/> (replacing any) and the job's environment is
    /// appended to its <c>env</c>; label <see cref="RunIdLabel"/>; <c>baseOutputDirectory</c> from base_output_dir,
    /// else <c>&lt;staging_bucket&gt;/aiplatform-custom-job-&lt;timestamp&gt;</c>; scheduling only when a timeout or
    /// restart_job_on_worker_restart is set; the other run arguments only when set (enable_web_access when true). <paramref name="args"/> (macros substituted) is checked here; <paramref name="now"/> names the timestamped output directory.
    /// Keys W&amp;B does not read are left out, each reported in <paramref name="dropped"/> when given.
    /// </summary>
    public static JsonObject Build(JsonObject args, string displayName, string runId, IReadOnlyList<string> command,
        IEnumerable<KeyValuePair<string, string>> environment, DateTime now, string where, List<string>? dropped = null)
    {
        args = (JsonObject)args.DeepClone();
        var pools = args["spec"]?["worker_pool_specs"] as JsonArray;
        var jobEnvironment = environment.Select(p => (JsonNode)new JsonObject { ["name"] = p.Key, ["value"] = p.Value }).ToList();
        foreach (var pool in pools?.OfType<JsonObject>() ?? [])
        {
            if (pool["container_spec"] is not JsonObject container) continue;
            container["command"] = new JsonArray(command.Select(c => (JsonNode?)c).ToArray());
            var env = container["env"] as JsonArray ?? new JsonArray();
            foreach (var variable in jobEnvironment) env.Add(variable.DeepClone());
            container["env"] = env;
        }
        var unread = Check(args, where);
        dropped?.AddRange(unread);
        if (displayName.Length is 0 or > 128) throw Refuse("display_name (the run name)", "must be 1 to 128 characters", displayName);

        var spec = (JsonObject)args["spec"]!;
        var run = args["run"] as JsonObject ?? new JsonObject();
        var jobSpec = new JsonObject { ["workerPoolSpecs"] = new JsonArray(pools!.Select(p => (JsonNode?)Camelize(p!)).ToArray()) };
        var stagingBucket = ((string)spec["staging_bucket"]!).TrimEnd('/');
        var outputDirectory = spec["base_output_dir"] is JsonValue given && given.TryGetValue<string>(out var dir) && dir.Length > 0
            ? dir
            : $"{stagingBucket}/aiplatform-custom-job-{now.ToString("yyyy-MM-dd-HH:mm:ss.fff", CultureInfo.InvariantCulture)}";
        jobSpec["baseOutputDirectory"] = new JsonObject { ["outputUriPrefix"] = outputDirectory };
        foreach (var name in (string[])["service_account", "network", "tensorboard", "experiment", "experiment_run"])
        {
            if (run[name] is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0) jobSpec[Camel(name)] = s;
        }
        if (run["enable_web_access"] is JsonValue web && web.GetValue<bool>()) jobSpec["enableWebAccess"] = true;
        var restart = run["restart_job_on_worker_restart"] is JsonValue r && r.GetValue<bool>();
        var timeout = run["timeout"] is { } t && TryInteger(t, out var seconds) ? seconds : 0;
        if (timeout > 0 || restart)
        {
            var scheduling = new JsonObject();
            if (timeout > 0) scheduling["timeout"] = timeout.ToString(CultureInfo.InvariantCulture) + "s";
            scheduling["restartJobOnWorkerRestart"] = restart;
            jobSpec["scheduling"] = scheduling;
        }

        var labels = spec["labels"]?.DeepClone() as JsonObject ?? new JsonObject();
        labels[RunIdLabel] = RunNames.Of(runId);
        var body = new JsonObject
        {
            ["displayName"] = displayName,
            ["jobSpec"] = jobSpec,
            ["labels"] = labels,
        };
        if (spec["encryption_spec_key_name"] is JsonValue key && key.TryGetValue<string>(out var kms) && kms.Length > 0) body["encryptionSpec"] = new JsonObject { ["kmsKeyName"] = kms };
        return body;
    }

    /// <summary>A worker pool spec in the REST API's JSON names; int64 replica counts as strings (proto3 JSON).</summary>
    private static JsonNode Camelize(JsonNode node)
    {
        switch (node)
        {
            case JsonObject obj:
            {
                var result = new JsonObject();
                foreach (var (key, value) in obj)
                {
                    if (value is null) continue;
                    result[Camel(key)] = key == "replica_count" && TryInteger(value, out var count) ? count.ToString(CultureInfo.InvariantCulture) : Camelize(value);
                }
                return result;
            }
            case JsonArray array:
                return new JsonArray(array.Select(i => i is null ? null : (JsonNode?)Camelize(i)).ToArray());
            default:
                return node.DeepClone();
        }
    }
}
