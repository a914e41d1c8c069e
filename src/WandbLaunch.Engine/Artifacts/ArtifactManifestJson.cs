using System.Text.Json;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Artifacts;

/// <summary>
/// W&amp;B's manifest file (<c>wandb_manifest.json</c>, version 1, storage policy <c>wandb-storage-policy-v1</c>).
/// A manifest comes from a server or a file, so every path and digest in it is checked: a path that could lead out
/// of the directory it is downloaded to, or a digest that is not an MD5, refuses the whole manifest.
/// </summary>
public static class ArtifactManifestJson
{
    public const string StoragePolicy = "wandb-storage-policy-v1";

    public const int MaxEntries = 100_000;

    public static ArtifactManifest Parse(string json, string source)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw Refuse(source, $"is not JSON ({e.Message})");
        }
        if (root is not JsonObject manifest) throw Refuse(source, "is not a JSON object");
        if (manifest["version"] is not JsonValue version || !JsonTree.TryGetNumber(version, out var v) || v != 1)
        {
            throw Refuse(source, $"has version {JsonTree.Show(manifest["version"])}; only version 1 is known");
        }
        if (manifest["contents"] is not JsonObject contents) throw Refuse(source, "has no 'contents' object");
        if (contents.Count > MaxEntries) throw Refuse(source, $"lists {contents.Count} files; at most {MaxEntries} are allowed");
        var entries = new List<ArtifactManifestEntry>(contents.Count);
        foreach (var (path, node) in contents)
        {
            CheckPath(path, source);
            if (node is not JsonObject entry) throw Refuse(source, $"has an entry for {JsonTree.Show(JsonValue.Create(path))} that is not an object");
            if (!JsonTree.TryGetString(entry["digest"], out var digest) || !ArtifactDigest.IsMd5(digest))
            {
                throw Refuse(source, $"gives {JsonTree.Show(JsonValue.Create(path))} the digest {JsonTree.Show(entry["digest"])}; a digest is the base64 of an MD5");
            }
            long size = 0;
            if (entry["size"] is { } s && (!JsonTree.IsInteger(s) || (size = s.GetValue<long>()) < 0))
            {
                throw Refuse(source, $"gives {JsonTree.Show(JsonValue.Create(path))} the size {JsonTree.Show(s)}; a size is a whole number of bytes");
            }
            if (entry["ref"] is not null) throw Refuse(source, $"gives {JsonTree.Show(JsonValue.Create(path))} a reference ({JsonTree.Show(entry["ref"])}); reference artifacts are not supported for jobs and code");
            entries.Add(new ArtifactManifestEntry(path, digest, size));
        }
        return new ArtifactManifest(entries);
    }

    public static string ToJson(ArtifactManifest manifest)
    {
        var contents = new JsonObject();
        foreach (var entry in manifest.Entries.OrderBy(e => e.Path, StringComparer.Ordinal))
        {
            contents[entry.Path] = new JsonObject { ["digest"] = entry.Digest, ["size"] = entry.Size };
        }
        return new JsonObject
        {
            ["version"] = 1,
            ["storagePolicy"] = StoragePolicy,
            ["storagePolicyConfig"] = new JsonObject { ["storageLayout"] = "V2" },
            ["contents"] = contents,
        }.ToJsonString();
    }

    /// <summary>
    /// An artifact path: relative, '/'-separated, no empty, '.' or '..' segment, no backslash, NUL or control
    /// character, at most 1,024 characters. Checked again where files are written (<c>ContainedPath</c>).
    /// </summary>
    public static void CheckPath(string path, string source)
    {
        var bad = path.Length == 0 || path.Length > 1024 || path[0] == '/' || path.Contains('\\') || path.Any(char.IsControl) ||
                  path.Split('/').Any(p => p is "" or "." or "..") || (path.Length > 1 && path[1] == ':');
        if (bad)
        {
            throw Refuse(source, $"lists the file {JsonTree.Show(JsonValue.Create(path))}; a file path is relative, '/'-separated, without '.', '..', empty parts, backslashes or control characters");
        }
    }

    private static LaunchException Refuse(string source, string what) =>
        LaunchException.InvalidData("InvalidArtifactManifest", $"The manifest of {source} {what}.", source);
}
