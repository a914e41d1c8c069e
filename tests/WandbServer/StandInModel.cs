using System.Text.Json.Nodes;

namespace WandbLaunch.Tests.WandbServer;

// What the stand-in keeps in memory. Mutable, guarded by WandbStandIn's lock; tests see the immutable snapshots below.

internal sealed class Account(string username, string entity, bool isServiceAccount)
{
    public string Id { get; } = StandInIds.Next("User");
    public string Username { get; } = username;
    public string Entity { get; } = entity;
    public bool IsServiceAccount { get; } = isServiceAccount;
}

internal sealed class EntityRecord(string name, bool isTeam)
{
    public string Id { get; } = StandInIds.Next("Entity");
    public string Name { get; } = name;
    public bool IsTeam { get; } = isTeam;
    public HashSet<string> Members { get; } = new(StringComparer.Ordinal);
}

internal sealed class ProjectRecord(string entity, string name)
{
    public string Id { get; } = StandInIds.Next("Project");
    public string InternalId { get; } = Guid.NewGuid().ToString();
    public string Entity { get; } = entity;
    public string Name { get; } = name;
}

internal sealed class ResourceConfigRecord(string entity, string resource, JsonObject config, JsonObject templateVariables)
{
    public string Id { get; } = StandInIds.Next("DefaultResourceConfig");
    public string Entity { get; } = entity;
    public string Resource { get; set; } = resource;
    public JsonObject Config { get; set; } = config;
    public JsonObject TemplateVariables { get; set; } = templateVariables;
}

internal sealed class QueueRecord(string entity, string project, string name, string createdBy)
{
    public string Id { get; } = StandInIds.Next("RunQueue");
    public string Entity { get; } = entity;
    public string Project { get; } = project;
    public string Name { get; } = name;
    public string CreatedBy { get; } = createdBy;
    public string Access { get; set; } = "PROJECT";
    public string PrioritizationMode { get; set; } = "DISABLED";
    public string? ConfigId { get; set; }
    public string? ExternalLinks { get; set; }
}

internal sealed record ItemInfo(string Message, string Stage, IReadOnlyList<string>? FilePaths, DateTimeOffset At);

internal sealed class ItemRecord(string queueId, long sequence, JsonObject runSpec, int priority, DateTimeOffset createdAt)
{
    public string Id { get; } = StandInIds.Next("RunQueueItem");
    public string QueueId { get; } = queueId;
    public long Sequence { get; } = sequence;
    public JsonObject RunSpec { get; } = runSpec;
    public int Priority { get; } = priority;
    public DateTimeOffset CreatedAt { get; } = createdAt;
    public DateTimeOffset UpdatedAt { get; set; } = createdAt;
    public string State { get; set; } = "PENDING";
    public DateTimeOffset? LeasedAt { get; set; }
    public string? LaunchAgentId { get; set; }
    public string? AssociatedRunId { get; set; }
    public ItemInfo? Error { get; set; }
    public List<ItemInfo> Warnings { get; } = [];
}

internal sealed class AgentRecord(string entity, string project, IReadOnlyList<string> queueIds, string hostname, string? config, string? version)
{
    public string Id { get; } = StandInIds.Next("LaunchAgent");
    public string Name { get; } = StandInIds.RandomName();
    public string Entity { get; } = entity;
    public string Project { get; } = project;
    public IReadOnlyList<string> QueueIds { get; } = queueIds;
    public string Hostname { get; } = hostname;
    public string? Config { get; } = config;
    public string? Version { get; } = version;
    public string? Status { get; set; }
    public bool StopPolling { get; set; }
    public DateTimeOffset? HeartbeatAt { get; set; }
    public int StatusUpdates { get; set; }
}

internal sealed class RunRecord(string entity, string project, string name)
{
    public string Id { get; } = StandInIds.Next("Run");
    public string Entity { get; } = entity;
    public string Project { get; } = project;
    public string Name { get; } = name;
    public string State { get; set; } = "running";
    public bool Stopped { get; set; }
    public string? DisplayName { get; set; }
    public string? Description { get; set; }
    public string? Config { get; set; }
    public string? SweepName { get; set; }
    public string? JobType { get; set; }
    public Dictionary<string, byte[]> Files { get; } = new(StringComparer.Ordinal);
}

internal sealed class SweepRecord(string entity, string project, string name, string state)
{
    public string Id { get; } = StandInIds.Next("Sweep");
    public string Entity { get; } = entity;
    public string Project { get; } = project;
    public string Name { get; } = name;
    public string State { get; set; } = state;
}

internal sealed class ArtifactTypeRecord(string entity, string project, string name, DateTimeOffset createdAt)
{
    public string Id { get; } = StandInIds.Next("ArtifactType");
    public string Entity { get; } = entity;
    public string Project { get; } = project;
    public string Name { get; } = name;
    public DateTimeOffset CreatedAt { get; } = createdAt;
}

/// <summary>An artifact collection as logging makes it (W&B's ArtifactSequence): versions, and each alias's version.</summary>
internal sealed class SequenceRecord(string entity, string project, string name, ArtifactTypeRecord type, DateTimeOffset createdAt)
{
    public string Id { get; } = StandInIds.Next("ArtifactSequence");
    public string Entity { get; } = entity;
    public string Project { get; } = project;
    public string Name { get; } = name;
    public ArtifactTypeRecord Type { get; } = type;
    public DateTimeOffset CreatedAt { get; } = createdAt;
    public DateTimeOffset UpdatedAt { get; set; } = createdAt;
    public List<ArtifactRecord> Versions { get; } = [];
    public Dictionary<string, (string Id, ArtifactRecord Artifact)> Aliases { get; } = new(StringComparer.Ordinal);

    public IEnumerable<ArtifactRecord> Committed => Versions.Where(v => v.State == "COMMITTED");

    public ArtifactRecord? Latest => Committed.MaxBy(v => v.VersionIndex);

    public void SetAlias(string alias, ArtifactRecord artifact) =>
        Aliases[alias] = (Aliases.TryGetValue(alias, out var known) ? known.Id : StandInIds.Next("ArtifactAlias"), artifact);

    public IEnumerable<(string Id, string Alias)> AliasesOf(ArtifactRecord artifact) =>
        Aliases.Where(a => a.Value.Artifact == artifact).OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => (a.Value.Id, a.Key));
}

internal sealed class ArtifactRecord(SequenceRecord sequence, string digest, DateTimeOffset createdAt)
{
    public string Id { get; } = StandInIds.Next("Artifact");
    public SequenceRecord Sequence { get; } = sequence;
    public string Digest { get; } = digest;
    public DateTimeOffset CreatedAt { get; } = createdAt;
    public DateTimeOffset UpdatedAt { get; set; } = createdAt;
    public string State { get; set; } = "PENDING";
    public int? VersionIndex { get; set; }
    public string? Description { get; set; }
    public string? Metadata { get; set; }
    public List<string> PendingAliases { get; } = [];
    public Dictionary<string, ArtifactFileRecord> Files { get; } = new(StringComparer.Ordinal);
    public ManifestRecord? Manifest { get; set; }
    public long Size { get; set; }
}

internal sealed class ArtifactFileRecord(string path, string md5)
{
    public string Id { get; } = StandInIds.Next("File");
    public string Path { get; } = path;
    public string Md5 { get; } = md5;
    public byte[]? Content { get; set; }
    public string? BirthArtifactId { get; set; }
    public DateTimeOffset? UpdatedAt { get; set; }
}

internal sealed class ManifestRecord(ArtifactRecord artifact)
{
    public string Id { get; } = StandInIds.Next("ArtifactManifest");
    public string FileId { get; } = StandInIds.Next("File");
    public ArtifactRecord Artifact { get; } = artifact;
    public string Name { get; set; } = "wandb_manifest.json";
    public string Digest { get; set; } = "";
    public byte[]? Content { get; set; }
}

/// <summary>What a signed upload URL lets its holder PUT: a file of an artifact, or (Path null) its manifest.</summary>
internal sealed record UploadTarget(ArtifactRecord Artifact, string? Path, string Md5);

/// <summary>What a signed download URL gives: a file of an artifact, or (Path null) its manifest.</summary>
internal sealed record DownloadTarget(ArtifactRecord Artifact, string? Path);

/// <summary>Opaque ids shaped as W&B's (base64 of "Type:number"), and W&B-like random names.</summary>
internal static class StandInIds
{
    private static long _next;

    public static string Next(string type) =>
        Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{type}:{Interlocked.Increment(ref _next)}"));

    public static string RandomName()
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        return string.Create(8, 0, (span, _) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = alphabet[Random.Shared.Next(alphabet.Length)];
        });
    }
}

// ---- snapshots for tests ----

public sealed record StandInQueue(
    string Id, string Entity, string Project, string Name, string Access, string PrioritizationMode, string CreatedBy,
    string? Resource, string? DefaultResourceConfigId, string? Config, string? TemplateVariables, string? ExternalLinks);

public sealed record StandInItemInfo(string Message, string Stage, IReadOnlyList<string>? FilePaths, DateTimeOffset At);

public sealed record StandInItem(
    string Id, string Entity, string Queue, string State, int Priority, string RunSpec, string? AssociatedRunId,
    string? LaunchAgentId, DateTimeOffset CreatedAt, DateTimeOffset? LeasedAt, StandInItemInfo? Error,
    IReadOnlyList<StandInItemInfo> Warnings);

public sealed record StandInRun(
    string Id, string Entity, string Project, string Name, string State, bool Stopped, string? Config, string? SweepName,
    string? JobType, IReadOnlyList<string> Files);

public sealed record StandInAgent(
    string Id, string Name, string Entity, string Project, IReadOnlyList<string> QueueIds, string Hostname,
    string? AgentConfig, string? Version, string? Status, bool StopPolling, DateTimeOffset? HeartbeatAt, int StatusUpdates);

public sealed record StandInSweep(string Id, string Entity, string Project, string Name, string State);

/// <summary>A committed artifact version as the stand-in holds it.</summary>
public sealed record StandInArtifact(
    string Id, string Entity, string Project, string Name, string Type, int VersionIndex, string Digest, string State,
    IReadOnlyList<string> Aliases, IReadOnlyList<string> Files, string? Metadata);

/// <summary>One request to the file host (signed upload and download URLs): what a bucket would see.</summary>
public sealed record StandInFileRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, int Status);

/// <summary>One GraphQL request as the stand-in saw it. Variables are JSON with every known API key redacted.</summary>
public sealed record GraphQLCall(
    string? OperationName, IReadOnlyList<string> Fields, string Variables, int Status, string? Username, DateTimeOffset At);
