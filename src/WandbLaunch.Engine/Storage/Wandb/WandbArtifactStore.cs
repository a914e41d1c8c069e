using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Storage.Wandb;

/// <summary>
/// Artifacts on a W&amp;B server, through the operations the SDK sends (<see cref="WandbArtifactOperations"/>).
/// Reads: a version by <c>name:alias</c> (ArtifactMembershipByName) or id (ArtifactByID), its manifest and files from
/// the signed URLs the server gives (FetchArtifactManifest, GetArtifactMembershipFileUrls), fetched without the API
/// key: they may lead to a bucket on another host. Writes follow wandb-core's ArtifactSaver: a hidden run (as
/// <c>wandb job create</c> logs through one, and deletes it after), createArtifact (which answers with the existing
/// COMMITTED version when one has the same digest), createArtifactManifest, createArtifactFiles and an upload per
/// file the server lacks, the manifest's upload, commitArtifact.
/// </summary>
public sealed class WandbArtifactStore : IArtifactStore
{
    private const string Source = "wandb";
    private const string ManifestFileName = "wandb_manifest.json";
    private const string HiddenRunJobType = "cli_create_job";
    private const int FilesPerPage = 5000;
    private const int ListPerPage = 100;
    private const int FilesPerUploadBatch = 100;

    /// <summary>Signed URLs expire (W&amp;B's after an hour or more); a version's file URLs are asked again after this.</summary>
    private static readonly TimeSpan FileUrlLifetime = TimeSpan.FromMinutes(5);

    private readonly WandbGraphQLClient _client;
    private readonly string _location;
    private readonly WandbRetryPolicy _retry;
    private readonly object _urlsLock = new();
    private readonly Dictionary<string, (DateTimeOffset At, IReadOnlyDictionary<string, Uri> Urls)> _fileUrls = new(StringComparer.Ordinal);

    internal WandbArtifactStore(WandbGraphQLClient client, string location, WandbRetryPolicy retry)
    {
        _client = client;
        _location = location;
        _retry = retry;
    }

    // ---- reads

    public async Task<ArtifactVersion> GetAsync(ArtifactPath path, CancellationToken cancellationToken)
    {
        var membership = await MembershipAsync(path, cancellationToken).ConfigureAwait(false);
        if (membership?["artifact"] is JsonObject artifact && Str(artifact, "state") is "COMMITTED")
        {
            return ToVersion(artifact, membership, "ArtifactMembershipByName");
        }
        throw await MissingAsync(path, cancellationToken).ConfigureAwait(false);
    }

    public async Task<ArtifactVersion?> GetByIdAsync(string id, CancellationToken cancellationToken)
    {
        JsonObject data;
        try
        {
            data = await ExecuteAsync("ArtifactByID", WandbArtifactOperations.ArtifactById, new JsonObject { ["id"] = id }, cancellationToken).ConfigureAwait(false);
        }
        catch (WandbServerException e) when (e.Status == 404)
        {
            return null;
        }
        return data["artifact"] is JsonObject artifact ? ToVersion(artifact, null, "ArtifactByID") : null;
    }

    public async Task<ArtifactManifest> GetManifestAsync(ArtifactVersion version, CancellationToken cancellationToken)
    {
        var data = await ExecuteAsync("FetchArtifactManifest", WandbArtifactOperations.FetchArtifactManifest, new JsonObject { ["id"] = version.Id }, cancellationToken).ConfigureAwait(false);
        if (data["artifact"]?["currentManifest"]?["file"] is not JsonObject file || Str(file, "directUrl") is not { } directUrl)
        {
            throw LaunchException.NotFound("ArtifactNotFound", $"The W&B server at {_location} gives no manifest for {version} (id {Printable.Quote(version.Id)}).", version.ToString());
        }
        var url = SignedUrl(directUrl, "FetchArtifactManifest");
        await using var body = await _client.DownloadAsync(url, WandbGraphQLClient.MaxResponseBytes, $"the manifest of {version}", cancellationToken).ConfigureAwait(false);
        using var reader = new StreamReader(body, Encoding.UTF8);
        var json = await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        return ArtifactManifestJson.Parse(json, version.ToString());
    }

    public async Task<Stream> OpenFileAsync(ArtifactVersion version, ArtifactManifestEntry entry, CancellationToken cancellationToken)
    {
        var urls = await FileUrlsAsync(version, cancellationToken).ConfigureAwait(false);
        if (!urls.TryGetValue(entry.Path, out var url))
        {
            throw LaunchException.NotFound("ArtifactFileNotFound",
                $"The W&B server at {_location} gives no download URL for the file {Printable.Quote(entry.Path)} of {version}, which its manifest lists.", version.ToString());
        }
        return await _client.DownloadAsync(url, entry.Size, $"the file {Printable.Quote(entry.Path)} of {version}", cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<ArtifactVersion>> ListAsync(string entity, string project, string type, string? name, CancellationToken cancellationToken)
    {
        var names = name is not null ? [name] : await CollectionNamesAsync(entity, project, type, cancellationToken).ConfigureAwait(false);
        var versions = new List<ArtifactVersion>();
        foreach (var collection in names)
        {
            versions.AddRange(await CollectionVersionsAsync(entity, project, type, collection, cancellationToken).ConfigureAwait(false));
        }
        // Newest first by creation time; but a version gets its index when committed, not when created, so within a
        // collection its versions take that collection's places in index order.
        var byTime = versions.OrderByDescending(v => v.CreatedAt).ThenBy(v => v.Name, StringComparer.Ordinal).ThenByDescending(v => v.VersionIndex).ToList();
        var inIndexOrder = byTime.GroupBy(v => v.Name, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => new Queue<ArtifactVersion>(g.OrderByDescending(v => v.VersionIndex)), StringComparer.Ordinal);
        return byTime.Select(v => inIndexOrder[v.Name].Dequeue()).ToList();
    }

    private async Task<JsonObject?> MembershipAsync(ArtifactPath path, CancellationToken cancellationToken)
    {
        JsonObject data;
        try
        {
            data = await ExecuteAsync("ArtifactMembershipByName", WandbArtifactOperations.ArtifactMembershipByName,
                new JsonObject { ["entity"] = path.Entity, ["project"] = path.Project, ["name"] = $"{path.Name}:{path.Alias}" }, cancellationToken).ConfigureAwait(false);
        }
        catch (WandbServerException e) when (e.Status == 404)
        {
            throw LaunchException.NotFound("ArtifactNotFound", $"There is no artifact {path} on the W&B server at {_location}: {e.Message}", path.ToString());
        }
        if (data["project"] is not JsonObject project)
        {
            throw LaunchException.NotFound("ArtifactNotFound",
                $"There is no artifact {path} on the W&B server at {_location}: project {Printable.Quote(path.Project)} not found under entity {Printable.Quote(path.Entity)}.", path.ToString());
        }
        return project["artifactCollectionMembership"] as JsonObject;
    }

    /// <summary>
    /// Why <paramref name="path"/> names no version: no collection (its <c>latest</c> is missing too, as every
    /// collection with a version has one), or no such alias, with the aliases and versions the collection has.
    /// </summary>
    private async Task<LaunchException> MissingAsync(ArtifactPath path, CancellationToken cancellationToken)
    {
        var latest = path.Alias == ArtifactPath.Latest ? null : await MembershipAsync(path with { Alias = ArtifactPath.Latest }, cancellationToken).ConfigureAwait(false);
        if (latest?["artifact"]?["artifactType"] is not JsonObject type || Str(type, "name") is not { } typeName)
        {
            return LaunchException.NotFound("ArtifactNotFound",
                $"There is no artifact {path} on the W&B server at {_location}: artifact membership {Printable.Quote($"{path.Name}:{path.Alias}")} not found in {Printable.Quote($"{path.Entity}/{path.Project}")}.", path.ToString());
        }
        var versions = await CollectionVersionsAsync(path.Entity, path.Project, typeName, path.Name, cancellationToken).ConfigureAwait(false);
        var has = versions.SelectMany(v => v.Aliases).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)
            .Concat(versions.OrderBy(v => v.VersionIndex).Select(v => v.Version)).ToList();
        return LaunchException.NotFound("ArtifactAliasNotFound",
            $"The artifact {path.Collection} on the W&B server at {_location} has no alias or version {Printable.Quote(path.Alias)}; it has {string.Join(", ", has.Select(Printable.Quote))}.", path.ToString());
    }

    private async Task<IReadOnlyList<string>> CollectionNamesAsync(string entity, string project, string type, CancellationToken cancellationToken)
    {
        var names = new List<string>();
        string? cursor = null;
        for (var page = 0; page < 10_000; page++)
        {
            var data = await ExecuteAsync("ArtifactTypeArtifactCollections", WandbArtifactOperations.ArtifactTypeArtifactCollections, new JsonObject
            {
                ["entity"] = entity, ["project"] = project, ["type"] = type, ["cursor"] = cursor, ["perPage"] = ListPerPage,
            }, cancellationToken).ConfigureAwait(false);
            if (data["project"]?["artifactType"]?["artifactCollections"] is not JsonObject connection) break;
            foreach (var node in Nodes(connection))
            {
                if (Str(node, "name") is { } name && node["project"] is JsonObject) names.Add(name);
            }
            if (!NextPage(connection, ref cursor)) break;
        }
        return names.Distinct(StringComparer.Ordinal).ToList();
    }

    private async Task<IReadOnlyList<ArtifactVersion>> CollectionVersionsAsync(string entity, string project, string type, string collection, CancellationToken cancellationToken)
    {
        var versions = new List<ArtifactVersion>();
        string? cursor = null;
        for (var page = 0; page < 10_000; page++)
        {
            var data = await ExecuteAsync("ProjectArtifacts", WandbArtifactOperations.ProjectArtifacts, new JsonObject
            {
                ["entity"] = entity, ["project"] = project, ["type"] = type, ["collection"] = collection, ["cursor"] = cursor,
                ["perPage"] = ListPerPage, ["filters"] = """{"state": "COMMITTED"}""",
            }, cancellationToken).ConfigureAwait(false);
            if (data["project"]?["artifactType"]?["artifactCollection"]?["artifacts"] is not JsonObject connection) break;
            foreach (var edge in connection["edges"] as JsonArray ?? [])
            {
                if (edge?["node"] is not JsonObject node) continue;
                var version = ToVersion(node, null, "ProjectArtifacts", collection);
                if (Str(edge.AsObject(), "version") is { } alias && VersionIndexOf(alias) is { } index)
                {
                    version = version with { VersionIndex = index };
                }
                versions.Add(version);
            }
            if (!NextPage(connection, ref cursor)) break;
        }
        return versions;
    }

    private async Task<IReadOnlyDictionary<string, Uri>> FileUrlsAsync(ArtifactVersion version, CancellationToken cancellationToken)
    {
        lock (_urlsLock)
        {
            if (_fileUrls.TryGetValue(version.Id, out var cached) && DateTimeOffset.UtcNow - cached.At < FileUrlLifetime) return cached.Urls;
        }
        var urls = new Dictionary<string, Uri>(StringComparer.Ordinal);
        string? cursor = null;
        for (var page = 0; page < ArtifactManifestJson.MaxEntries / FilesPerPage + 2; page++)
        {
            var data = await ExecuteAsync("GetArtifactMembershipFileUrls", WandbArtifactOperations.GetArtifactMembershipFileUrls, new JsonObject
            {
                ["entity"] = version.Entity, ["project"] = version.Project, ["collection"] = version.Name, ["alias"] = version.Version,
                ["cursor"] = cursor, ["perPage"] = FilesPerPage,
            }, cancellationToken).ConfigureAwait(false);
            if (data["project"]?["artifactCollection"]?["artifactMembership"]?["files"] is not JsonObject files)
            {
                throw LaunchException.NotFound("ArtifactNotFound", $"The W&B server at {_location} gives no files for {version}: unable to fetch files for artifact {Printable.Quote($"{version.Name}:{version.Version}")}.", version.ToString());
            }
            foreach (var node in Nodes(files))
            {
                if (Str(node, "name") is { } name && Str(node, "directUrl") is { } url) urls[name] = SignedUrl(url, "GetArtifactMembershipFileUrls");
            }
            if (!NextPage(files, ref cursor)) break;
        }
        lock (_urlsLock)
        {
            if (_fileUrls.Count >= 256) _fileUrls.Clear();
            _fileUrls[version.Id] = (DateTimeOffset.UtcNow, urls);
        }
        return urls;
    }

    // ---- writes

    public async Task<ArtifactCommit> CommitAsync(NewArtifact artifact, CancellationToken cancellationToken)
    {
        var label = $"{artifact.Entity}/{artifact.Project}/{artifact.Name}";
        foreach (var alias in artifact.Aliases)
        {
            if (alias.Length is 0 or > 128 || alias.Contains('/') || alias.Contains(':'))
            {
                throw LaunchException.Invalid("InvalidArtifactAlias",
                    $"The alias {Printable.Quote(alias)} of {label} is not allowed: an alias has 1 to 128 characters, without '/' or ':'.", alias);
            }
        }
        var files = await DescribeFilesAsync(artifact, label, cancellationToken).ConfigureAwait(false);
        var manifest = new ArtifactManifest(files.Select(f => f.Entry).ToList());
        var digest = ArtifactDigest.OfManifest(manifest);

        await CheckTypeAsync(artifact, cancellationToken).ConfigureAwait(false);
        var run = await CreateHiddenRunAsync(artifact, cancellationToken).ConfigureAwait(false);
        try
        {
            var created = await CreateArtifactAsync(artifact, run.Name, digest, cancellationToken).ConfigureAwait(false);
            if (created.State == "COMMITTED")
            {
                EngineLog.Verbose(Source, () => $"{label}: the server has a version with digest {digest}; no new version");
                return new ArtifactCommit(await RequireByIdAsync(created.Id, label, cancellationToken).ConfigureAwait(false), ArtifactCommitKind.Unchanged);
            }
            if (created.State is not ("PENDING" or "DELETED"))
            {
                throw new WandbServerException("CreateArtifact", 200, $"The W&B server at {_location} answered createArtifact for {label} with the unexpected state {Printable.Quote(created.State)}.");
            }
            var manifestId = await CreateManifestAsync(artifact, run.Name, created, "", includeUpload: false, cancellationToken).ConfigureAwait(false);
            var births = await UploadFilesAsync(created.Id, manifestId.Id, files, label, cancellationToken).ConfigureAwait(false);
            var manifestBytes = Encoding.UTF8.GetBytes(ManifestJson(manifest, births));
            var upload = await CreateManifestAsync(artifact, run.Name, created, ArtifactDigest.OfBytes(manifestBytes), includeUpload: true, cancellationToken).ConfigureAwait(false);
            if (upload.UploadUrl is not { } manifestUrl)
            {
                throw new WandbServerException("CreateArtifactManifest", 200, $"The W&B server at {_location} gave no upload URL for the manifest of {label}.");
            }
            await _client.UploadAsync(manifestUrl, new ByteArrayContent(manifestBytes), upload.UploadHeaders, $"the manifest of {label}", cancellationToken).ConfigureAwait(false);
            await ExecuteAsync("CommitArtifact", WandbArtifactOperations.CommitArtifact, new JsonObject { ["artifactID"] = created.Id }, cancellationToken).ConfigureAwait(false);
            lock (_urlsLock) _fileUrls.Remove(created.Id);
            var version = await RequireByIdAsync(created.Id, label, cancellationToken).ConfigureAwait(false);
            EngineLog.Verbose(Source, () => $"logged {version} ({files.Count} file(s), digest {digest})");
            // The version's index, not whether the sequence had a latest version when this began: another session may have logged meanwhile.
            return new ArtifactCommit(version, version.VersionIndex == 0 ? ArtifactCommitKind.Created : ArtifactCommitKind.Updated);
        }
        finally
        {
            await DeleteHiddenRunAsync(run).ConfigureAwait(false);
        }
    }

    private sealed record LocalFile(ArtifactManifestEntry Entry, string HostPath);

    private sealed record CreatedArtifact(string Id, string State, string? LatestId);

    private sealed record ManifestUpload(string Id, Uri? UploadUrl, IReadOnlyList<string> UploadHeaders);

    private sealed record HiddenRun(string Id, string Name);

    private static async Task<IReadOnlyList<LocalFile>> DescribeFilesAsync(NewArtifact artifact, string label, CancellationToken cancellationToken)
    {
        var files = new List<LocalFile>(artifact.Files.Count);
        foreach (var (path, hostPath) in artifact.Files.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            ArtifactManifestJson.CheckPath(path, label);
            var info = new FileInfo(hostPath);
            if (!info.Exists)
            {
                throw LaunchException.NotFound("ArtifactFileNotFound", $"The file {Printable.Quote(hostPath)} to log as {Printable.Quote(path)} of {label} does not exist.", hostPath);
            }
            var digest = await ArtifactDigest.OfFileAsync(hostPath, cancellationToken).ConfigureAwait(false);
            files.Add(new LocalFile(new ArtifactManifestEntry(path, digest, info.Length), hostPath));
        }
        return files;
    }

    private async Task<HiddenRun> CreateHiddenRunAsync(NewArtifact artifact, CancellationToken cancellationToken)
    {
        var data = await ExecuteAsync("UpsertBucket", WandbOperations.UpsertAgentRun, new JsonObject
        {
            ["name"] = RandomId(8), ["project"] = artifact.Project, ["entity"] = artifact.Entity, ["jobType"] = HiddenRunJobType,
        }, cancellationToken).ConfigureAwait(false);
        if (data["upsertBucket"]?["bucket"] is not JsonObject bucket || Str(bucket, "id") is not { } id || Str(bucket, "name") is not { } name)
        {
            throw new WandbServerException("UpsertBucket", 200, $"The W&B server at {_location} did not create the run to log {artifact.Entity}/{artifact.Project}/{artifact.Name} through.");
        }
        return new HiddenRun(id, name);
    }

    private async Task DeleteHiddenRunAsync(HiddenRun run)
    {
        try
        {
            await ExecuteAsync("DeleteRun", WandbArtifactOperations.DeleteRun, new JsonObject { ["id"] = run.Id, ["deleteArtifacts"] = false }, CancellationToken.None).ConfigureAwait(false);
        }
        catch (LaunchException e)
        {
            EngineLog.Verbose(Source, () => $"could not delete the hidden run {Printable.Quote(run.Name)} an artifact was logged through: {e.Message}");
        }
    }

    /// <summary>The SDK's check before logging (<c>wandb_run._assert_can_log_artifact</c>): a collection keeps its type, refused in W&amp;B's words.</summary>
    private async Task CheckTypeAsync(NewArtifact artifact, CancellationToken cancellationToken)
    {
        var data = await ExecuteAsync("ArtifactType", WandbArtifactOperations.ArtifactType,
            new JsonObject { ["entity"] = artifact.Entity, ["project"] = artifact.Project, ["name"] = $"{artifact.Name}:{ArtifactPath.Latest}" }, cancellationToken).ConfigureAwait(false);
        if (Str(data["project"]?["artifact"]?["artifactType"] as JsonObject, "name") is { } expected && expected != artifact.Type)
        {
            throw new LaunchException("ArtifactTypeConflict", LaunchErrorCategory.InvalidOperation,
                $"Artifact {artifact.Name} already exists with type '{expected}'; cannot create another with type '{artifact.Type}'", $"{artifact.Entity}/{artifact.Project}/{artifact.Name}");
        }
    }

    private async Task<CreatedArtifact> CreateArtifactAsync(NewArtifact artifact, string runName, string digest, CancellationToken cancellationToken)
    {
        var aliases = new JsonArray();
        foreach (var alias in artifact.Aliases.Prepend(ArtifactPath.Latest).Distinct(StringComparer.Ordinal))
        {
            aliases.Add(new JsonObject { ["artifactCollectionName"] = artifact.Name, ["alias"] = alias });
        }
        var input = new JsonObject
        {
            ["entityName"] = artifact.Entity,
            ["projectName"] = artifact.Project,
            ["artifactTypeName"] = artifact.Type,
            ["artifactCollectionName"] = artifact.Name,
            ["runName"] = runName,
            ["digest"] = digest,
            ["digestAlgorithm"] = "MANIFEST_MD5",
            ["description"] = artifact.Description,
            ["aliases"] = aliases,
            ["metadata"] = artifact.Metadata?.ToJsonString(),
            ["enableDigestDeduplication"] = true,
            ["clientID"] = RandomId(128),
            ["sequenceClientID"] = RandomId(128),
        };
        var data = await ExecuteAsync("CreateArtifact", WandbArtifactOperations.CreateArtifact, new JsonObject { ["input"] = input }, cancellationToken).ConfigureAwait(false);
        if (data["createArtifact"]?["artifact"] is not JsonObject created || Str(created, "id") is not { } id || Str(created, "state") is not { } state)
        {
            throw new WandbServerException("CreateArtifact", 200, $"The W&B server's answer to createArtifact for {artifact.Entity}/{artifact.Project}/{artifact.Name} has no artifact.");
        }
        return new CreatedArtifact(id, state, Str(created["artifactSequence"]?["latestArtifact"] as JsonObject, "id"));
    }

    private async Task<ManifestUpload> CreateManifestAsync(NewArtifact artifact, string runName, CreatedArtifact created, string digest, bool includeUpload, CancellationToken cancellationToken)
    {
        var data = await ExecuteAsync("CreateArtifactManifest", WandbArtifactOperations.CreateArtifactManifest, new JsonObject
        {
            ["artifactID"] = created.Id,
            ["baseArtifactID"] = created.LatestId,
            ["name"] = ManifestFileName,
            ["digest"] = digest,
            ["entityName"] = artifact.Entity,
            ["projectName"] = artifact.Project,
            ["runName"] = runName,
            ["manifestType"] = "FULL",
            ["includeUpload"] = includeUpload,
        }, cancellationToken).ConfigureAwait(false);
        if (data["createArtifactManifest"]?["artifactManifest"] is not JsonObject manifest || Str(manifest, "id") is not { } id)
        {
            throw new WandbServerException("CreateArtifactManifest", 200, $"The W&B server's answer to createArtifactManifest for {artifact.Entity}/{artifact.Project}/{artifact.Name} has no manifest.");
        }
        var file = manifest["file"] as JsonObject;
        var url = Str(file, "uploadUrl") is { } u ? SignedUrl(u, "CreateArtifactManifest") : null;
        return new ManifestUpload(id, url, Strings(file?["uploadHeaders"]));
    }

    /// <summary>Asks for upload URLs a batch at a time and uploads the files the server lacks; returns each file's birth artifact id.</summary>
    private async Task<IReadOnlyDictionary<string, string>> UploadFilesAsync(string artifactId, string manifestId, IReadOnlyList<LocalFile> files, string label, CancellationToken cancellationToken)
    {
        var births = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var batch in files.Chunk(FilesPerUploadBatch))
        {
            var specs = new JsonArray();
            foreach (var file in batch)
            {
                specs.Add(new JsonObject
                {
                    ["artifactID"] = artifactId, ["name"] = file.Entry.Path, ["md5"] = file.Entry.Digest, ["artifactManifestID"] = manifestId,
                });
            }
            var data = await ExecuteAsync("CreateArtifactFiles", WandbArtifactOperations.CreateArtifactFiles,
                new JsonObject { ["artifactFiles"] = specs, ["storageLayout"] = "V2" }, cancellationToken).ConfigureAwait(false);
            var edges = data["createArtifactFiles"]?["files"]?["edges"] as JsonArray;
            if (edges is null || edges.Count != batch.Length)
            {
                throw new WandbServerException("CreateArtifactFiles", 200, $"The W&B server at {_location} gave {edges?.Count ?? 0} upload URL(s) for {batch.Length} file(s) of {label}.");
            }
            for (var i = 0; i < batch.Length; i++)
            {
                var node = edges[i]?["node"] as JsonObject;
                var file = batch[i];
                if (Str(node?["artifact"] as JsonObject, "id") is { } birth) births[file.Entry.Path] = birth;
                if (Str(node, "uploadUrl") is not { } url) continue;
                var content = new StreamContent(new FileStream(file.HostPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true));
                await _client.UploadAsync(SignedUrl(url, "CreateArtifactFiles"), content, Strings(node!["uploadHeaders"]),
                    $"the file {Printable.Quote(file.Entry.Path)} of {label}", cancellationToken).ConfigureAwait(false);
            }
        }
        return births;
    }

    /// <summary>The manifest as wandb-core writes it after the uploads: each entry with the artifact its file was first stored for.</summary>
    private static string ManifestJson(ArtifactManifest manifest, IReadOnlyDictionary<string, string> births)
    {
        var json = JsonNode.Parse(ArtifactManifestJson.ToJson(manifest))!.AsObject();
        foreach (var (path, entry) in json["contents"]!.AsObject())
        {
            if (births.TryGetValue(path, out var birth)) entry!["birthArtifactID"] = birth;
        }
        return json.ToJsonString();
    }

    private async Task<ArtifactVersion> RequireByIdAsync(string id, string label, CancellationToken cancellationToken) =>
        await GetByIdAsync(id, cancellationToken).ConfigureAwait(false)
        ?? throw new WandbServerException("ArtifactByID", 200, $"The W&B server at {_location} does not find the version of {label} it just logged (id {Printable.Quote(id)}).");

    // ---- answers

    private Task<JsonObject> ExecuteAsync(string operation, string query, JsonObject variables, CancellationToken cancellationToken)
    {
        EngineLog.Verbose(Source, () => $"{operation} on {_location}");
        return _client.ExecuteAsync(operation, query, variables, _retry, cancellationToken);
    }

    /// <summary>
    /// A version from an ArtifactFragment: its collection and version index from the membership when there is one
    /// (the collection asked for), else from the artifact's sequence (or <paramref name="collection"/>).
    /// </summary>
    private ArtifactVersion ToVersion(JsonObject artifact, JsonObject? membership, string operation, string? collection = null)
    {
        var sequence = artifact["artifactSequence"] as JsonObject;
        var owner = membership?["artifactCollection"] as JsonObject ?? sequence;
        var name = collection ?? Str(owner, "name");
        var project = owner?["project"] as JsonObject ?? sequence?["project"] as JsonObject;
        var id = Str(artifact, "id");
        var index = Int(membership?["versionIndex"]) ?? Int(artifact["versionIndex"]);
        var type = Str(artifact["artifactType"] as JsonObject, "name");
        var digest = Str(artifact, "digest");
        if (id is null || name is null || project is null || Str(project, "name") is not { } projectName ||
            Str(project["entity"] as JsonObject, "name") is not { } entityName || index is not >= 0 || type is null || digest is null)
        {
            throw new WandbServerException(operation, 200, $"The W&B server's answer to {operation} lacks the id, collection, project, version, type or digest of an artifact.");
        }
        var aliasNodes = membership is not null
            ? membership["aliases"] as JsonArray
            : new JsonArray((artifact["aliases"] as JsonArray ?? []).Where(a =>
                a?["artifactCollection"] is not JsonObject c || (Str(c, "name") == name && Str(c["project"] as JsonObject, "name") == projectName))
                .Select(a => a?.DeepClone()).ToArray());
        var aliases = (aliasNodes ?? []).Select(a => Str(a as JsonObject, "alias")).OfType<string>()
            .Where(a => VersionIndexOf(a) is null).Distinct(StringComparer.Ordinal).ToList();
        return new ArtifactVersion
        {
            Id = id,
            Entity = entityName,
            Project = projectName,
            Name = name,
            Type = type,
            VersionIndex = index.Value,
            Aliases = aliases,
            Digest = digest,
            State = Str(artifact, "state") ?? "COMMITTED",
            Size = artifact["size"] is JsonValue size && size.TryGetValue<long>(out var bytes) ? bytes : 0,
            Description = Str(artifact, "description"),
            Metadata = Metadata(artifact["metadata"]),
            CreatedAt = Str(artifact, "createdAt") is { } created && DateTimeOffset.TryParse(created, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at) ? at : default,
        };
    }

    private static JsonObject? Metadata(JsonNode? value)
    {
        if (value is JsonObject direct) return (JsonObject)direct.DeepClone();
        if (value is not JsonValue v || !v.TryGetValue<string>(out var text)) return null;
        try
        {
            return JsonTree.ParseJson(text) as JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>A URL the server gave for a file: absolute http(s) only (it is fetched, so nothing else may be).</summary>
    private Uri SignedUrl(string url, string operation) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "https" or "http"
            ? uri
            : throw new WandbServerException(operation, 200, $"The W&B server at {_location} gave a file URL that is not an http(s) URL: {Printable.Quote(url.Length > 200 ? url[..200] + "…" : url)}.");

    private static IEnumerable<JsonObject> Nodes(JsonObject connection) =>
        (connection["edges"] as JsonArray ?? []).Select(e => e?["node"]).OfType<JsonObject>();

    private static bool NextPage(JsonObject connection, ref string? cursor)
    {
        var info = connection["pageInfo"] as JsonObject;
        if (info?["hasNextPage"] is not JsonValue more || !more.TryGetValue<bool>(out var hasNext) || !hasNext) return false;
        var next = Str(info, "endCursor");
        if (next is null || next == cursor) return false;
        cursor = next;
        return true;
    }

    private static int? VersionIndexOf(string alias) => new ArtifactPath("", "", "", alias).VersionIndex;

    private static string? Str(JsonObject? obj, string key) => obj?[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static int? Int(JsonNode? node) => node is JsonValue v && v.TryGetValue<int>(out var i) ? i : null;

    private static IReadOnlyList<string> Strings(JsonNode? node) =>
        (node as JsonArray ?? []).Select(e => e is JsonValue v && v.TryGetValue<string>(out var s) ? s : null).OfType<string>().ToList();

    /// <summary>W&amp;B's ids (runs, client ids): lower-case letters and digits.</summary>
    private static string RandomId(int length)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        return RandomNumberGenerator.GetString(alphabet, length);
    }
}
