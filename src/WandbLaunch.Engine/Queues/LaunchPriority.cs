using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Queues;

/// <summary>W&amp;B's priority values: lower pops first.</summary>
public enum LaunchPriority
{
    Critical = 0,
    High = 1,
    Medium = 2,
    Low = 3,
}

public static class LaunchPriorities
{
    public const LaunchPriority Default = LaunchPriority.Medium;

    public static LaunchPriority Parse(string text)
    {
        if (int.TryParse(text, out var n) && Enum.IsDefined(typeof(LaunchPriority), n)) return (LaunchPriority)n;
        // Enum.TryParse also reads "critical,high" as the flags value 0|1 (High); one name only.
        if (!text.Contains(',') && Enum.TryParse<LaunchPriority>(text, ignoreCase: true, out var p) && Enum.IsDefined(p)) return p;
        throw LaunchException.Invalid("InvalidPriority",
            $"Unknown priority '{text}'. Allowed: critical (0), high (1), medium (2), low (3).", text);
    }
}
