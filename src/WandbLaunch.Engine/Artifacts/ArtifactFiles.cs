using System.Security.Cryptography;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.FileSystem;

namespace WandbLaunch.Engine.Artifacts;

/// <summary>
/// Downloads an artifact version's files into a directory, from any <see cref="IArtifactStore"/>, through a cache
/// keyed by digest (W&amp;B's layout: <c>&lt;cache&gt;/artifacts/obj/md5/&lt;2 hex&gt;/&lt;rest&gt;</c>). Every byte
/// used is checked against the manifest: a download is written to a temporary file, its size and MD5 compared, and
/// only then moved into the cache (atomically, so two jobs fetching the same object at once each move a whole,
/// checked file); a cache hit is checked again while it is copied out, and a corrupt or partial cache entry is
/// deleted and fetched again. Every path is joined below the target directory (<see cref="ContainedPath"/>).
/// </summary>
public sealed class ArtifactFiles
{
    /// <summary>The variable that moves the cache (default <c>~/.cache/wandb-launch</c>).</summary>
    public const string CacheDirectoryVariable = "WANDB_LAUNCH_CACHE_DIR";

    public const string DigestMismatchErrorId = "ArtifactDigestMismatch";

    private const int BufferSize = 1 << 16;

    public ArtifactFiles(string cacheDirectory)
    {
        CacheDirectory = Path.GetFullPath(cacheDirectory);
    }

    /// <summary>The cache root: <c>artifacts/obj/md5/...</c> is below it.</summary>
    public string CacheDirectory { get; }

    /// <summary>The cache at <c>$WANDB_LAUNCH_CACHE_DIR</c>, else <c>~/.cache/wandb-launch</c>.</summary>
    public static ArtifactFiles FromEnvironment(Func<string, string?> environment) =>
        new(environment(CacheDirectoryVariable) is { Length: > 0 } dir ? UserHome.Expand(dir) : Path.Combine(UserHome.Directory(), ".cache", "wandb-launch"));

    /// <summary>Where the cache keeps an object of this digest.</summary>
    public string CachePathOf(string digest)
    {
        var hex = ArtifactDigest.ToHex(digest);
        return Path.Combine(CacheDirectory, "artifacts", "obj", "md5", hex[..2], hex[2..]);
    }

    /// <summary>
    /// Writes every file of <paramref name="version"/> below <paramref name="directory"/> (created if missing) and
    /// returns their paths there. Throws <c>ArtifactDigestMismatch</c> (InvalidData) when a download does not match
    /// its manifest entry, <c>PathOutsideDirectory</c> for a path that leads out; the caller removes the directory
    /// on failure. <paramref name="note"/> is told when a cache entry was corrupt and is fetched again.
    /// </summary>
    public async Task<IReadOnlyList<string>> DownloadAsync(IArtifactStore store, ArtifactVersion version, string directory, CancellationToken cancellationToken,
        Action<string>? note = null)
    {
        var manifest = await store.GetManifestAsync(version, cancellationToken).ConfigureAwait(false);
        PrivateFiles.EnsureDirectory(directory, tightenExisting: false);
        var written = new List<string>(manifest.Entries.Count);
        foreach (var entry in manifest.Entries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // The store may have built the manifest itself: its paths are checked here as a parsed one's are.
            ArtifactManifestJson.CheckPath(entry.Path, version.ToString());
            if (!ArtifactDigest.IsMd5(entry.Digest) || entry.Size < 0)
            {
                throw LaunchException.InvalidData("InvalidArtifactManifest", $"The manifest of {version} gives {entry.Path} the digest '{entry.Digest}' and size {entry.Size}; a digest is the base64 of an MD5.", version.ToString());
            }
            var target = ContainedPath.Join(directory, entry.Path, $"the file {entry.Path} of {version}");
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            await FetchIntoAsync(store, version, entry, target, note, cancellationToken).ConfigureAwait(false);
            written.Add(target);
        }
        return written;
    }

    private async Task FetchIntoAsync(IArtifactStore store, ArtifactVersion version, ArtifactManifestEntry entry, string target, Action<string>? note, CancellationToken cancellationToken)
    {
        var cached = CachePathOf(entry.Digest);
        if (File.Exists(cached))
        {
            if (await CopyCheckedAsync(cached, target, entry, cancellationToken).ConfigureAwait(false))
            {
                CacheHits++;
                return;
            }
            note?.Invoke($"the cached copy of {entry.Path} ({cached}) does not match its digest or size; fetching it again");
            TryDelete(cached);
        }
        await DownloadToCacheAsync(store, version, entry, cached, cancellationToken).ConfigureAwait(false);
        if (!await CopyCheckedAsync(cached, target, entry, cancellationToken).ConfigureAwait(false))
        {
            // Changed between the move and the copy (another process, a failing disk): never used.
            TryDelete(cached);
            throw Mismatch(version, entry, await ActualDigestAsync(target, cancellationToken).ConfigureAwait(false));
        }
    }

    /// <summary>
    /// One file of <paramref name="version"/> read into memory, bounded by its manifest size and checked against its
    /// digest (<c>ArtifactDigestMismatch</c> otherwise), without the cache: for small files read rather than run.
    /// </summary>
    public static async Task<byte[]> ReadCheckedAsync(IArtifactStore store, ArtifactVersion version, ArtifactManifestEntry entry, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        string digest;
        long size;
        await using (var source = await store.OpenFileAsync(version, entry, cancellationToken).ConfigureAwait(false))
        {
            (digest, size) = await CopyHashedAsync(source, buffer, entry.Size + 1, cancellationToken).ConfigureAwait(false);
        }
        if (size != entry.Size || digest != entry.Digest) throw Mismatch(version, entry, size != entry.Size ? $"{digest} ({size} bytes or more, expected {entry.Size})" : digest);
        return buffer.ToArray();
    }

    /// <summary>Files served from the cache by this instance.</summary>
    public int CacheHits { get; private set; }

    private async Task DownloadToCacheAsync(IArtifactStore store, ArtifactVersion version, ArtifactManifestEntry entry, string cached, CancellationToken cancellationToken)
    {
        var folder = Path.GetDirectoryName(cached)!;
        PrivateFiles.EnsureDirectory(folder, tightenExisting: false);
        var temporary = Path.Combine(folder, $".{Path.GetFileName(cached)}.{Guid.NewGuid():N}.tmp");
        try
        {
            string digest;
            long size;
            await using (var source = await store.OpenFileAsync(version, entry, cancellationToken).ConfigureAwait(false))
            await using (var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize, useAsync: true))
            {
                // Never more than the manifest's size (+1 to notice a longer body): a hostile server cannot fill the disk.
                (digest, size) = await CopyHashedAsync(source, output, entry.Size + 1, cancellationToken).ConfigureAwait(false);
            }
            if (size != entry.Size || digest != entry.Digest)
            {
                throw Mismatch(version, entry, size != entry.Size ? $"{digest} ({(size > entry.Size ? $"more than {entry.Size}" : size.ToString(System.Globalization.CultureInfo.InvariantCulture))} bytes, expected {entry.Size})" : digest);
            }
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temporary, PrivateFiles.FileMode);
            File.Move(temporary, cached, overwrite: true);
        }
        finally
        {
            TryDelete(temporary);
        }
    }

    /// <summary>Copies a cached file out while hashing it; false (and nothing left at <paramref name="target"/>) when it does not match.</summary>
    private static async Task<bool> CopyCheckedAsync(string cached, string target, ArtifactManifestEntry entry, CancellationToken cancellationToken)
    {
        try
        {
            string digest;
            long size;
            await using (var source = new FileStream(cached, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, BufferSize, useAsync: true))
            {
                if (source.Length != entry.Size) return false;
                await using var output = new FileStream(target, FileMode.Create, FileAccess.Write, FileShare.None, BufferSize, useAsync: true);
                (digest, size) = await CopyHashedAsync(source, output, entry.Size + 1, cancellationToken).ConfigureAwait(false);
            }
            if (size == entry.Size && digest == entry.Digest) return true;
            TryDelete(target);
            return false;
        }
        catch (FileNotFoundException)
        {
            return false;
        }
        catch
        {
            TryDelete(target);
            throw;
        }
    }

    private static async Task<(string Digest, long Size)> CopyHashedAsync(Stream source, Stream output, long limit, CancellationToken cancellationToken)
    {
        using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        var buffer = new byte[BufferSize];
        long total = 0;
        while (total < limit)
        {
            var read = await source.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, limit - total)), cancellationToken).ConfigureAwait(false);
            if (read == 0) break;
            md5.AppendData(buffer, 0, read);
            await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            total += read;
        }
        return (Convert.ToBase64String(md5.GetHashAndReset()), total);
    }

    private static async Task<string> ActualDigestAsync(string path, CancellationToken cancellationToken)
    {
        try
        {
            return await ArtifactDigest.OfFileAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException)
        {
            return "(unreadable)";
        }
    }

    private static LaunchException Mismatch(ArtifactVersion version, ArtifactManifestEntry entry, string actual) =>
        LaunchException.InvalidData(DigestMismatchErrorId,
            $"The file {entry.Path} of {version} does not match its manifest: expected digest {entry.Digest} ({entry.Size} bytes), got {actual}. It was not used.",
            entry.Path);

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
