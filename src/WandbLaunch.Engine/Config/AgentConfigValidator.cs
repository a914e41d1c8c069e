using System.Collections.Specialized;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Registries;

namespace WandbLaunch.Engine.Config;

/// <summary>
/// Checks every key of an agent config against W&amp;B's rules and builds the typed <see cref="LaunchAgentConfig"/>.
/// All problems are collected (not just the first), each with its key path and source position.
/// </summary>
public static partial class AgentConfigValidator
{
    public static readonly IReadOnlyList<string> TopLevelKeys =
        ["queues", "queue", "entity", "max_jobs", "max_schedulers", "secure_mode", "verbosity", "stopped_run_timeout", "builder", "registry", "environment"];

    public static readonly IReadOnlyList<string> BuilderKeys =
        ["type", "destination", "platform", "build-context-store", "build-job-name", "secret-name", "secret-key", "kaniko-image", "kaniko-config"];

    public static readonly IReadOnlyList<string> BuilderTypes = ["docker", "kaniko", "noop"];
    public static readonly IReadOnlyList<string> Platforms = ["linux/amd64", "linux/arm64"];
    public static readonly IReadOnlyList<string> RegistryKeys = ["type", "uri"];
    public static readonly IReadOnlyList<string> RegistryTypes = ["ecr", "acr", "gcr"];
    public static readonly IReadOnlyList<string> EnvironmentKeys = ["type", "region", "project"];
    public static readonly IReadOnlyList<string> EnvironmentTypes = ["aws", "gcp", "azure", "local"];

    /// <summary>The result: the typed config when there were no errors, and every issue found.</summary>
    public sealed record Result(LaunchAgentConfig? Config, IReadOnlyList<ConfigIssue> Issues)
    {
        public IEnumerable<ConfigIssue> Errors => Issues.Where(i => i.Severity == ConfigIssueSeverity.Error);

        public bool IsValid => Config is not null;
    }

    public static Result Validate(ParsedDocument document, IReadOnlyDictionary<string, string>? sources = null)
    {
        var issues = new List<ConfigIssue>();
        var root = document.Root ?? new JsonObject();
        if (root is not JsonObject obj)
        {
            issues.Add(Error(document, "", "AgentConfigNotMapping",
                $"An agent config must be a YAML mapping of keys ({string.Join(", ", TopLevelKeys)}); this one is a {JsonTree.KindOf(root)}."));
            return new Result(null, issues);
        }
        var v = new Walker(document, issues);

        var unknown = obj.Select(p => p.Key).Where(k => !TopLevelKeys.Contains(k)).ToList();
        foreach (var key in unknown)
        {
            issues.Add(Error(document, key, "UnknownAgentConfigKey",
                $"Unknown key '{key}'{Suggest(key, TopLevelKeys)}. Valid keys: {string.Join(", ", TopLevelKeys)}."));
        }

        var queues = new List<string>();
        if (obj.ContainsKey("queues")) queues.AddRange(v.StringList(obj["queues"], "queues", "InvalidQueues", QueueNames.Validate));
        if (obj.ContainsKey("queue") && v.String(obj["queue"], "queue", "InvalidQueues") is { } single)
        {
            if (v.Check("queue", "InvalidQueues", () => QueueNames.Validate(single)) && !queues.Contains(single)) queues.Add(single);
        }

        var entity = obj.ContainsKey("entity") ? v.String(obj["entity"], "entity", "InvalidEntity", allowNull: true) : null;
        var maxJobs = v.Int(obj, "max_jobs", "InvalidMaxJobs", AgentConfigDefaults.MaxJobs, min: -1, rule: "-1 (unlimited) or a positive whole number");
        if (maxJobs == 0) issues.Add(Error(document, "max_jobs", "InvalidMaxJobs", "max_jobs is 0, so the agent could never run a job; use -1 (unlimited) or a positive whole number."));
        var maxSchedulers = v.Int(obj, "max_schedulers", "InvalidMaxSchedulers", AgentConfigDefaults.MaxSchedulers, min: -1, rule: "-1 (unlimited) or a whole number ≥ 0");
        var secure = v.Bool(obj, "secure_mode", "InvalidSecureMode");
        var verbosity = v.Int(obj, "verbosity", "InvalidVerbosity", 0, min: 0, max: 2, rule: "0, 1 or 2");
        var stoppedTimeout = v.Int(obj, "stopped_run_timeout", "InvalidStoppedRunTimeout", AgentConfigDefaults.StoppedRunTimeout, min: 1, rule: "a positive number of seconds");

        var registry = ValidateRegistry(v, obj, issues, document);
        // W&B's builders push to registry.uri when builder.destination is absent (loader.py registry_from_config,
        // builder from_config); a registry without a type is W&B's LocalRegistry, which pushes nowhere.
        var builder = ValidateBuilder(v, obj["builder"], issues, document, registry.Type is null ? null : registry.Uri);
        var environment = ValidateEnvironment(v, obj["environment"], issues, document);

        if (issues.Any(i => i.Severity == ConfigIssueSeverity.Error)) return new Result(null, issues);
        var config = new LaunchAgentConfig
        {
            Path = document.File,
            Queues = queues,
            Entity = entity,
            MaxJobs = maxJobs,
            MaxSchedulers = maxSchedulers,
            SecureMode = secure,
            Verbosity = verbosity,
            StoppedRunTimeout = stoppedTimeout,
            Builder = builder,
            Registry = registry,
            Environment = environment,
            Sources = sources,
            Warnings = issues.ToList(),
            Document = (JsonObject)obj.DeepClone(),
        };
        return new Result(config, issues);
    }

    private static BuilderSettings ValidateBuilder(Walker v, JsonNode? node, List<ConfigIssue> issues, ParsedDocument document, string? registryUri)
    {
        if (node is null) return new BuilderSettings { Destination = registryUri };
        if (node is not JsonObject b)
        {
            issues.Add(Error(document, "builder", "InvalidBuilder", $"builder must be a mapping with keys {string.Join(", ", BuilderKeys)}; it is a {JsonTree.KindOf(node)}."));
            return new BuilderSettings { Destination = registryUri };
        }
        foreach (var key in b.Select(p => p.Key).Where(k => !BuilderKeys.Contains(k)))
        {
            issues.Add(Warning(document, $"builder.{key}", "UnknownBuilderKey",
                $"Unknown builder key '{key}'{Suggest(key, BuilderKeys)} is ignored. Builder keys: {string.Join(", ", BuilderKeys)}."));
        }
        var type = v.Choice(b["type"], "builder.type", "InvalidBuilderType", BuilderTypes);
        var destination = registryUri;
        if (v.String(b["destination"], "builder.destination", "InvalidDestination", allowNull: true) is { } rawDestination)
        {
            var error = ImageDestination.Check(rawDestination, out destination);
            if (error is not null) issues.Add(Error(document, "builder.destination", "InvalidDestination", error));
        }
        var platform = v.Choice(b["platform"], "builder.platform", "InvalidPlatform", Platforms);
        var store = v.String(b["build-context-store"], "builder.build-context-store", "InvalidBuildContextStore", allowNull: true);
        if (store is not null && !BuildContextStoreUri.IsValid(store))
        {
            issues.Add(Error(document, "builder.build-context-store", "InvalidBuildContextStore",
                $"builder.build-context-store '{store}' is not a supported store. Use s3://<bucket>[/<prefix>], gs://<bucket>[/<prefix>] or https://<account>.blob.core.windows.net/<container>[/<prefix>]."));
        }
        if (store is not null && type is "docker" or "noop")
        {
            issues.Add(Warning(document, "builder.build-context-store", "BuildContextStoreIgnored",
                $"builder.build-context-store is used only by the kaniko builder; with builder.type '{type}' it is ignored."));
        }
        if (type == "kaniko" && store is null)
        {
            issues.Add(Error(document, "builder", "MissingBuildContextStore",
                "builder.type kaniko needs builder.build-context-store (s3://…, gs://… or an Azure blob URL) to upload the build context to."));
        }
        var jobName = v.String(b["build-job-name"], "builder.build-job-name", "InvalidBuildJobName", allowNull: true);
        if (jobName is not null && !KubernetesName().IsMatch(jobName))
        {
            issues.Add(Error(document, "builder.build-job-name", "InvalidBuildJobName",
                $"builder.build-job-name '{jobName}' is not a valid Kubernetes name: use at most 52 lowercase letters, digits and '-', starting and ending with a letter or digit."));
        }
        var secretName = v.String(b["secret-name"], "builder.secret-name", "InvalidSecretName", allowNull: true);
        var secretKey = v.String(b["secret-key"], "builder.secret-key", "InvalidSecretKey", allowNull: true);
        if ((secretName is null) != (secretKey is null))
        {
            var given = secretName is null ? "secret-key" : "secret-name";
            var missing = secretName is null ? "secret-name" : "secret-key";
            issues.Add(Error(document, $"builder.{given}", "SecretNameKeyMismatch",
                $"builder.{given} is set but builder.{missing} is not; set both (the Kubernetes secret and the key in it holding the registry credentials) or neither."));
        }
        var kanikoImage = v.String(b["kaniko-image"], "builder.kaniko-image", "InvalidKanikoImage", allowNull: true);
        OrderedDictionary? kanikoConfig = null;
        if (b["kaniko-config"] is { } kc)
        {
            if (kc is JsonObject) kanikoConfig = (OrderedDictionary)JsonTree.ToPlain(kc)!;
            else issues.Add(Error(document, "builder.kaniko-config", "InvalidKanikoConfig", $"builder.kaniko-config must be a mapping (a partial Kubernetes Job manifest); it is a {JsonTree.KindOf(kc)}."));
        }
        return new BuilderSettings
        {
            Type = type,
            Destination = destination,
            Platform = platform,
            BuildContextStore = store,
            BuildJobName = jobName,
            SecretName = secretName,
            SecretKey = secretKey,
            KanikoImage = kanikoImage,
            KanikoConfig = kanikoConfig,
        };
    }

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]{0,50}[a-z0-9])?$")]
    private static partial Regex KubernetesName();

    /// <summary>
    /// Registry keys per type, as W&amp;B's registries take them in <c>from_config</c> (<c>registry/*.py</c>); any other
    /// key makes W&amp;B's agent refuse to start for ecr and gcr.
    /// </summary>
    private static readonly Dictionary<string, string[]> RegistryKeysByType = new()
    {
        ["ecr"] = ["type", "uri", "account_id", "region", "repo_name"],
        ["gcr"] = ["type", "uri", "repository", "image-name", "region", "project"],
        ["acr"] = ["type", "uri"],
    };

    private static RegistrySettings ValidateRegistry(Walker v, JsonObject obj, List<ConfigIssue> issues, ParsedDocument document)
    {
        var node = obj["registry"];
        if (node is null) return new RegistrySettings();
        if (node is not JsonObject r)
        {
            issues.Add(Error(document, "registry", "InvalidRegistry", $"registry must be a mapping with keys type and uri; it is a {JsonTree.KindOf(node)}."));
            return new RegistrySettings();
        }
        if (r.Count == 0) return new RegistrySettings();
        var type = v.Choice(r["type"], "registry.type", "InvalidRegistryType", RegistryTypes);
        var known = type is null ? RegistryKeys : RegistryKeysByType[type];
        foreach (var key in r.Select(p => p.Key).Where(k => !known.Contains(k)))
        {
            if (type is "ecr" or "gcr")
            {
                issues.Add(Error(document, $"registry.{key}", "UnknownRegistryKey",
                    $"Unknown registry key '{key}' for registry.type {type}; W&B's agent refuses it too. Keys for {type}: {string.Join(", ", known)}."));
            }
            else
            {
                issues.Add(Warning(document, $"registry.{key}", "UnknownRegistryKey", $"Unknown registry key '{key}' is ignored. Registry keys{(type is null ? "" : $" for {type}")}: {string.Join(", ", known)}."));
            }
        }
        string Part(string key) => v.String(r[key], $"registry.{key}", "InvalidRegistryPart", allowNull: true) ?? "";
        var uri = v.String(r["uri"], "registry.uri", "InvalidRegistryUri", allowNull: true);
        if (type is "ecr" or "gcr" && (uri is not null || r["uri"] is null))
        {
            var parts = RegistryKeysByType[type].Skip(2).ToDictionary(k => k, Part);
            // W&B reads a gcr project missing from the block from the Google default credentials; ours from environment.project.
            if (type == "gcr" && parts["project"].Length == 0 && (obj["environment"] as JsonObject)?["project"] is { } ep && JsonTree.TryGetString(ep, out var envProject))
            {
                parts["project"] = envProject;
            }
            uri = RegistryUriFromParts(document, issues, r, uri, type, parts);
        }
        if (type == "acr" && uri is null)
        {
            issues.Add(Error(document, "registry", "MissingRegistryUri", "registry.type acr needs registry.uri (https://<registry-name>.azurecr.io/<repository>)."));
        }
        string? checkedUri = null;
        if (uri is not null)
        {
            // W&B's RegistryConfig checks registry.uri as it checks builder.destination (validate_registry_uri).
            if (ImageDestination.Check(uri, out var normalized) is { } error) issues.Add(Error(document, "registry.uri", "InvalidRegistryUri", error.Replace("builder.destination", "registry.uri", StringComparison.Ordinal)));
            else checkedUri = normalized;
        }
        // W&B's registry classes parse their uri with their own host pattern and refuse any other.
        if (checkedUri is not null && type is not null && ImageDestination.KindOf(checkedUri) != type)
        {
            issues.Add(Error(document, "registry.uri", "InvalidRegistryUri",
                $"registry.uri '{checkedUri}' is not {(type switch { "ecr" => "an ECR", "gcr" => "an Artifact Registry", _ => "an ACR" })} repository; registry.type {type} needs {(type switch { "ecr" => "<account>.dkr.ecr.<region>.amazonaws.com/<repository>", "gcr" => "<region>-docker.pkg.dev/<project>/<repository>/<image>", _ => "<registry>.azurecr.io/<repository>" })}."));
            checkedUri = null;
        }
        var hasDestination = obj["builder"] is JsonObject b && b["destination"] is not null;
        if (type is null && uri is not null && !hasDestination)
        {
            issues.Add(Warning(document, "registry.uri", "RegistryUriIgnored",
                "registry.uri is ignored without registry.type (W&B's agent then pushes nowhere): set builder.destination instead."));
        }
        issues.Add(Warning(document, "registry", "DeprecatedRegistryKey",
            "The registry block is deprecated: set builder.destination to the image repository instead" +
            (checkedUri is not null && type is not null && !hasDestination ? $" (builder.destination: {checkedUri})." : ".")));
        return new RegistrySettings { Type = type, Uri = checkedUri };
    }

    /// <summary>
    /// The repository of an ecr or gcr registry block: its <c>uri</c>, or the URI made of its parts; never both, and
    /// every part when there is no uri (W&amp;B's <c>ElasticContainerRegistry</c> / <c>GoogleArtifactRegistry</c>).
    /// </summary>
    private static string? RegistryUriFromParts(ParsedDocument document, List<ConfigIssue> issues, JsonObject block, string? uri, string type, Dictionary<string, string> parts)
    {
        if (uri is not null)
        {
            var alsoGiven = parts.Keys.Where(k => block[k] is not null).ToList();
            if (alsoGiven.Count > 0)
            {
                issues.Add(Error(document, "registry", "RegistryUriAndParts",
                    $"registry.type {type} takes either registry.uri or {string.Join(", ", parts.Keys.Select(k => "registry." + k))}, not both; this block also sets {string.Join(", ", alsoGiven.Select(k => "registry." + k))}."));
            }
            return uri;
        }
        var missing = parts.Where(p => p.Value.Length == 0).Select(p => "registry." + p.Key).ToList();
        if (missing.Count > 0)
        {
            issues.Add(Error(document, "registry", "MissingRegistryUri",
                $"registry.type {type} needs registry.uri, or all of {string.Join(", ", parts.Keys.Select(k => "registry." + k))}; missing: {string.Join(", ", missing)}." +
                (missing.Contains("registry.project") ? " (W&B reads a missing project from the Google default credentials; give it here or as environment.project.)" : "")));
            return null;
        }
        return type == "ecr"
            ? $"{parts["account_id"]}.dkr.ecr.{parts["region"]}.amazonaws.com/{parts["repo_name"]}"
            : $"{parts["region"]}-docker.pkg.dev/{parts["project"]}/{parts["repository"]}/{parts["image-name"]}";
    }

    private static EnvironmentSettings ValidateEnvironment(Walker v, JsonNode? node, List<ConfigIssue> issues, ParsedDocument document)
    {
        if (node is null) return new EnvironmentSettings();
        if (node is not JsonObject e)
        {
            issues.Add(Error(document, "environment", "InvalidEnvironment", $"environment must be a mapping with keys {string.Join(", ", EnvironmentKeys)}; it is a {JsonTree.KindOf(node)}."));
            return new EnvironmentSettings();
        }
        foreach (var key in e.Select(p => p.Key).Where(k => !EnvironmentKeys.Contains(k)))
        {
            issues.Add(Warning(document, $"environment.{key}", "UnknownEnvironmentKey", $"Unknown environment key '{key}' is ignored. Environment keys: {string.Join(", ", EnvironmentKeys)}."));
        }
        var type = v.Choice(e["type"], "environment.type", "InvalidEnvironmentType", EnvironmentTypes);
        if (type is null && e.Count > 0 && e["type"] is null)
        {
            issues.Add(Error(document, "environment", "MissingEnvironmentType", $"environment needs a type: one of {string.Join(", ", EnvironmentTypes)}."));
        }
        var region = v.String(e["region"], "environment.region", "InvalidEnvironmentRegion", allowNull: true);
        var project = v.String(e["project"], "environment.project", "InvalidEnvironmentProject", allowNull: true);
        if (type is "aws" or "gcp" && string.IsNullOrWhiteSpace(region))
        {
            issues.Add(Error(document, "environment", "MissingEnvironmentRegion",
                $"environment.type {type} needs environment.region (for example {(type == "aws" ? "us-east-1" : "us-central1")})."));
        }
        return new EnvironmentSettings { Type = type, Region = region, Project = project };
    }

    internal static ConfigIssue Error(ParsedDocument document, string key, string id, string message) =>
        new() { Severity = ConfigIssueSeverity.Error, ErrorId = id, Key = key, Message = message, Position = document.PositionOf(key) };

    internal static ConfigIssue Warning(ParsedDocument document, string key, string id, string message) =>
        new() { Severity = ConfigIssueSeverity.Warning, ErrorId = id, Key = key, Message = message, Position = document.PositionOf(key) };

    private static string Suggest(string key, IReadOnlyList<string> valid)
    {
        var normalized = key.Replace('-', '_').ToLowerInvariant();
        var match = valid
            .Select(k => (Key: k, Distance: EditDistance(k.Replace('-', '_'), normalized)))
            .Where(c => c.Distance <= Math.Max(1, normalized.Length / 4))
            .OrderBy(c => c.Distance)
            .Select(c => c.Key)
            .FirstOrDefault();
        return match is null ? "" : $" (did you mean '{match}'?)";
    }

    private static int EditDistance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }
            previous = current;
        }
        return previous[b.Length];
    }

    /// <summary>Reads typed values, recording an issue (and returning a default) for each wrong one.</summary>
    private sealed class Walker(ParsedDocument document, List<ConfigIssue> issues)
    {
        public bool Check(string key, string id, Action check)
        {
            try
            {
                check();
                return true;
            }
            catch (Errors.LaunchException e)
            {
                issues.Add(Error(document, key, id, $"{key}: {e.Message}"));
                return false;
            }
        }

        public string? String(JsonNode? node, string key, string id, bool allowNull = false)
        {
            if (node is null)
            {
                return null;
            }
            if (JsonTree.TryGetString(node, out var s)) return s;
            issues.Add(Error(document, key, id, $"{key} must be a string{(allowNull ? " or null" : "")}; it is {JsonTree.KindOf(node)} {JsonTree.Show(node)}."));
            return null;
        }

        public string? Choice(JsonNode? node, string key, string id, IReadOnlyList<string> allowed)
        {
            if (node is null) return null;
            if (JsonTree.TryGetString(node, out var s) && allowed.Contains(s)) return s;
            issues.Add(Error(document, key, id, $"{key} is {JsonTree.Show(node)}; allowed values: {string.Join(", ", allowed)}."));
            return null;
        }

        public IReadOnlyList<string> StringList(JsonNode? node, string key, string id, Func<string, string> check)
        {
            if (node is null) return [];
            if (node is not JsonArray arr)
            {
                issues.Add(Error(document, key, id, $"{key} must be a list of queue names; it is {JsonTree.KindOf(node)} {JsonTree.Show(node)}."));
                return [];
            }
            var list = new List<string>();
            for (var i = 0; i < arr.Count; i++)
            {
                var path = DocumentPath.Index(key, i);
                if (!JsonTree.TryGetString(arr[i], out var s))
                {
                    issues.Add(Error(document, path, id, $"{path} must be a string; it is {JsonTree.KindOf(arr[i])} {JsonTree.Show(arr[i])}."));
                    continue;
                }
                if (Check(path, id, () => check(s)) && !list.Contains(s)) list.Add(s);
            }
            return list;
        }

        public int Int(JsonObject obj, string key, string id, int fallback, int min = int.MinValue, int max = int.MaxValue, string rule = "a whole number")
        {
            var node = obj[key];
            if (node is null) return fallback;
            if (JsonTree.IsInteger(node) && JsonTree.TryGetNumber(node, out var d) && d >= min && d <= max) return (int)d;
            if (JsonTree.TryGetString(node, out var s) && int.TryParse(s, out var parsed) && parsed >= min && parsed <= max) return parsed;
            issues.Add(Error(document, key, id, $"{key} is {JsonTree.Show(node)}; it must be {rule}."));
            return fallback;
        }

        public bool Bool(JsonObject obj, string key, string id)
        {
            var node = obj[key];
            if (node is null) return false;
            if (node is JsonValue value && value.GetValueKind() is System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False) return value.GetValue<bool>();
            issues.Add(Error(document, key, id, $"{key} is {JsonTree.Show(node)}; it must be true or false."));
            return false;
        }
    }
}
