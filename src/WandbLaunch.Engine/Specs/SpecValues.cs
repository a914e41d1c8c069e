using System.Globalization;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Queues;

namespace WandbLaunch.Engine.Specs;

/// <summary>
/// Rules for the values in a launch spec that the queue would otherwise take wrongly: priorities (only the whole
/// numbers 0-3 or their names; 2.7 is not 2). The NUL and environment-name rules are <see cref="OsValues"/>.
/// </summary>
public static class SpecValues
{
    /// <summary>
    /// The spec's <c>priority</c>: a whole number 0-3 or a name (critical, high, medium, low). A fraction (2.7) or
    /// a number out of range (-1, 4, 1e9) is refused rather than rounded or clamped.
    /// </summary>
    public static LaunchPriority? Priority(JsonNode? node)
    {
        if (node is null) return null;
        if (JsonTree.TryGetNumber(node, out var n))
        {
            if (JsonTree.IsInteger(node) && n is >= 0 and <= 3) return (LaunchPriority)(int)n;
            throw LaunchException.Invalid("InvalidPriority",
                $"The spec's priority is {JsonTree.Show(node)}; use critical, high, medium, low or a whole number 0-3.", JsonTree.Show(node));
        }
        if (JsonTree.TryGetString(node, out var s)) return LaunchPriorities.Parse(s);
        throw LaunchException.Invalid("InvalidPriority", $"The spec's priority is {JsonTree.Show(node)}; use critical, high, medium, low or 0-3.", JsonTree.Show(node));
    }
}
