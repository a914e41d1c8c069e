using System.Text.Json.Nodes;

namespace WandbLaunch.Engine.Artifacts;

/// <summary>One version of an artifact as the store holds it (W&amp;B's <c>Artifact</c> with its membership in a collection).</summary>
public sealed record ArtifactVersion
{
    /// <summary>The store's id of the version (W&amp;B: the artifact's GraphQL id).</summary>
    public required string Id { get; init; }

    public required string Entity { get; init; }

    public required string Project { get; init; }

    /// <summary>The collection (sequence) name, e.g. <c>job-github.com_o_r_train.py</c>.</summary>
    public required string Name { get; init; }

    /// <summary>The artifact type: <c>job</c>, <c>code</c>, ...</summary>
    public required string Type { get; init; }

    public required int VersionIndex { get; init; }

    /// <summary>Named aliases (latest, prod), without the version alias.</summary>
    public IReadOnlyList<string> Aliases { get; init; } = [];

    /// <summary>The artifact's digest (W&amp;B: an MD5 over its manifest's entries): equal digests, equal contents.</summary>
    public required string Digest { get; init; }

    /// <summary>COMMITTED, PENDING or DELETED.</summary>
    public string State { get; init; } = "COMMITTED";

    public long Size { get; init; }

    public string? Description { get; init; }

    public JsonObject? Metadata { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    /// <summary><c>v&lt;index&gt;</c>.</summary>
    public string Version => $"v{VersionIndex}";

    public ArtifactPath Path => new(Entity, Project, Name, Version);

    public override string ToString() => $"{Entity}/{Project}/{Name}:{Version}";
}
