using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Engine.Specs;

/// <summary>
/// Checks a launch spec and turns it into the item a queue stores: the priority decided, template values validated
/// and rendered into <c>resource_args</c>, a run id assigned. Shared by every backend, so a bad push is refused
/// before anything is stored.
/// </summary>
public static class LaunchSpecRules
{
    /// <summary>The prepared item.</summary>
    public sealed record PreparedItem(JsonObject Spec, LaunchPriority Priority, JsonObject? TemplateValues, string RunId)
    {
        /// <summary>The job this item is once stored on <paramref name="queue"/> as <paramref name="id"/>: Pending, never taken.</summary>
        public LaunchJob ToPendingJob(LaunchQueue queue, string id, DateTimeOffset createdAt) => new()
        {
            Id = id,
            Queue = queue.Name,
            Entity = queue.Entity,
            Project = queue.Project,
            Resource = queue.Resource,
            State = LaunchJobState.Pending,
            Priority = Priority,
            RunId = RunId,
            SpecNode = Spec,
            CreatedAt = createdAt,
        };
    }

    public static PreparedItem Prepare(LaunchQueue queue, PushRequest request)
    {
        var spec = (JsonObject)request.Spec.DeepClone();
        CheckTypes(spec);
        CheckSource(spec);
        SpecValues.Check(spec);
        SpecNames.Check(spec);

        if (spec["resource"] is { } resourceNode)
        {
            JsonTree.TryGetString(resourceNode, out var resource);
            if (!string.Equals(resource, queue.Resource, StringComparison.OrdinalIgnoreCase))
            {
                throw LaunchException.Invalid("ResourceMismatch",
                    $"The launch spec asks for resource '{resource}', but queue '{queue.Name}' runs jobs on '{queue.Resource}'. Remove 'resource' from the spec or submit to a {resource} queue.",
                    resource);
            }
        }
        spec["resource"] = queue.Resource;

        var priority = request.Priority ?? SpecPriority(spec);
        if (priority is not null && !queue.Prioritization && priority != LaunchPriorities.Default)
        {
            throw LaunchException.Invalid("PrioritizationDisabled",
                $"Queue '{queue.Name}' does not have prioritization on, so jobs cannot be given priority '{priority.Value.ToString().ToLowerInvariant()}'. " +
                $"Turn it on with Set-WandbLaunchQueue -Name '{queue.Name}' -Prioritization, or submit without -Priority.",
                priority.Value);
        }
        var finalPriority = priority ?? LaunchPriorities.Default;
        spec["priority"] = (int)finalPriority;

        var values = request.TemplateValues ?? spec["template_variables"] as JsonObject;
        var resolved = ConfigTemplate.ResolveValues(queue.VariablesByName, values);
        var queueConfig = ConfigTemplate.Render(queue.ResourceConfig, resolved) as JsonObject ?? new JsonObject();
        var specArgs = (spec["resource_args"] as JsonObject)?[queue.Resource] as JsonObject ?? new JsonObject();
        // W&B: values from a template push win over the spec's own resource_args; without templates the spec
        // refines the queue's defaults.
        var merged = queue.TemplateVariables.Count > 0
            ? DeepMerge(specArgs, queueConfig)
            : DeepMerge(queueConfig, specArgs);
        if (queue.Resource == LaunchResource.LocalContainer) Runners.LocalContainer.ContainerArgs.Check(merged, "resource_args.local-container");
        SpecValues.CheckEnvironment(merged, $"resource_args.{queue.Resource}");
        spec["resource_args"] = new JsonObject { [queue.Resource] = merged };
        JsonObject? storedValues = null;
        if (resolved.Count > 0)
        {
            storedValues = new JsonObject();
            foreach (var (name, value) in resolved) storedValues[name] = value.DeepClone();
            spec["template_variables"] = storedValues.DeepClone();
        }

        var runId = JsonTree.TryGetString(spec["run_id"], out var given) && given.Length > 0 ? given : Ids.NewRunId();
        spec["run_id"] = runId;
        return new PreparedItem(spec, finalPriority, storedValues, runId);
    }

    private static LaunchPriority? SpecPriority(JsonObject spec) => SpecValues.Priority(spec["priority"]);

    /// <summary>One of job, uri or a docker image is required, and only one.</summary>
    private static void CheckSource(JsonObject spec)
    {
        var sources = new List<string>();
        if (spec["job"] is not null) sources.Add("job");
        if (spec["uri"] is not null) sources.Add("uri");
        if (DockerImage(spec) is not null) sources.Add("docker image");
        if (sources.Count == 0)
        {
            throw LaunchException.Invalid("MissingJobSource",
                "The launch spec says nothing to run: give one of job (entity/project/name:alias), uri (a git URL or a local directory) or a docker image (docker.docker_image).",
                spec.ToJsonString());
        }
        if (sources.Count > 1)
        {
            throw LaunchException.Invalid("ConflictingJobSource",
                $"The launch spec gives {string.Join(" and ", sources)}; give exactly one of job, uri or a docker image.", spec.ToJsonString());
        }
        if (spec["uri"] is { } uri) SourceUri.Classify(uri.GetValue<string>());
        if (spec["job"] is { } job && (!JsonTree.TryGetString(job, out var jobName) || jobName.Split('/') is not { Length: 3 } parts || parts.Any(p => p.Length == 0)))
        {
            throw LaunchException.Invalid("InvalidJobName",
                $"The spec's job is {JsonTree.Show(job)}; a job is named entity/project/name[:alias].", JsonTree.Show(job));
        }
    }

    /// <summary>The docker image a spec names (docker.docker_image or image_uri), or null.</summary>
    public static string? DockerImage(JsonObject spec) =>
        JsonTree.TryGetString((spec["docker"] as JsonObject)?["docker_image"], out var image) && image.Length > 0 ? image
        : JsonTree.TryGetString(spec["image_uri"], out var uri) && uri.Length > 0 ? uri
        : null;

    /// <summary>What a job runs, for display.</summary>
    public static string? Source(JsonObject spec) =>
        JsonTree.TryGetString(spec["uri"], out var uri) ? uri
        : JsonTree.TryGetString(spec["job"], out var job) ? job
        : DockerImage(spec);

    private static readonly (string Key, string Kind)[] TypedKeys =
    [
        ("uri", "string"), ("job", "string"), ("entity", "string"), ("project", "string"), ("author", "string"),
        ("name", "string"), ("resource", "string"), ("run_id", "string"), ("sweep_id", "string"), ("python_version", "string"),
        ("docker", "mapping"), ("git", "mapping"), ("overrides", "mapping"), ("resource_args", "mapping"), ("template_variables", "mapping"),
        ("image_uri", "string"),
    ];

    private static void CheckTypes(JsonObject spec)
    {
        foreach (var (key, kind) in TypedKeys)
        {
            if (spec[key] is { } value && JsonTree.KindOf(value) != kind)
            {
                throw LaunchException.Invalid("InvalidLaunchSpec", $"The spec's '{key}' must be a {kind}; it is {JsonTree.KindOf(value)} {JsonTree.Show(value)}.", key);
            }
        }
        if (spec["overrides"] is JsonObject overrides)
        {
            foreach (var key in new[] { "args", "entry_point" })
            {
                if (overrides[key] is { } list && (list is not JsonArray arr || arr.Any(a => !JsonTree.TryGetString(a, out _))))
                {
                    throw LaunchException.Invalid("InvalidLaunchSpec", $"The spec's overrides.{key} must be a list of strings; it is {JsonTree.Show(list)}.", $"overrides.{key}");
                }
            }
            if (overrides["run_config"] is { } rc && rc is not JsonObject)
            {
                throw LaunchException.Invalid("InvalidLaunchSpec", $"The spec's overrides.run_config must be a mapping; it is {JsonTree.Show(rc)}.", "overrides.run_config");
            }
        }
        if (spec["resource_args"] is JsonObject args)
        {
            foreach (var (resource, value) in args)
            {
                if (value is not (JsonObject or null))
                {
                    throw LaunchException.Invalid("InvalidLaunchSpec", $"The spec's resource_args.{resource} must be a mapping; it is {JsonTree.Show(value)}.", $"resource_args.{resource}");
                }
            }
        }
    }

    /// <summary>A copy of <paramref name="under"/> with <paramref name="over"/> laid on top (mappings merge, everything else replaces).</summary>
    public static JsonObject DeepMerge(JsonObject under, JsonObject over)
    {
        var result = (JsonObject)under.DeepClone();
        foreach (var (key, value) in over)
        {
            result[key] = value is JsonObject o && result[key] is JsonObject u ? DeepMerge(u, o) : value?.DeepClone();
        }
        return result;
    }
}
