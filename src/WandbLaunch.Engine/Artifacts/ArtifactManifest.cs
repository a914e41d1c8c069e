namespace WandbLaunch.Engine.Artifacts;

/// <summary>One file of an artifact: its digest is W&amp;B's, the base64 of the file's MD5.</summary>
public sealed record ArtifactManifestEntry(string Path, string Digest, long Size);

/// <summary>
/// The files of an artifact version, as in W&amp;B's manifest (<c>{"version": 1, "storagePolicy":
/// "wandb-storage-policy-v1", "contents": {path: {digest, size}}}</c>). Paths are relative, '/'-separated, checked
/// to stay inside the directory they are written to.
/// </summary>
public sealed record ArtifactManifest(IReadOnlyList<ArtifactManifestEntry> Entries)
{
    public ArtifactManifestEntry? Find(string path) => Entries.FirstOrDefault(e => e.Path == path);
}
