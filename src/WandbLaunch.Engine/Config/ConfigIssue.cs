using WandbLaunch.Engine.Documents;

namespace WandbLaunch.Engine.Config;

public enum ConfigIssueSeverity
{
    Error,
    Warning,
}

/// <summary>One problem found in an agent config: what, where (key path, file, line, column) and how bad.</summary>
public sealed class ConfigIssue
{
    public required ConfigIssueSeverity Severity { get; init; }

    /// <summary>A stable PascalCase identifier, e.g. <c>InvalidMaxJobs</c>.</summary>
    public required string ErrorId { get; init; }

    /// <summary>The key path, e.g. <c>builder.destination</c>.</summary>
    public required string Key { get; init; }

    public required string Message { get; init; }

    public SourcePosition? Position { get; init; }

    public string? File => Position?.File;

    public int? Line => Position?.Line;

    public int? Column => Position?.Column;

    public override string ToString() => Position is { } p ? $"{p}: {Message}" : Message;
}
