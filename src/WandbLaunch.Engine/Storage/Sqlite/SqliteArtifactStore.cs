using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Identifiers;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Storage.Sqlite;

/// <summary>
/// The local store's artifacts (W&amp;B jobs and their code): collections, versions, aliases and manifests in the
/// store's tables (artifact_collections, artifact_versions, artifact_aliases), the files content-addressed beside
/// the store file (<see cref="LocalArtifactObjects"/>). Semantics follow W&amp;B's: a collection has one type,
/// versions count from 0 per collection, <c>latest</c> moves to each logged version, an alias names one version of
/// its collection, and a version whose digest equals an existing one's is not made again (that one gets the aliases).
/// </summary>
public sealed class SqliteArtifactStore : IArtifactStore
{
    /// <summary>At most this many versions are named one by one in an <c>ArtifactAliasNotFound</c> message.</summary>
    private const int VersionsListed = 10;

    private const string VersionColumns =
        "v.id, c.entity, c.project, c.name, c.type, v.version_index, v.digest, v.size, v.description, v.metadata, v.created_at, " +
        "(SELECT json_group_array(alias) FROM (SELECT a.alias FROM artifact_aliases a WHERE a.version_id = v.id ORDER BY a.alias <> 'latest', a.alias))";

    private const string VersionFrom = "artifact_versions v JOIN artifact_collections c ON c.id = v.collection_id";

    private readonly SqliteLaunchBackend _backend;
    private readonly LocalArtifactObjects _objects;

    internal SqliteArtifactStore(SqliteLaunchBackend backend, string directory)
    {
        _backend = backend;
        _objects = new LocalArtifactObjects(directory);
    }

    /// <summary>The artifacts folder (<c>&lt;folder of the store file&gt;/artifacts</c>); the files are under <c>obj/md5</c>.</summary>
    public string Directory => _objects.Root;

    /// <summary>Where the file with this base64 MD5 digest is stored (whether or not it is there).</summary>
    public string ObjectPath(string digest) => _objects.PathOf(digest);

    public Task<ArtifactVersion> GetAsync(ArtifactPath path, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(_backend.Read(connection =>
        {
            // One read transaction: the collection, its versions and aliases from one state of the store.
            using var tx = connection.BeginTransaction(deferred: true);
            var collection = FindCollection(connection, tx, path.Entity, path.Project, path.Name) ?? throw NotFound(path);
            SqliteCommand cmd;
            if (path.VersionIndex is { } index)
            {
                cmd = Command(connection, tx, $"SELECT {VersionColumns} FROM {VersionFrom} WHERE v.collection_id = $c AND v.version_index = $i");
                cmd.Parameters.AddWithValue("$i", index);
            }
            else
            {
                cmd = Command(connection, tx,
                    $"SELECT {VersionColumns} FROM {VersionFrom} JOIN artifact_aliases al ON al.version_id = v.id WHERE al.collection_id = $c AND al.alias = $a");
                cmd.Parameters.AddWithValue("$a", path.Alias);
            }
            cmd.Parameters.AddWithValue("$c", collection.Id);
            var version = ReadVersions(cmd).FirstOrDefault() ?? throw AliasNotFound(connection, tx, path, collection.Id);
            tx.Commit();
            return version;
        }));
    }

    public Task<ArtifactVersion?> GetByIdAsync(string id, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(_backend.Read(connection => ReadVersion(connection, null, id)));
    }

    public Task<ArtifactManifest> GetManifestAsync(ArtifactVersion version, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var json = _backend.Read(connection =>
        {
            var cmd = Command(connection, null, "SELECT manifest FROM artifact_versions WHERE id = $id");
            cmd.Parameters.AddWithValue("$id", version.Id);
            return cmd.ExecuteScalar() as string;
        }) ?? throw LaunchException.NotFound("ArtifactNotFound",
            $"The artifact version {version} (id {Printable.Quote(version.Id)}) is not in the local store {_backend.Location}.", version.ToString());
        // Read back as strictly as one from a server: a store file can be edited by anyone who can write it.
        return Task.FromResult(ArtifactManifestJson.Parse(json, $"artifact {version}"));
    }

    public Task<Stream> OpenFileAsync(ArtifactVersion version, ArtifactManifestEntry entry, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(_objects.Open(version, entry));
    }

    public Task<IReadOnlyList<ArtifactVersion>> ListAsync(string entity, string project, string type, string? name, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult<IReadOnlyList<ArtifactVersion>>(_backend.Read(connection =>
        {
            var cmd = Command(connection, null,
                $"SELECT {VersionColumns} FROM {VersionFrom} WHERE c.entity = $e AND c.project = $p AND c.type = $t AND ($n IS NULL OR c.name = $n) ORDER BY v.seq DESC");
            cmd.Parameters.AddWithValue("$e", entity);
            cmd.Parameters.AddWithValue("$p", project);
            cmd.Parameters.AddWithValue("$t", type);
            cmd.Parameters.AddWithValue("$n", (object?)name ?? DBNull.Value);
            return ReadVersions(cmd);
        }));
    }

    public async Task<ArtifactCommit> CommitAsync(NewArtifact artifact, CancellationToken cancellationToken)
    {
        var aliases = Check(artifact);
        var display = $"{artifact.Entity}/{artifact.Project}/{artifact.Name}";
        var entries = new List<ArtifactManifestEntry>(artifact.Files.Count);
        // The files first, outside any transaction: an object stored for a commit that then fails is only unused.
        foreach (var (path, file) in artifact.Files.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            entries.Add(await _objects.StoreAsync(display, path, file, cancellationToken).ConfigureAwait(false));
        }
        var manifest = new ArtifactManifest(entries);
        var digest = ArtifactDigest.OfManifest(manifest);
        var manifestJson = ArtifactManifestJson.ToJson(manifest);
        var size = entries.Sum(e => e.Size);

        return _backend.Write(cancellationToken, (connection, tx) =>
        {
            var now = Clock.NowMs();
            var collection = FindCollection(connection, tx, artifact.Entity, artifact.Project, artifact.Name);
            if (collection is { } existing && existing.Type != artifact.Type)
            {
                // W&B's own words (wandb_run._assert_can_log_artifact).
                throw new LaunchException("ArtifactTypeConflict", LaunchErrorCategory.InvalidOperation,
                    $"Artifact {artifact.Name} already exists with type '{existing.Type}'; cannot create another with type '{artifact.Type}'", display);
            }
            var collectionId = collection?.Id ?? CreateCollection(connection, tx, artifact, now);

            var same = Command(connection, tx, "SELECT id FROM artifact_versions WHERE collection_id = $c AND digest = $d ORDER BY version_index DESC LIMIT 1");
            same.Parameters.AddWithValue("$c", collectionId);
            same.Parameters.AddWithValue("$d", digest);
            ArtifactCommitKind kind;
            if (same.ExecuteScalar() is not string versionId)
            {
                var next = Command(connection, tx, "SELECT coalesce(max(version_index) + 1, 0) FROM artifact_versions WHERE collection_id = $c");
                next.Parameters.AddWithValue("$c", collectionId);
                var index = (long)next.ExecuteScalar()!;
                versionId = Ids.New("artifact");
                var insert = Command(connection, tx, """
                    INSERT INTO artifact_versions (id, collection_id, version_index, digest, size, description, metadata, manifest, created_at)
                    VALUES ($id, $c, $i, $d, $size, $desc, $meta, $manifest, $now)
                    """);
                insert.Parameters.AddWithValue("$id", versionId);
                insert.Parameters.AddWithValue("$c", collectionId);
                insert.Parameters.AddWithValue("$i", index);
                insert.Parameters.AddWithValue("$d", digest);
                insert.Parameters.AddWithValue("$size", size);
                insert.Parameters.AddWithValue("$desc", (object?)artifact.Description ?? DBNull.Value);
                insert.Parameters.AddWithValue("$meta", artifact.Metadata is null ? DBNull.Value : artifact.Metadata.ToJsonString());
                insert.Parameters.AddWithValue("$manifest", manifestJson);
                insert.Parameters.AddWithValue("$now", now);
                insert.ExecuteNonQuery();
                kind = index == 0 ? ArtifactCommitKind.Created : ArtifactCommitKind.Updated;
            }
            else
            {
                kind = ArtifactCommitKind.Unchanged;
            }
            foreach (var alias in aliases)
            {
                // An alias names one version of its collection: setting it moves it here.
                var set = Command(connection, tx, """
                    INSERT INTO artifact_aliases (collection_id, alias, version_id) VALUES ($c, $a, $v)
                    ON CONFLICT (collection_id, alias) DO UPDATE SET version_id = excluded.version_id
                    """);
                set.Parameters.AddWithValue("$c", collectionId);
                set.Parameters.AddWithValue("$a", alias);
                set.Parameters.AddWithValue("$v", versionId);
                set.ExecuteNonQuery();
            }
            return new ArtifactCommit(ReadVersion(connection, tx, versionId)!, kind);
        });
    }

    /// <summary>Checks everything a commit names before a file is read; returns the aliases to set (<c>latest</c> first, no repeats).</summary>
    private static List<string> Check(NewArtifact artifact)
    {
        SpecNames.Entity(artifact.Entity, "artifact entity");
        SpecNames.Project(artifact.Project, "artifact project");
        CheckPart(artifact.Name, "InvalidArtifactName", "artifact name");
        if (artifact.Type.Length is 0 or > SpecNames.MaxArtifactPartLength || artifact.Type.Any(c => char.IsControl(c) || c is '/' or ':'))
        {
            throw LaunchException.Invalid("InvalidArtifactType",
                $"The artifact type {Printable.Quote(artifact.Type)} is not allowed: a type has 1 to {SpecNames.MaxArtifactPartLength} characters, without '/', ':' or control characters.",
                artifact.Type);
        }
        var source = $"artifact {artifact.Entity}/{artifact.Project}/{artifact.Name}";
        if (artifact.Files.Count > ArtifactManifestJson.MaxEntries)
        {
            throw LaunchException.Invalid("InvalidArtifactManifest",
                $"The {source} lists {artifact.Files.Count} files; at most {ArtifactManifestJson.MaxEntries} are allowed.", artifact.Name);
        }
        foreach (var path in artifact.Files.Keys) ArtifactManifestJson.CheckPath(path, source);
        var aliases = new List<string> { ArtifactPath.Latest };
        foreach (var alias in artifact.Aliases)
        {
            CheckPart(alias, "InvalidArtifactAlias", "artifact alias");
            if (new ArtifactPath(artifact.Entity, artifact.Project, artifact.Name, alias).VersionIndex is not null)
            {
                throw LaunchException.Invalid("InvalidArtifactAlias",
                    $"The artifact alias {Printable.Quote(alias)} has the form of a version (v0, v1, ...), which the store gives each version itself; choose another alias.", alias);
            }
            if (!aliases.Contains(alias)) aliases.Add(alias);
        }
        return aliases;
    }

    /// <summary>A name or alias: what <see cref="ArtifactPath.Parse"/> accepts, so that whatever is logged can be named again.</summary>
    private static void CheckPart(string value, string errorId, string what)
    {
        var valid = value.Length is > 0 and <= SpecNames.MaxArtifactPartLength && char.IsAsciiLetterOrDigit(value[0]) &&
                    value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
        if (!valid)
        {
            throw LaunchException.Invalid(errorId,
                $"The {what} {Printable.Quote(value)} is not allowed: 1 to {SpecNames.MaxArtifactPartLength} of letters, digits, '-', '_' and '.', starting with a letter or digit.",
                value);
        }
    }

    private sealed record Collection(long Id, string Type);

    private static Collection? FindCollection(SqliteConnection connection, SqliteTransaction? tx, string entity, string project, string name)
    {
        var cmd = Command(connection, tx, "SELECT id, type FROM artifact_collections WHERE entity = $e AND project = $p AND name = $n");
        cmd.Parameters.AddWithValue("$e", entity);
        cmd.Parameters.AddWithValue("$p", project);
        cmd.Parameters.AddWithValue("$n", name);
        using var reader = cmd.ExecuteReader();
        return reader.Read() ? new Collection(reader.GetInt64(0), reader.GetString(1)) : null;
    }

    private static long CreateCollection(SqliteConnection connection, SqliteTransaction tx, NewArtifact artifact, long now)
    {
        var cmd = Command(connection, tx,
            "INSERT INTO artifact_collections (entity, project, name, type, created_at) VALUES ($e, $p, $n, $t, $now) RETURNING id");
        cmd.Parameters.AddWithValue("$e", artifact.Entity);
        cmd.Parameters.AddWithValue("$p", artifact.Project);
        cmd.Parameters.AddWithValue("$n", artifact.Name);
        cmd.Parameters.AddWithValue("$t", artifact.Type);
        cmd.Parameters.AddWithValue("$now", now);
        return (long)cmd.ExecuteScalar()!;
    }

    private static ArtifactVersion? ReadVersion(SqliteConnection connection, SqliteTransaction? tx, string id)
    {
        var cmd = Command(connection, tx, $"SELECT {VersionColumns} FROM {VersionFrom} WHERE v.id = $id");
        cmd.Parameters.AddWithValue("$id", id);
        return ReadVersions(cmd).FirstOrDefault();
    }

    private static List<ArtifactVersion> ReadVersions(SqliteCommand cmd)
    {
        var list = new List<ArtifactVersion>();
        using var reader = cmd.ExecuteReader();
        while (reader.Read())
        {
            list.Add(new ArtifactVersion
            {
                Id = reader.GetString(0),
                Entity = reader.GetString(1),
                Project = reader.GetString(2),
                Name = reader.GetString(3),
                Type = reader.GetString(4),
                VersionIndex = reader.GetInt32(5),
                Digest = reader.GetString(6),
                Size = reader.GetInt64(7),
                Description = reader.IsDBNull(8) ? null : reader.GetString(8),
                Metadata = reader.IsDBNull(9) ? null : ParseMetadata(reader.GetString(9)),
                CreatedAt = Clock.FromMs(reader.GetInt64(10)),
                Aliases = (JsonNode.Parse(reader.GetString(11)) as JsonArray ?? []).Select(a => a!.GetValue<string>()).ToList(),
            });
        }
        return list;
    }

    /// <summary>Metadata as stored; a value edited into the store that is not a JSON object reads as none (it is informational only).</summary>
    private static JsonObject? ParseMetadata(string json)
    {
        try
        {
            return JsonNode.Parse(json) as JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private static LaunchException NotFound(ArtifactPath path) =>
        LaunchException.NotFound("ArtifactNotFound",
            $"The artifact {Printable.Escape(path.Collection)} does not exist: project {Printable.Escape($"{path.Entity}/{path.Project}")} of the local store has no artifact named {Printable.Quote(path.Name)}.",
            path.ToString());

    private static LaunchException AliasNotFound(SqliteConnection connection, SqliteTransaction tx, ArtifactPath path, long collectionId)
    {
        var aliasCmd = Command(connection, tx, "SELECT alias FROM artifact_aliases WHERE collection_id = $c ORDER BY alias <> 'latest', alias");
        aliasCmd.Parameters.AddWithValue("$c", collectionId);
        var aliases = new List<string>();
        using (var reader = aliasCmd.ExecuteReader())
        {
            while (reader.Read()) aliases.Add(reader.GetString(0));
        }
        var versionCmd = Command(connection, tx, "SELECT version_index FROM artifact_versions WHERE collection_id = $c ORDER BY version_index");
        versionCmd.Parameters.AddWithValue("$c", collectionId);
        var versions = new List<long>();
        using (var reader = versionCmd.ExecuteReader())
        {
            while (reader.Read()) versions.Add(reader.GetInt64(0));
        }
        var listed = versions.Count <= VersionsListed
            ? string.Join(", ", versions.Select(v => $"v{v}"))
            : string.Join(", ", versions.Take(VersionsListed - 1).Select(v => $"v{v}")) + $", ..., v{versions[^1]} ({versions.Count} versions)";
        var what = path.VersionIndex is null ? "alias" : "version";
        return LaunchException.NotFound("ArtifactAliasNotFound",
            $"The artifact {Printable.Escape(path.Collection)} has no {what} {Printable.Quote(path.Alias)}. " +
            $"Its aliases: {(aliases.Count == 0 ? "none" : string.Join(", ", aliases))}; its versions: {(versions.Count == 0 ? "none" : listed)}.",
            path.ToString());
    }

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? tx, string sql) => SqliteDatabase.Command(connection, tx, sql);
}
