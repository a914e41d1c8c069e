using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace WandbLaunch.Tests.WandbServer;

/// <summary>
/// Artifacts: types, sequences (collections), versions with aliases, manifests and files, and the tokens of signed
/// upload and download URLs. What W&B's server does here is read from how the SDK and wandb-core use it
/// (core/pkg/artifacts/saver.go, sdk/launch/create_job.py, sdk/artifacts/artifact.py); where they do not show it, the
/// stand-in guesses, and says so (docs/build-and-test.md lists the guesses).
/// </summary>
internal sealed partial class StandInState
{
    private const int NameMaxLength = 128;

    private readonly List<ArtifactTypeRecord> _artifactTypes = [];
    private readonly List<SequenceRecord> _sequences = [];
    private readonly List<ArtifactRecord> _artifacts = [];
    private readonly Dictionary<string, UploadTarget> _artifactUploads = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DownloadTarget> _artifactDownloads = new(StringComparer.Ordinal);

    // ---- reads

    public ArtifactTypeRecord? FindArtifactType(ProjectRecord project, string name) =>
        Locked(() => _artifactTypes.FirstOrDefault(t => t.Entity == project.Entity && t.Project == project.Name && t.Name == name));

    public SequenceRecord? FindSequence(string entity, string project, string name) =>
        Locked(() => _sequences.FirstOrDefault(s => s.Entity == entity && s.Project == project && s.Name == name));

    public IReadOnlyList<SequenceRecord> SequencesOf(ArtifactTypeRecord type) =>
        Locked(() => _sequences.Where(s => s.Type == type).OrderByDescending(s => s.CreatedAt).ThenByDescending(s => s.Id, StringComparer.Ordinal).ToList());

    /// <summary>
    /// The committed version an alias or version (<c>v3</c>) names in a sequence, or null. A version alias names
    /// the version with that index; W&B keeps no other kind of alias starting with 'v' and a number.
    /// </summary>
    public ArtifactRecord? Resolve(SequenceRecord sequence, string alias) => Locked(() =>
    {
        if (alias.Length > 1 && alias[0] == 'v' && alias[1..].All(char.IsAsciiDigit) && int.TryParse(alias[1..], out var index))
            return sequence.Committed.FirstOrDefault(v => v.VersionIndex == index);
        return sequence.Aliases.TryGetValue(alias, out var known) && known.Artifact.State == "COMMITTED" ? known.Artifact : null;
    });

    /// <summary><c>project.artifactCollectionMembership(name: "coll:alias")</c>; no alias means latest.</summary>
    public (SequenceRecord Sequence, ArtifactRecord Artifact)? Membership(ProjectRecord project, string name) => Locked<(SequenceRecord, ArtifactRecord)?>(() =>
    {
        var colon = name.LastIndexOf(':');
        var (collection, alias) = colon < 0 ? (name, "latest") : (name[..colon], name[(colon + 1)..]);
        var sequence = _sequences.FirstOrDefault(s => s.Entity == project.Entity && s.Project == project.Name && s.Name == collection);
        return sequence is not null && Resolve(sequence, alias) is { } artifact ? (sequence, artifact) : null;
    });

    public ArtifactRecord? FindArtifact(Account caller, string id) => Locked(() =>
    {
        var artifact = _artifacts.FirstOrDefault(a => a.Id == id);
        if (artifact is null || artifact.State == "DELETED") return null;
        return Entity(caller, artifact.Sequence.Entity) is null ? null : artifact;
    });

    // ---- signed URLs

    public string IssueDownload(ArtifactRecord artifact, string? path) => Locked(() =>
    {
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        _artifactDownloads[token] = new DownloadTarget(artifact, path);
        return token;
    });

    /// <summary>The bytes a signed download URL gives now (a corrupted file gives its corrupted bytes), or null.</summary>
    public byte[]? Download(string token) => Locked(() =>
    {
        if (!_artifactDownloads.TryGetValue(token, out var target)) return null;
        return target.Path is null ? target.Artifact.Manifest?.Content : target.Artifact.Files.GetValueOrDefault(target.Path)?.Content;
    });

    /// <summary>
    /// A PUT to a signed upload URL, checked as GCS and S3 check one signed with Content-MD5: the header, when sent,
    /// must be the expected digest, and so must the body's MD5. Returns the HTTP status.
    /// </summary>
    public int StoreArtifactUpload(string token, byte[] body, string? contentMd5) => Locked(() =>
    {
        if (!_artifactUploads.TryGetValue(token, out var target)) return 403;
        if (contentMd5 is not null && contentMd5 != target.Md5) return 400;
        if (Convert.ToBase64String(MD5.HashData(body)) != target.Md5) return 400;
        if (target.Path is null)
        {
            target.Artifact.Manifest!.Content = body;
        }
        else
        {
            var file = target.Artifact.Files[target.Path];
            file.Content = body;
            file.UpdatedAt = Now;
        }
        _artifactUploads.Remove(token);
        return 200;
    });

    // ---- logging: createArtifact, createArtifactManifest, createArtifactFiles, commitArtifact

    /// <summary>
    /// createArtifact: a PENDING version, or with digest deduplication the COMMITTED version of the sequence with
    /// the same digest, which then gets the aliases given (stand-in guess: W&B's server applies them).
    /// </summary>
    public ArtifactRecord CreateArtifact(Account caller, JsonObject input) => Locked(() =>
    {
        var e = RequireEntity(caller, Text(input, "entityName"));
        var projectName = Text(input, "projectName")!;
        var typeName = Text(input, "artifactTypeName")!;
        var name = Text(input, "artifactCollectionName") ?? throw StandInError.Invalid("artifactCollectionName is required");
        CheckArtifactName(name, "artifact name");
        CheckArtifactName(typeName, "artifact type");
        var digest = Text(input, "digest")!;
        var aliases = AliasInputs(input["aliases"], name);
        if (Text(input, "runName") is { } runName && !_runs.Any(r => r.Entity == e.Name && r.Project == projectName && r.Name == runName))
            throw StandInError.NotFound($"run {e.Name}/{projectName}/{runName}");
        var project = Project(e.Name, projectName);
        var type = _artifactTypes.FirstOrDefault(t => t.Entity == e.Name && t.Project == project.Name && t.Name == typeName);
        if (type is null) _artifactTypes.Add(type = new ArtifactTypeRecord(e.Name, project.Name, typeName, Now));
        var sequence = _sequences.FirstOrDefault(s => s.Entity == e.Name && s.Project == project.Name && s.Name == name);
        if (sequence is null) _sequences.Add(sequence = new SequenceRecord(e.Name, project.Name, name, type, Now));
        else if (sequence.Type != type)
            throw StandInError.Invalid($"artifact collection {name} has type {sequence.Type.Name}, not {typeName}");
        if (input["enableDigestDeduplication"] is JsonValue dedup && dedup.GetValue<bool>() &&
            sequence.Committed.FirstOrDefault(v => v.Digest == digest) is { } existing)
        {
            foreach (var alias in aliases) sequence.SetAlias(alias, existing);
            sequence.UpdatedAt = Now;
            return existing;
        }
        var artifact = new ArtifactRecord(sequence, digest, Now) { Description = Text(input, "description"), Metadata = Text(input, "metadata") };
        artifact.PendingAliases.AddRange(aliases);
        sequence.Versions.Add(artifact);
        _artifacts.Add(artifact);
        return artifact;
    });

    /// <summary>createArtifactManifest: the version's one manifest, made on the first call and given its digest (and an upload URL) on a later one.</summary>
    public (ManifestRecord Manifest, string? UploadToken) CreateArtifactManifest(Account caller, JsonObject input) => Locked<(ManifestRecord, string?)>(() =>
    {
        var artifact = PendingArtifact(caller, Text(input, "artifactID")!);
        if (artifact.Sequence.Entity != Text(input, "entityName") || artifact.Sequence.Project != Text(input, "projectName"))
            throw StandInError.Invalid("the artifact is not in that entity and project");
        var runName = Text(input, "runName")!;
        if (!_runs.Any(r => r.Entity == artifact.Sequence.Entity && r.Project == artifact.Sequence.Project && r.Name == runName))
            throw StandInError.NotFound($"run {artifact.Sequence.Entity}/{artifact.Sequence.Project}/{runName}");
        if (Text(input, "type") is { } type && type != "FULL") throw StandInError.Invalid($"manifest type {type} is not supported by the stand-in");
        var manifest = artifact.Manifest ??= new ManifestRecord(artifact);
        manifest.Name = Text(input, "name")!;
        var digest = Text(input, "digest")!;
        if (digest.Length == 0) return (manifest, null);
        if (!IsMd5(digest)) throw StandInError.Invalid("digest must be the base64 MD5 of the manifest file");
        manifest.Digest = digest;
        return (manifest, Upload(new UploadTarget(artifact, null, digest)));
    });

    /// <summary>
    /// createArtifactFiles: per file, an upload URL with its headers, or none when a committed version of the same
    /// collection already stores a file with that MD5 (stand-in guess at W&B's deduplication), and the file's birth artifact.
    /// </summary>
    public IReadOnlyList<(ArtifactFileRecord File, string? UploadToken)> CreateArtifactFiles(Account caller, JsonArray specs, string storageLayout) => Locked(() =>
    {
        if (storageLayout != "V2") throw StandInError.Invalid($"storage layout {storageLayout} is not supported by the stand-in");
        var answers = new List<(ArtifactFileRecord, string?)>();
        foreach (var spec in specs.OfType<JsonObject>())
        {
            var artifact = PendingArtifact(caller, Text(spec, "artifactID")!);
            if (Text(spec, "artifactManifestID") is { } manifestId && artifact.Manifest?.Id != manifestId)
                throw StandInError.NotFound("artifact manifest");
            if (spec["uploadPartsInput"] is JsonArray) throw StandInError.Invalid("multipart uploads are not supported by the stand-in");
            var name = Text(spec, "name")!;
            var md5 = Text(spec, "md5")!;
            if (!IsMd5(md5)) throw StandInError.Invalid($"md5 of {name} must be a base64 MD5");
            var file = artifact.Files[name] = new ArtifactFileRecord(name, md5);
            var stored = artifact.Sequence.Committed.SelectMany(v => v.Files.Values).FirstOrDefault(f => f.Md5 == md5 && f.Content is not null);
            if (stored is not null)
            {
                file.Content = stored.Content;
                file.BirthArtifactId = stored.BirthArtifactId;
                file.UpdatedAt = Now;
                answers.Add((file, null));
            }
            else
            {
                file.BirthArtifactId = artifact.Id;
                answers.Add((file, Upload(new UploadTarget(artifact, name, md5))));
            }
        }
        return answers;
    });

    /// <summary>
    /// commitArtifact: the manifest must be uploaded, its digest must be the version's, and every file it lists must
    /// be stored (stand-in checks); the version gets the next index, its aliases and <c>latest</c> (which W&B moves
    /// to the newest version itself).
    /// </summary>
    public ArtifactRecord CommitArtifact(Account caller, string id) => Locked(() =>
    {
        var artifact = _artifacts.FirstOrDefault(a => a.Id == id) ?? throw StandInError.NotFound("artifact");
        RequireEntity(caller, artifact.Sequence.Entity);
        if (artifact.State == "COMMITTED") return artifact;
        if (artifact.Manifest?.Content is not { } content) throw StandInError.Invalid("the artifact's manifest has not been uploaded");
        var entries = ManifestEntries(content);
        if (ManifestDigest(entries) != artifact.Digest)
            throw StandInError.Invalid("the artifact's digest does not match its manifest");
        foreach (var (path, (digest, _)) in entries)
        {
            if (!artifact.Files.TryGetValue(path, out var file) || file.Md5 != digest || file.Content is null)
                throw StandInError.Invalid($"the file {path} of the artifact's manifest has not been uploaded");
        }
        artifact.Files.Keys.Except(entries.Keys).ToList().ForEach(p => artifact.Files.Remove(p));
        Commit(artifact, entries.Values.Sum(e => e.Size));
        return artifact;
    });

    private void Commit(ArtifactRecord artifact, long size)
    {
        var sequence = artifact.Sequence;
        artifact.VersionIndex = sequence.Committed.Select(v => v.VersionIndex ?? -1).DefaultIfEmpty(-1).Max() + 1;
        artifact.State = "COMMITTED";
        artifact.Size = size;
        artifact.UpdatedAt = Now;
        sequence.SetAlias("latest", artifact);
        foreach (var alias in artifact.PendingAliases) sequence.SetAlias(alias, artifact);
        artifact.PendingAliases.Clear();
        sequence.UpdatedAt = Now;
    }

    public bool DeleteRun(Account caller, string id) => Locked(() =>
    {
        var run = _runs.FirstOrDefault(r => r.Id == id) ?? throw StandInError.NotFound("run");
        RequireEntity(caller, run.Entity);
        _runs.Remove(run);
        return true;
    });

    // ---- for tests

    /// <summary>Logs a committed version directly (as another client would have), or gives an equal one the aliases.</summary>
    public ArtifactRecord SeedArtifact(string entity, string project, string name, string type, IReadOnlyDictionary<string, byte[]> files,
        IReadOnlyList<string> aliases, string? metadata, string? description) => Locked(() =>
    {
        if (!_entities.ContainsKey(entity)) throw new InvalidOperationException($"no entity {entity}");
        var p = Project(entity, project);
        var entries = files.ToDictionary(f => f.Key, f => (Convert.ToBase64String(MD5.HashData(f.Value)), (long)f.Value.Length), StringComparer.Ordinal);
        var digest = ManifestDigest(entries);
        var typeRecord = _artifactTypes.FirstOrDefault(t => t.Entity == entity && t.Project == p.Name && t.Name == type);
        if (typeRecord is null) _artifactTypes.Add(typeRecord = new ArtifactTypeRecord(entity, p.Name, type, Now));
        var sequence = _sequences.FirstOrDefault(s => s.Entity == entity && s.Project == p.Name && s.Name == name);
        if (sequence is null) _sequences.Add(sequence = new SequenceRecord(entity, p.Name, name, typeRecord, Now));
        if (sequence.Committed.FirstOrDefault(v => v.Digest == digest) is { } existing)
        {
            foreach (var alias in aliases) sequence.SetAlias(alias, existing);
            return existing;
        }
        var artifact = new ArtifactRecord(sequence, digest, Now) { Metadata = metadata, Description = description };
        foreach (var (path, content) in files)
        {
            artifact.Files[path] = new ArtifactFileRecord(path, entries[path].Item1) { Content = content, BirthArtifactId = artifact.Id, UpdatedAt = Now };
        }
        var manifest = new JsonObject
        {
            ["version"] = 1, ["storagePolicy"] = "wandb-storage-policy-v1",
            ["storagePolicyConfig"] = new JsonObject { ["storageLayout"] = "V2" },
            ["contents"] = new JsonObject(entries.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => KeyValuePair.Create(e.Key,
                (JsonNode?)new JsonObject { ["digest"] = e.Value.Item1, ["size"] = e.Value.Item2, ["birthArtifactID"] = artifact.Id }))),
        };
        var bytes = Encoding.UTF8.GetBytes(manifest.ToJsonString());
        artifact.Manifest = new ManifestRecord(artifact) { Content = bytes, Digest = Convert.ToBase64String(MD5.HashData(bytes)) };
        artifact.PendingAliases.AddRange(aliases);
        sequence.Versions.Add(artifact);
        _artifacts.Add(artifact);
        Commit(artifact, entries.Values.Sum(e => e.Item2));
        return artifact;
    });

    /// <summary>Replaces the stored bytes of one file of a version, keeping its manifest: what a damaged bucket object looks like.</summary>
    public void CorruptArtifactFile(string entity, string project, string name, string alias, string path, byte[] content) => Locked(() =>
    {
        var sequence = _sequences.FirstOrDefault(s => s.Entity == entity && s.Project == project && s.Name == name)
                       ?? throw new InvalidOperationException($"no artifact {entity}/{project}/{name}");
        var artifact = Resolve(sequence, alias) ?? throw new InvalidOperationException($"no version {alias} of {name}");
        (artifact.Files.GetValueOrDefault(path) ?? throw new InvalidOperationException($"no file {path} in {name}:{alias}")).Content = content;
        return 0;
    });

    public StandInArtifact? ArtifactSnapshot(string entity, string project, string name, string alias) => Locked(() =>
    {
        var sequence = _sequences.FirstOrDefault(s => s.Entity == entity && s.Project == project && s.Name == name);
        return sequence is not null && Resolve(sequence, alias) is { } artifact ? Snapshot(artifact) : null;
    });

    public IReadOnlyList<StandInArtifact> ArtifactSnapshots(string entity, string project, string name) => Locked(() =>
        (IReadOnlyList<StandInArtifact>)(_sequences.FirstOrDefault(s => s.Entity == entity && s.Project == project && s.Name == name)?.Committed
            .OrderBy(v => v.VersionIndex).Select(Snapshot).ToList() ?? []));

    public bool RunExists(string entity, string project, string name) => Locked(() => _runs.Any(r => r.Entity == entity && r.Project == project && r.Name == name));

    private static StandInArtifact Snapshot(ArtifactRecord a) => new(
        a.Id, a.Sequence.Entity, a.Sequence.Project, a.Sequence.Name, a.Sequence.Type.Name, a.VersionIndex ?? -1, a.Digest, a.State,
        a.Sequence.AliasesOf(a).Select(x => x.Alias).ToList(), a.Files.Keys.Order(StringComparer.Ordinal).ToList(), a.Metadata);

    // ---- helpers

    private ArtifactRecord PendingArtifact(Account caller, string id)
    {
        var artifact = _artifacts.FirstOrDefault(a => a.Id == id) ?? throw StandInError.NotFound("artifact");
        RequireEntity(caller, artifact.Sequence.Entity);
        if (artifact.State != "PENDING") throw StandInError.Invalid($"artifact {id} is {artifact.State}, not PENDING");
        return artifact;
    }

    private string Upload(UploadTarget target)
    {
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        _artifactUploads[token] = target;
        return token;
    }

    /// <summary>
    /// The aliases of createArtifact's input for this collection. ArtifactAliasInput.alias is at most 128 characters
    /// (input_types.py); '/' and ':' are refused as the SDK's validate_aliases refuses them.
    /// </summary>
    private static List<string> AliasInputs(JsonNode? node, string collection)
    {
        var aliases = new List<string>();
        foreach (var entry in node as JsonArray ?? [])
        {
            if (entry is not JsonObject alias || Text(alias, "alias") is not { } value) continue;
            if (value.Length is 0 or > NameMaxLength) throw StandInError.Invalid($"alias must be 1 to {NameMaxLength} characters");
            if (value.Contains('/') || value.Contains(':')) throw StandInError.Invalid("Aliases must not contain any of the following characters: '/', ':'");
            if (Text(alias, "artifactCollectionName") == collection && !aliases.Contains(value)) aliases.Add(value);
        }
        return aliases;
    }

    /// <summary>The SDK's validate_artifact_name: at most 128 characters, none of '/', ':'.</summary>
    private static void CheckArtifactName(string name, string what)
    {
        if (name.Length is 0 or > NameMaxLength) throw StandInError.Invalid($"{what} must be 1 to {NameMaxLength} characters");
        if (name.Contains('/') || name.Contains(':')) throw StandInError.Invalid($"{what} {name} must not contain any of the following characters: '/', ':'");
    }

    private static bool IsMd5(string value)
    {
        Span<byte> bytes = stackalloc byte[18];
        return value.Length == 24 && Convert.TryFromBase64String(value, bytes, out var written) && written == 16;
    }

    private static Dictionary<string, (string Digest, long Size)> ManifestEntries(byte[] content)
    {
        try
        {
            var manifest = JsonNode.Parse(content) as JsonObject ?? throw StandInError.Invalid("the manifest is not a JSON object");
            if (manifest["version"]?.GetValue<int>() != 1) throw StandInError.Invalid("the manifest's version must be 1");
            var contents = manifest["contents"] as JsonObject ?? throw StandInError.Invalid("the manifest has no contents");
            return contents.ToDictionary(c => c.Key, c => (c.Value?["digest"]?.GetValue<string>() ?? "", c.Value?["size"]?.GetValue<long>() ?? 0), StringComparer.Ordinal);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw StandInError.Invalid("the manifest is not valid JSON");
        }
    }

    /// <summary>W&B's artifact digest: md5 of "wandb-artifact-manifest-v1\n" and "path:digest\n" per entry by path, hex.</summary>
    private static string ManifestDigest(IReadOnlyDictionary<string, (string Digest, long Size)> entries)
    {
        var text = new StringBuilder("wandb-artifact-manifest-v1\n");
        foreach (var (path, (digest, _)) in entries.OrderBy(e => e.Key, StringComparer.Ordinal)) text.Append(path).Append(':').Append(digest).Append('\n');
        return Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }
}
