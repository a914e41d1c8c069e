using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Docker.DotNet.Models;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Docker;

/// <summary>
/// <c>resource_args.local-container</c>: the docker run options W&amp;B allows, by their CLI names, turned into
/// the engine API's container settings. Any other key is refused with the list of allowed ones. Keys are read as
/// W&amp;B reads them (utils.py <c>_docker_arg_name</c>): surrounding blanks and leading dashes dropped, <c>_</c> as
/// <c>-</c>, lower case; so <c>--CPU_SHARES</c> is <c>cpu-shares</c>.
/// </summary>
public static partial class ContainerArgs
{
    /// <summary>The keys the runner honours (<c>builder</c> is the builder's: base_image).</summary>
    public static readonly IReadOnlyList<string> Allowed =
    [
        "command", "cpus", "cpu-period", "cpu-quota", "cpu-shares", "cpu-rt-period", "cpu-rt-runtime", "cpuset-cpus", "cpuset-mems",
        "env", "e", "gpus", "memory", "m", "memory-reservation", "memory-swap", "memory-swappiness", "name", "pids-limit",
        "platform", "shm-size", "ulimit", "workdir", "w", "builder",
    ];

    /// <summary>A key as W&amp;B compares it with its allow-list (utils.py <c>_docker_arg_name</c>).</summary>
    public static string Normalise(string key) => key.Trim().TrimStart('-').Replace('_', '-').ToLowerInvariant();

    /// <summary>Options that may be given more than once, so may be a list (W&amp;B's <c>_DOCKER_REPEATABLE_RESOURCE_ARGS</c>).</summary>
    private static readonly string[] Repeatable = ["e", "env", "ulimit"];

    /// <summary>Refuses keys that are not allowed (placeholders in keys are left for template rendering).</summary>
    public static void CheckKeys(JsonObject args, string where)
    {
        var bad = args.Select(p => p.Key).Where(k => !Allowed.Contains(Normalise(k)) && !k.Contains("{{", StringComparison.Ordinal)).ToList();
        if (bad.Count > 0)
        {
            throw LaunchException.Invalid("UnsupportedContainerArgument",
                $"{where} has {string.Join(", ", bad.Select(k => $"'{k}'"))}, which local-container runs do not support. Allowed: {string.Join(", ", Allowed.Where(k => k != "builder"))} (and builder.base_image).",
                bad[0]);
        }
    }

    /// <summary>
    /// Refuses keys that are not allowed and values the runner could not apply (NaN, 1e30 CPUs, negative memory),
    /// at submit time rather than when the job starts. Values holding a template placeholder are left for rendering.
    /// </summary>
    public static void Check(JsonObject args, string where)
    {
        CheckKeys(args, where);
        var scratch = new CreateContainerParameters { HostConfig = new HostConfig() };
        foreach (var (key, value) in args)
        {
            if (key.Contains("{{", StringComparison.Ordinal) || (value?.ToJsonString().Contains("{{", StringComparison.Ordinal) ?? false)) continue;
            ApplyOne(key, value, scratch, scratch.HostConfig);
        }
    }

    /// <summary>Applies the arguments to the container settings.</summary>
    public static void Apply(JsonObject args, CreateContainerParameters container)
    {
        CheckKeys(args, "resource_args.local-container");
        var host = container.HostConfig ??= new HostConfig();
        foreach (var (key, value) in args) ApplyOne(key, value, container, host);
    }

    private static void ApplyOne(string rawKey, JsonNode? value, CreateContainerParameters container, HostConfig host)
    {
        var key = Normalise(rawKey);
        CheckShape(key, value);
        switch (key)
        {
            case "command":
                container.Cmd = StringList(value, key);
                break;
            case "cpus":
                host.NanoCPUs = NanoCpus(value);
                break;
            case "cpu-period":
                host.CPUPeriod = Integer(value, key);
                break;
            case "cpu-quota":
                host.CPUQuota = Integer(value, key);
                break;
            case "cpu-shares":
                host.CPUShares = Integer(value, key);
                break;
            case "cpu-rt-period":
                host.CPURealtimePeriod = Integer(value, key);
                break;
            case "cpu-rt-runtime":
                host.CPURealtimeRuntime = Integer(value, key);
                break;
            case "cpuset-cpus":
                host.CpusetCpus = Text(value, key);
                break;
            case "cpuset-mems":
                host.CpusetMems = Text(value, key);
                break;
            case "env" or "e":
                container.Env = (container.Env ?? []).Concat(Environment(value, key)).ToList();
                break;
            case "gpus":
                host.DeviceRequests = [Gpus(value)];
                break;
            case "memory" or "m":
                host.Memory = Bytes(value, key);
                break;
            case "memory-reservation":
                host.MemoryReservation = Bytes(value, key);
                break;
            case "memory-swap":
                host.MemorySwap = IsMinusOne(value) ? -1 : Bytes(value, key);
                break;
            case "memory-swappiness":
                host.MemorySwappiness = Integer(value, key) is var swappiness and >= -1 and <= 100 ? swappiness : throw Bad(key, value, "a whole number from 0 to 100 (or -1 for the default)");
                break;
            case "name":
                container.Name = Text(value, key);
                break;
            case "pids-limit":
                host.PidsLimit = Integer(value, key);
                break;
            case "platform":
                container.Platform = Text(value, key);
                break;
            case "shm-size":
                host.ShmSize = Bytes(value, key);
                break;
            case "ulimit":
                host.Ulimits = Ulimits(value);
                break;
            case "workdir" or "w":
                container.WorkingDir = Text(value, key);
                break;
        }
    }

    /// <summary>
    /// W&amp;B's value rules (utils.py <c>_validate_local_container_resource_value</c>): never true/false (docker would
    /// read a bare flag), a list only for repeatable options and never empty, no true/false in a list.
    /// Mappings for env and ulimit and a list for command are ours (see docs/differences-from-wandb.md).
    /// </summary>
    private static void CheckShape(string key, JsonNode? value)
    {
        if (IsBoolean(value)) throw Bad(key, value, "a string or a number, not true or false");
        if (value is JsonArray list)
        {
            if (!Repeatable.Contains(key) && key != "command") throw Bad(key, value, "a single string or number (only e, env and ulimit may be lists)");
            if (list.Count == 0) throw Bad(key, value, "a value: an empty list gives docker nothing");
            if (list.Any(item => item is not JsonValue || IsBoolean(item))) throw Bad(key, value, "a list of strings or numbers");
        }
    }

    private static bool IsBoolean(JsonNode? value) => value is JsonValue v && v.GetValueKind() is System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False;

    private static LaunchException Bad(string key, JsonNode? value, string expected) =>
        LaunchException.Invalid("InvalidContainerArgument", $"resource_args.local-container.{key} is {JsonTree.Show(value)}; it must be {expected}.", key);

    private static string Text(JsonNode? value, string key) =>
        JsonTree.TryGetString(value, out var s) ? s : value is JsonValue ? value.ToJsonString() : throw Bad(key, value, "a string");

    /// <summary>A finite number: NaN, infinities and 1e400 (which reads as infinity) are refused.</summary>
    private static double Number(JsonNode? value, string key) =>
        (JsonTree.TryGetNumber(value, out var n) || (JsonTree.TryGetString(value, out var s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out n))) && double.IsFinite(n)
            ? n
            : throw Bad(key, value, "a number (finite: not NaN or an infinity)");

    /// <summary>Doubles at or beyond 2^63 do not fit a long; a cast would silently give long.MinValue.</summary>
    private const double LongLimit = 9.2233720368547758E+18;

    private static long Integer(JsonNode? value, string key)
    {
        var n = Number(value, key);
        return n == Math.Floor(n) && n >= -LongLimit && n < LongLimit ? (long)n : throw Bad(key, value, "a whole number");
    }

    /// <summary>Most CPUs docker can be given: it counts in billionths of a CPU, in a 64-bit number.</summary>
    private const double MaxCpus = LongLimit / 1e9;

    private static long NanoCpus(JsonNode? value)
    {
        var n = Number(value, "cpus");
        return n > 0 && n * 1e9 < LongLimit ? (long)(n * 1e9) : throw Bad("cpus", value, $"a number of CPUs greater than 0 and at most {Math.Floor(MaxCpus).ToString(CultureInfo.InvariantCulture)}");
    }

    private static IList<string> StringList(JsonNode? value, string key) => value switch
    {
        JsonArray arr => arr.Select(a => Text(a, key)).ToList(),
        _ when JsonTree.TryGetString(value, out var s) => [s],
        _ => throw Bad(key, value, "a list of strings"),
    };

    private static IEnumerable<string> Environment(JsonNode? value, string key)
    {
        var entries = value switch
        {
            JsonObject map => map.Select(p => $"{p.Key}={(JsonTree.TryGetString(p.Value, out var s) ? s : p.Value?.ToJsonString() ?? "")}").ToList(),
            _ => StringList(value, key).Select(e => e.Contains('=') ? e : throw Bad(key, value, "NAME=value strings or a mapping")).ToList(),
        };
        foreach (var entry in entries) OsValues.CheckEnvironmentName(entry[..entry.IndexOf('=')], $"resource_args.local-container.{key}");
        return entries;
    }

    /// <summary>-1 (a number or text) means unlimited, where docker allows it (memory-swap).</summary>
    private static bool IsMinusOne(JsonNode? value) =>
        JsonTree.TryGetNumber(value, out var n) ? n == -1 : JsonTree.TryGetString(value, out var s) && s.Trim() == "-1";

    [GeneratedRegex(@"^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)b?\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex Size();

    /// <summary>Sizes as docker takes them: a number of bytes, or 512m, 2g, 100k.</summary>
    public static long Bytes(JsonNode? value, string key)
    {
        const string rule = "a size such as 512m, 2g or a number of bytes (not negative, below 8 EiB)";
        if (JsonTree.TryGetNumber(value, out var n))
        {
            return double.IsFinite(n) && n >= 0 && n == Math.Floor(n) && n < LongLimit ? (long)n : throw Bad(key, value, rule);
        }
        var match = JsonTree.TryGetString(value, out var s) ? Size().Match(s) : Match.Empty;
        if (!match.Success) throw Bad(key, value, rule);
        var number = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        var unit = match.Groups[2].Value.ToLowerInvariant() switch { "k" => 1L << 10, "m" => 1L << 20, "g" => 1L << 30, "t" => 1L << 40, _ => 1L };
        var bytes = number * unit;
        return double.IsFinite(bytes) && bytes < LongLimit ? (long)bytes : throw Bad(key, value, rule);
    }

    private const string GpusRule = "all, a number of GPUs, or docker's --gpus fields: count=, device=, driver=, capabilities=, options= (e.g. '\"device=0,1\"')";

    /// <summary>
    /// <c>--gpus</c> as the docker CLI reads it (W&amp;B passes the value to <c>docker run --gpus</c>; docker/cli
    /// opts/gpus.go): one CSV record of fields; a field without <c>=</c> is the count (<c>all</c> is every GPU); no
    /// count and no devices means one GPU; <c>gpu</c> is always among the capabilities.
    /// </summary>
    private static DeviceRequest Gpus(JsonNode? value)
    {
        var text = JsonTree.TryGetNumber(value, out var n)
            ? (double.IsFinite(n) && n == Math.Floor(n) && n is >= 0 and <= int.MaxValue ? ((long)n).ToString(CultureInfo.InvariantCulture) : throw Bad("gpus", value, GpusRule))
            : Text(value, "gpus");
        var request = new DeviceRequest { Driver = "", Options = new Dictionary<string, string>() };
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var fields = CsvRecord(text) ?? throw Bad("gpus", value, GpusRule);
        foreach (var field in fields)
        {
            var equals = field.IndexOf('=');
            var name = equals < 0 ? field : field[..equals];
            var fieldValue = equals < 0 ? "" : field[(equals + 1)..];
            if (!seen.Add(name)) throw Bad("gpus", value, $"{GpusRule}; '{name}' given twice");
            switch (equals < 0 ? "" : name)
            {
                case "":
                    seen.Add("count");
                    request.Count = GpuCount(name) ?? throw Bad("gpus", value, GpusRule);
                    break;
                case "count":
                    request.Count = GpuCount(fieldValue) ?? throw Bad("gpus", value, GpusRule);
                    break;
                case "driver":
                    request.Driver = fieldValue;
                    break;
                case "device":
                    request.DeviceIDs = fieldValue.Split(',');
                    break;
                case "capabilities":
                    request.Capabilities = [[.. fieldValue.Split(','), "gpu"]];
                    break;
                case "options":
                    var options = CsvRecord(fieldValue) ?? throw Bad("gpus", value, GpusRule);
                    request.Options = options.Select(o => o.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv.Length > 1 ? kv[1] : "");
                    break;
                default:
                    throw Bad("gpus", value, GpusRule);
            }
        }
        // The docker CLI reads "device=0,1" unquoted as device 0 plus a count of 1, which the engine refuses at start.
        if (seen.Contains("count") && request.DeviceIDs is not null) throw Bad("gpus", value, $"{GpusRule}; a count and devices cannot both be given (quote a device list that holds commas, as docker requires)");
        if (!seen.Contains("count") && request.DeviceIDs is null) request.Count = 1;
        request.Capabilities ??= [["gpu"]];
        return request;
    }

    private static long? GpuCount(string text) =>
        text == "all" ? -1 : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var count) ? count : null;

    /// <summary>One CSV record (Go's encoding/csv): fields split at commas, a quoted field may hold commas and "" for a quote. Null when malformed.</summary>
    private static List<string>? CsvRecord(string text)
    {
        var fields = new List<string>();
        var i = 0;
        while (true)
        {
            var field = new System.Text.StringBuilder();
            if (i < text.Length && text[i] == '"')
            {
                i++;
                while (true)
                {
                    if (i >= text.Length) return null;
                    if (text[i] == '"')
                    {
                        if (i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i += 2; continue; }
                        i++;
                        break;
                    }
                    field.Append(text[i++]);
                }
                if (i < text.Length && text[i] != ',') return null;
            }
            else
            {
                while (i < text.Length && text[i] != ',')
                {
                    if (text[i] == '"') return null;
                    field.Append(text[i++]);
                }
            }
            fields.Add(field.ToString());
            if (i >= text.Length) return fields;
            i++;
        }
    }

    private static IList<Ulimit> Ulimits(JsonNode? value)
    {
        IEnumerable<(string Name, string Limits)> entries = value switch
        {
            JsonObject map => map.Select(p => (p.Key, JsonTree.TryGetString(p.Value, out var s) ? s : p.Value?.ToJsonString() ?? "")),
            _ => StringList(value, "ulimit").Select(u => u.Split('=', 2) is [var name, var limits] ? (name, limits) : throw Bad("ulimit", value, "name=soft[:hard] entries")),
        };
        return entries.Select(e =>
        {
            var parts = e.Limits.Split(':');
            if (!long.TryParse(parts[0], out var soft) || (parts.Length > 1 && !long.TryParse(parts[1], out _)))
            {
                throw Bad("ulimit", value, "name=soft[:hard] entries with whole numbers");
            }
            return new Ulimit { Name = e.Name, Soft = soft, Hard = parts.Length > 1 ? long.Parse(parts[1], CultureInfo.InvariantCulture) : soft };
        }).ToList();
    }
}
