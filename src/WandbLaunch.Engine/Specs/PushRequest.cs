using System.Text.Json.Nodes;
using WandbLaunch.Engine.Queues;

namespace WandbLaunch.Engine.Specs;

/// <summary>A launch request to add to a queue (W&amp;B's pushToRunQueueByName).</summary>
public sealed class PushRequest
{
    /// <summary>
    /// The launch spec as it came (uri/job/docker image, overrides, resource_args...): not yet trusted, it is parsed
    /// and checked into a <see cref="LaunchSpec"/> by <see cref="LaunchSpecRules.Prepare"/>.
    /// </summary>
    public required JsonObject Spec { get; init; }

    /// <summary>Null means the spec's priority, else medium; only allowed when the queue has prioritization on.</summary>
    public LaunchPriority? Priority { get; init; }

    /// <summary>Template variable values; null means the spec's <c>template_variables</c>, else defaults.</summary>
    public JsonObject? TemplateValues { get; init; }
}
