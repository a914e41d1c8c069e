namespace WandbLaunch.Engine.Config;

/// <summary>The <c>environment</c> block: which cloud the agent runs against.</summary>
public sealed class EnvironmentSettings
{
    public string? Type { get; init; }

    public string? Region { get; init; }

    public string? Project { get; init; }

    public override string ToString() => Type is null ? "" : Region is null ? Type : $"{Type} ({Region})";
}
