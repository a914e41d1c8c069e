using System.Security.Cryptography;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.FileSystem;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Storage.Sqlite;

/// <summary>
/// The files of the local store's artifacts, content-addressed as in W&amp;B's cache:
/// <c>&lt;root&gt;/obj/md5/&lt;first 2 hex&gt;/&lt;remaining hex&gt;</c> of each file's MD5. An object is written to a temp
/// file in its folder, checked (MD5 and size read back from disk) and then moved into place, so a reader never sees
/// a partial object; an intact object already there is never rewritten. Folders 0700, files 0600 (PrivateFiles).
/// </summary>
internal sealed class LocalArtifactObjects(string root)
{
    private const int BufferSize = 1 << 16;

    /// <summary>The store's artifacts folder (<c>&lt;folder of the store file&gt;/artifacts</c>).</summary>
    public string Root { get; } = root;

    public string ObjectsDirectory => Path.Combine(Root, "obj", "md5");

    /// <summary>Where the object of a base64 MD5 digest lives (the digest must be one: <see cref="ArtifactDigest.IsMd5"/>).</summary>
    public string PathOf(string base64Digest)
    {
        var hex = ArtifactDigest.ToHex(base64Digest);
        return Path.Combine(ObjectsDirectory, hex[..2], hex[2..]);
    }

    /// <summary>
    /// Stores <paramref name="sourceFile"/> as the file <paramref name="artifactPath"/> of <paramref name="artifact"/>
    /// and returns its manifest entry. The digest and size are those of the bytes stored: a source that changes while
    /// it is read is stored as it was read, under the digest of what was stored.
    /// </summary>
    public async Task<ArtifactManifestEntry> StoreAsync(string artifact, string artifactPath, string sourceFile, CancellationToken cancellationToken)
    {
        // Read first: an unchanged file (the usual case when a job is logged again) costs one read and no write.
        var (digest, size) = await HashAsync(artifact, artifactPath, sourceFile, cancellationToken).ConfigureAwait(false);
        var target = PathOf(digest);
        if (await IsIntactAsync(target, digest, size, cancellationToken).ConfigureAwait(false)) return new ArtifactManifestEntry(artifactPath, digest, size);

        var folder = Path.GetDirectoryName(target)!;
        var temp = Path.Combine(folder, $"{Path.GetFileName(target)}.tmp-{Guid.NewGuid():N}");
        try
        {
            EnsureFolder(folder);
            (digest, size) = await CopyAsync(artifact, artifactPath, sourceFile, temp, cancellationToken).ConfigureAwait(false);
            var (writtenDigest, writtenSize) = await HashStoredAsync(temp, cancellationToken).ConfigureAwait(false);
            if (writtenDigest != digest || writtenSize != size)
            {
                throw new LaunchException("ArtifactStoreNotWritable", LaunchErrorCategory.WriteError,
                    $"The file {Printable.Quote(artifactPath)} of artifact {artifact} did not read back as written to {temp} " +
                    $"(wrote {size} bytes with MD5 {digest}, read {writtenSize} bytes with MD5 {writtenDigest}); the disk under {Root} may be failing. Nothing was stored.",
                    temp);
            }
            target = PathOf(digest);
            if (await IsIntactAsync(target, digest, size, cancellationToken).ConfigureAwait(false)) return new ArtifactManifestEntry(artifactPath, digest, size);
            EnsureFolder(Path.GetDirectoryName(target)!);
            if (!File.Exists(target) && TryMoveNew(temp, target)) return new ArtifactManifestEntry(artifactPath, digest, size);
            // Another process stored it meanwhile (then it is intact and stays), or the object there is damaged: that
            // one is replaced in one rename, so a reader sees the old file or the new one, never a part.
            if (!await IsIntactAsync(target, digest, size, cancellationToken).ConfigureAwait(false)) File.Move(temp, target, overwrite: true);
            return new ArtifactManifestEntry(artifactPath, digest, size);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw NotWritable(artifact, artifactPath, e);
        }
        finally
        {
            TryDelete(temp);
        }
    }

    /// <summary>The stored bytes of an object, unchecked; <c>ArtifactFileMissing</c> when there are none.</summary>
    public Stream Open(ArtifactVersion version, ArtifactManifestEntry entry)
    {
        if (!ArtifactDigest.IsMd5(entry.Digest))
        {
            throw LaunchException.InvalidData("InvalidArtifactManifest",
                $"The file {Printable.Quote(entry.Path)} of artifact {version} has the digest {Printable.Quote(entry.Digest)}; a digest is the base64 of an MD5.", entry.Digest);
        }
        var path = PathOf(entry.Digest);
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, BufferSize, useAsync: true);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw LaunchException.NotFound("ArtifactFileMissing",
                $"The file {Printable.Quote(entry.Path)} of artifact {version} is missing from the local store: {path} does not exist (it was deleted). " +
                "Log the artifact again from its source to store the file again.", path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LaunchException("ArtifactFileUnreadable", LaunchErrorCategory.ReadError,
                $"The file {Printable.Quote(entry.Path)} of artifact {version} cannot be read from {path}: {e.Message}", path, e);
        }
    }

    private static async Task<bool> IsIntactAsync(string path, string digest, long size, CancellationToken cancellationToken)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists || info.Length != size) return false;
            return await HashStoredAsync(path, cancellationToken).ConfigureAwait(false) == (digest, size);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static async Task<(string Digest, long Size)> HashStoredAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, BufferSize, useAsync: true);
        var hash = await MD5.HashDataAsync(stream, cancellationToken).ConfigureAwait(false);
        return (Convert.ToBase64String(hash), stream.Length);
    }

    private static async Task<(string Digest, long Size)> HashAsync(string artifact, string artifactPath, string sourceFile, CancellationToken cancellationToken)
    {
        await using var source = OpenSource(artifact, artifactPath, sourceFile);
        using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        var buffer = new byte[BufferSize];
        long size = 0;
        try
        {
            int read;
            while ((read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                md5.AppendData(buffer, 0, read);
                size += read;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Unreadable(artifact, artifactPath, sourceFile, e);
        }
        return (Convert.ToBase64String(md5.GetHashAndReset()), size);
    }

    private static async Task<(string Digest, long Size)> CopyAsync(string artifact, string artifactPath, string sourceFile, string temp, CancellationToken cancellationToken)
    {
        await using var source = OpenSource(artifact, artifactPath, sourceFile);
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = BufferSize, Options = FileOptions.Asynchronous,
        };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = PrivateFiles.FileMode;
        using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        long size = 0;
        await using (var output = new FileStream(temp, options))
        {
            var buffer = new byte[BufferSize];
            while (true)
            {
                int read;
                try
                {
                    read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw Unreadable(artifact, artifactPath, sourceFile, e);
                }
                if (read == 0) break;
                md5.AppendData(buffer, 0, read);
                await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                size += read;
            }
            await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            output.Flush(flushToDisk: true);
        }
        return (Convert.ToBase64String(md5.GetHashAndReset()), size);
    }

    private static FileStream OpenSource(string artifact, string artifactPath, string sourceFile)
    {
        try
        {
            if (Directory.Exists(sourceFile))
            {
                throw LaunchException.Invalid("ArtifactSourceNotAFile",
                    $"The file {Printable.Quote(artifactPath)} of artifact {artifact} is to come from {Printable.Quote(sourceFile)}, which is a folder; give a file.", sourceFile);
            }
            return new FileStream(sourceFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, BufferSize, useAsync: true);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw LaunchException.NotFound("ArtifactSourceNotFound",
                $"The file {Printable.Quote(artifactPath)} of artifact {artifact} is to come from {Printable.Quote(sourceFile)}, which does not exist. Nothing was logged.", sourceFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw Unreadable(artifact, artifactPath, sourceFile, e);
        }
    }

    private void EnsureFolder(string folder)
    {
        // The artifacts folder is the module's own (beside the store file, whose folder the user may have chosen).
        PrivateFiles.EnsureDirectory(Root);
        PrivateFiles.EnsureDirectory(folder);
    }

    private static LaunchException Unreadable(string artifact, string artifactPath, string sourceFile, Exception e) =>
        new("ArtifactSourceUnreadable", LaunchErrorCategory.ReadError,
            $"The file {Printable.Quote(artifactPath)} of artifact {artifact} cannot be read from {Printable.Quote(sourceFile)}: {e.Message} Nothing was logged.", sourceFile, e);

    private LaunchException NotWritable(string artifact, string artifactPath, Exception e) =>
        new("ArtifactStoreNotWritable", LaunchErrorCategory.WriteError,
            $"Cannot store the file {Printable.Quote(artifactPath)} of artifact {artifact} under {Root}: {e.Message} Nothing was logged.", Root, e);

    /// <summary>Moves without replacing (a link and an unlink on Unix): false when something is at <paramref name="target"/> already.</summary>
    private static bool TryMoveNew(string temp, string target)
    {
        try
        {
            File.Move(temp, target, overwrite: false);
            return true;
        }
        catch (IOException) when (File.Exists(target))
        {
            return false;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A temp file that cannot be removed is only wasted space; it is never read as an object.
        }
    }
}
