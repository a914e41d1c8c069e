using System.Text.Json.Nodes;

namespace WandbLaunch.Engine.Artifacts;

/// <summary>An artifact version to log: its files come from the host (path in the artifact → file on disk).</summary>
public sealed record NewArtifact
{
    public required string Entity { get; init; }

    public required string Project { get; init; }

    public required string Name { get; init; }

    public required string Type { get; init; }

    /// <summary>Path in the artifact ('/'-separated, relative) → the file on the host to upload.</summary>
    public required IReadOnlyDictionary<string, string> Files { get; init; }

    /// <summary>Aliases besides <c>latest</c>, which every new version gets.</summary>
    public IReadOnlyList<string> Aliases { get; init; } = [];

    public string? Description { get; init; }

    public JsonObject? Metadata { get; init; }
}

/// <summary>What logging an artifact did: <c>Created</c> (first version), <c>Updated</c> (a new version) or <c>Unchanged</c> (same digest as an existing version, which gets the aliases).</summary>
public enum ArtifactCommitKind
{
    Created,
    Updated,
    Unchanged,
}

public sealed record ArtifactCommit(ArtifactVersion Version, ArtifactCommitKind Kind);
