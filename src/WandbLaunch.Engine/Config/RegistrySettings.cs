namespace WandbLaunch.Engine.Config;

/// <summary>The deprecated <c>registry</c> block (superseded by <c>builder.destination</c>).</summary>
public sealed class RegistrySettings
{
    public string? Type { get; init; }

    public string? Uri { get; init; }

    public override string ToString() => Type is null && Uri is null ? "" : $"{Type} {Uri}".Trim();
}
