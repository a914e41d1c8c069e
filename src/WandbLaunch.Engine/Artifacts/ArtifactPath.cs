using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Artifacts;

/// <summary>
/// An artifact version's address, W&amp;B's <c>entity/project/name:alias</c>: the alias is a named alias
/// (<c>latest</c>, <c>prod</c>) or a version (<c>v3</c>); none means <c>latest</c>.
/// </summary>
public sealed record ArtifactPath(string Entity, string Project, string Name, string Alias)
{
    public const string Latest = "latest";

    /// <summary>Parses <c>entity/project/name[:alias]</c>, checked by <see cref="SpecNames.JobName"/> (InvalidJobName).</summary>
    public static ArtifactPath Parse(string value, string field = "job")
    {
        SpecNames.JobName(value, field);
        var parts = value.Split('/');
        var colon = parts[2].IndexOf(':');
        return colon < 0
            ? new ArtifactPath(parts[0], parts[1], parts[2], Latest)
            : new ArtifactPath(parts[0], parts[1], parts[2][..colon], parts[2][(colon + 1)..]);
    }

    /// <summary>The version index when the alias is a version (<c>v3</c> → 3), else null.</summary>
    public int? VersionIndex =>
        Alias.Length > 1 && Alias[0] == 'v' && int.TryParse(Alias.AsSpan(1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : null;

    /// <summary><c>entity/project/name</c> without the alias.</summary>
    public string Collection => $"{Entity}/{Project}/{Name}";

    public override string ToString() => $"{Entity}/{Project}/{Name}:{Alias}";
}
