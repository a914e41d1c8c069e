using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Identifiers;
using WandbLaunch.Engine.Queues;

namespace WandbLaunch.Engine.Specs;

/// <summary>
/// Checks a launch spec and turns it into the item a queue stores: the priority decided, template values validated
/// and rendered into <c>resource_args</c>, a run id assigned. Shared by every backend, so a bad push is refused
/// before anything is stored.
/// </summary>
public static class LaunchSpecRules
{
    /// <summary>The prepared item.</summary>
    public sealed record PreparedItem(LaunchSpec Spec, LaunchPriority Priority, JsonObject? TemplateValues, string RunId);

    /// <summary>
    /// The one place a launch spec from outside (a user, a file, a request) is checked: its shape
    /// (<see cref="LaunchSpec.Parse"/>), its source, NULs (<see cref="OsValues"/>), names and paths
    /// (<see cref="SpecNames"/>), then the queue's resource, priority and templates.
    /// </summary>
    public static PreparedItem Prepare(LaunchQueue queue, PushRequest request)
    {
        var spec = LaunchSpec.Parse(request.Spec);
        CheckSource(spec);
        OsValues.CheckNul(spec.Document, "launch spec");
        SpecNames.Check(spec);

        var specResource = string.Equals(spec.Resource, LaunchResource.VertexArgsKey, StringComparison.OrdinalIgnoreCase) ? LaunchResource.GcpVertex : spec.Resource;
        if (spec.HasResource && !string.Equals(specResource, queue.Resource, StringComparison.OrdinalIgnoreCase))
        {
            var resource = spec.ResourceText;
            throw LaunchException.Invalid("ResourceMismatch",
                $"The launch spec asks for resource '{resource}', but queue '{queue.Name}' runs jobs on '{queue.Resource}'. Remove 'resource' from the spec or submit to a {resource} queue.",
                resource);
        }
        spec.Resource = queue.Resource;

        var priority = request.Priority ?? spec.Priority;
        if (priority is not null && !queue.Prioritization && priority != LaunchPriorities.Default)
        {
            throw LaunchException.Invalid("PrioritizationDisabled",
                $"Queue '{queue.Name}' does not have prioritization on, so jobs cannot be given priority '{priority.Value.ToString().ToLowerInvariant()}'. " +
                $"Turn it on with Set-WandbLaunchQueue -Name '{queue.Name}' -Prioritization, or submit without -Priority.",
                priority.Value);
        }
        var finalPriority = priority ?? LaunchPriorities.Default;
        spec.Priority = finalPriority;

        var values = request.TemplateValues ?? spec.TemplateVariables;
        var resolved = ConfigTemplate.ResolveValues(queue.VariablesByName, values);
        var queueConfig = ConfigTemplate.Render(queue.ResourceConfig, resolved) as JsonObject ?? new JsonObject();
        // W&B's Vertex runner reads resource_args.vertex first, then gcp-vertex.
        var specArgs = (queue.Resource == LaunchResource.GcpVertex ? spec.ResourceArgsFor(LaunchResource.VertexArgsKey) : null)
                       ?? spec.ResourceArgsFor(queue.Resource) ?? new JsonObject();
        // W&B: values from a template push win over the spec's own resource_args; without templates the spec
        // refines the queue's defaults.
        var merged = queue.TemplateVariables.Count > 0
            ? DeepMerge(specArgs, queueConfig)
            : DeepMerge(queueConfig, specArgs);
        if (queue.Resource == LaunchResource.LocalContainer) Docker.ContainerArgs.Check(merged, "resource_args.local-container");
        if (queue.Resource == LaunchResource.SageMaker) Cloud.Aws.SageMakerTrainingJobs.CheckResourceArgs(merged);
        if (queue.Resource == LaunchResource.GcpVertex) Cloud.Google.VertexCustomJob.Check(merged, "resource_args.gcp-vertex");
        CheckAdditionalServices(spec, queue);
        OsValues.CheckEnvironment(merged, $"resource_args.{queue.Resource}");
        spec.SetResourceArgs(queue.Resource, merged);
        JsonObject? storedValues = null;
        if (resolved.Count > 0)
        {
            storedValues = new JsonObject();
            foreach (var (name, value) in resolved) storedValues[name] = value.DeepClone();
            spec.TemplateVariables = storedValues;
        }

        var runId = spec.RunId is { Length: > 0 } given ? given : Ids.NewRunId();
        spec.RunId = runId;
        return new PreparedItem(spec, finalPriority, storedValues, runId);
    }

    /// <summary>
    /// additional_services run beside Kubernetes jobs only (W&amp;B's other runners ignore them, which leaves a job without
    /// the database it expects): their shape and kinds are checked here, the rest when the job is rendered.
    /// </summary>
    private static void CheckAdditionalServices(LaunchSpec spec, LaunchQueue queue)
    {
        if (spec.Document[LaunchSpec.Keys.AdditionalServices] is not { } services) return;
        var found = AdditionalServiceShape.Check(services, jobNamespace: null);
        foreach (var (config, path, _) in found) OsValues.CheckEnvironment(config, path);
        if (found.Count > 0 && queue.Resource != LaunchResource.Kubernetes)
        {
            throw LaunchException.Invalid("AdditionalServicesNotSupported",
                $"The spec has additional_services, which only a kubernetes queue creates; queue '{queue.Name}' runs jobs on '{queue.Resource}'. Remove them or submit to a kubernetes queue.",
                queue.Resource);
        }
    }

    /// <summary>One of job, uri or a docker image is required, and only one.</summary>
    private static void CheckSource(LaunchSpec spec)
    {
        var sources = spec.SourcesGiven;
        if (sources.Count == 0 && spec.IsSweepScheduler)
        {
            throw LaunchException.Invalid("SweepSchedulerNotSupported",
                "The launch spec is W&B's own sweep scheduler (uri 'placeholder-uri-scheduler' without a job or image), which W&B's agent runs as `wandb scheduler` in its own Python; WandbLaunch does not run sweeps. Give the scheduler a job or an image (launch-sweep's scheduler.job or scheduler.docker_image).",
                spec.ToJson());
        }
        if (sources.Count == 0)
        {
            throw LaunchException.Invalid("MissingJobSource",
                "The launch spec says nothing to run: give one of job (entity/project/name:alias), uri (a git URL or a local directory) or a docker image (docker.docker_image).",
                spec.ToJson());
        }
        if (sources.Count > 1)
        {
            throw LaunchException.Invalid("ConflictingJobSource",
                $"The launch spec gives {string.Join(" and ", sources)}; give exactly one of job, uri or a docker image.", spec.ToJson());
        }
        if (spec.Uri is { } uri) SourceUri.Classify(uri);
        if (spec.JobArtifactName is { } job && (job.Split('/') is not { Length: 3 } parts || parts.Any(p => p.Length == 0)))
        {
            var shown = JsonTree.Show(JsonValue.Create(job));
            throw LaunchException.Invalid("InvalidJobName", $"The spec's job is {shown}; a job is named entity/project/name[:alias].", shown);
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
