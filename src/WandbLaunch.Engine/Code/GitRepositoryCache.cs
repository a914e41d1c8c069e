using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.FileSystem;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Code;

/// <summary>
/// W&amp;B repo jobs' checkouts, kept so that the same remote at the same commit is prepared again by a copy instead of
/// a git fetch. An entry is <c>&lt;cache&gt;/git/&lt;sha256 of remote and commit&gt;/</c> (the remote never appears in
/// clear in a path or a log): <c>tree/</c>, the checkout as <see cref="GitCheckout.FetchAsync"/> left it (with its
/// <c>.git</c>, before diff.patch), and <c>manifest.json</c>, every entry of the tree in walk order with its mode, and
/// for a file its size and SHA-256, for a link its target. Only a full 40-hex commit is cached (a branch or short
/// hash may move, so it is fetched every time), and only after checking that HEAD is that commit.
/// An entry is built in a temporary directory beside it and renamed into place, so a crash or a concurrent agent
/// never leaves a partial entry under the key; a hit is checked against its manifest while it is copied out (a
/// missing, extra or changed file, or no manifest, discards the entry and the repository is fetched again).
/// Links are copied as links, never followed. Directories are 0700 and files 0600 in the cache; the manifest's
/// modes are restored on the copy. The cache is kept under <see cref="MaxBytes"/> by removing the least recently
/// used entries after each store.
/// </summary>
public sealed partial class GitRepositoryCache
{
    /// <summary>The size bound: bytes, or with a K, M or G suffix; 0 turns the cache off.</summary>
    public const string MaxBytesVariable = "WANDB_LAUNCH_GIT_CACHE_MAX_BYTES";

    /// <summary>The default size bound: 2 GiB.</summary>
    public const long DefaultMaxBytes = 2L * 1024 * 1024 * 1024;

    private const string TreeName = "tree";
    private const string ManifestName = "manifest.json";
    private const string TemporaryPrefix = ".tmp-";
    private const string DeletedPrefix = ".del-";
    private const int FormatVersion = 1;
    private const int BufferSize = 1 << 20;
    private const long MaxManifestBytes = 64L * 1024 * 1024;

    /// <summary>A temporary or half-deleted directory older than this was left by a process that died: it is removed.</summary>
    private static readonly TimeSpan AbandonedAfter = TimeSpan.FromHours(1);

    [GeneratedRegex("^[0-9a-f]{40}$", RegexOptions.CultureInvariant)]
    private static partial Regex FullCommit();

    [GeneratedRegex("^[0-9a-f]{64}$", RegexOptions.CultureInvariant)]
    private static partial Regex EntryName();

    /// <param name="cacheDirectory">The cache root (<c>ArtifactFiles.CacheDirectory</c>); entries go to its <c>git</c> folder.</param>
    /// <param name="maxBytes">The most the entries may hold together (their trees' file sizes); 0 turns the cache off.</param>
    public GitRepositoryCache(string cacheDirectory, long maxBytes = DefaultMaxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        Root = Path.Combine(Path.GetFullPath(cacheDirectory), "git");
        MaxBytes = maxBytes;
    }

    /// <summary>Where the entries are: <c>&lt;cache&gt;/git</c>.</summary>
    public string Root { get; }

    public long MaxBytes { get; }

    /// <summary>Checkouts this instance copied from the cache instead of fetching.</summary>
    public int Hits => _hits;

    private int _hits;

    /// <summary>The size bound from <see cref="MaxBytesVariable"/>, else <see cref="DefaultMaxBytes"/>.</summary>
    /// <exception cref="LaunchException"><c>InvalidGitCacheMaxBytes</c> when the value is not a size.</exception>
    public static long ParseMaxBytes(Func<string, string?> environment)
    {
        var text = environment(MaxBytesVariable)?.Trim();
        if (string.IsNullOrEmpty(text)) return DefaultMaxBytes;
        if (!Text.ByteSize.TryParse(text, out var bytes))
        {
            throw LaunchException.Invalid("InvalidGitCacheMaxBytes",
                $"{MaxBytesVariable} is '{text}'; it must be a whole number of bytes, optionally with a K, M or G suffix (e.g. 2G), or 0 to turn the repository cache off.", text);
        }
        return bytes;
    }

    /// <summary>Whether a job's commit is cached: a full, lower-case 40-hex commit, as W&amp;B records one.</summary>
    public static bool IsCacheable(string commit) => FullCommit().IsMatch(commit);

    /// <summary>The entry of <paramref name="remote"/> at <paramref name="commit"/> (whether or not it exists); null when such a commit is not cached.</summary>
    public string? EntryOf(string remote, string commit) =>
        IsCacheable(commit) ? ContainedPath.Join(Root, Key(remote, commit), "repository cache entry") : null;

    /// <summary>
    /// <see cref="GitCheckout.FetchAsync"/> through the cache: the remote is checked first (a refused remote is refused on
    /// a hit too), then a hit is copied into <paramref name="directory"/>; a miss is fetched and stored. A failure to
    /// store is a warning in the job's log, never the job's failure.
    /// </summary>
    public async Task FetchAsync(string remote, string commit, string directory, bool allowLocal, string traceId, JobLog log, CancellationToken cancellationToken)
    {
        GitCheckout.CheckRemote(remote, allowLocal);
        if (MaxBytes == 0 || !IsCacheable(commit))
        {
            await GitCheckout.FetchAsync(remote, commit, directory, allowLocal, traceId, log, cancellationToken).ConfigureAwait(false);
            return;
        }
        var key = Key(remote, commit);
        var entry = ContainedPath.Join(Root, key, "repository cache entry");
        var label = key[..12];
        if (Directory.Exists(entry))
        {
            var problem = CopyOut(entry, commit, directory, cancellationToken);
            if (problem is null)
            {
                Interlocked.Increment(ref _hits);
                TryTouch(entry);
                log.Agent($"git fetch skipped: commit {commit} copied from the repository cache (entry {label})");
                return;
            }
            log.Agent($"warning: the cached repository {label} is not usable ({problem}); it is removed and fetched again");
            Discard(entry);
            try
            {
                DirectoryTree.Delete(directory);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new JobFailedException(FailureStage.Agent, $"Cannot remove the partial copy of a cached repository from {directory}: {e.Message}", e);
            }
        }
        await GitCheckout.FetchAsync(remote, commit, directory, allowLocal, traceId, log, cancellationToken).ConfigureAwait(false);
        try
        {
            await StoreAsync(directory, commit, entry, label, traceId, log, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or LaunchException)
        {
            log.Agent($"warning: the repository was not cached (entry {label}): {e.Message}");
        }
    }

    private static string Key(string remote, string commit) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"git-repository-cache v{FormatVersion}\n{remote}\n{commit}"))).ToLowerInvariant();

    private async Task StoreAsync(string checkout, string commit, string entry, string label, string traceId, JobLog log, CancellationToken cancellationToken)
    {
        // A remote branch named like the commit would have been checked out instead of it (W&B's sequence prefers branches).
        var head = await GitCommand.RunAsync(["rev-parse", "--verify", "--quiet", "HEAD"], checkout, traceId, cancellationToken).ConfigureAwait(false);
        if (head.ExitCode != 0 || head.Output.Trim() != commit)
        {
            log.Agent($"the checkout's HEAD is not commit {commit}: not cached");
            return;
        }
        PrivateFiles.EnsureDirectory(Root, tightenExisting: false);
        var temporary = Path.Combine(Root, TemporaryPrefix + Guid.NewGuid().ToString("N"));
        try
        {
            PrivateFiles.EnsureDirectory(temporary);
            var manifest = CopyIn(checkout, Path.Combine(temporary, TreeName), commit, cancellationToken);
            if (manifest is null)
            {
                log.Agent($"the repository is larger than the cache's bound of {MaxBytes} bytes ({MaxBytesVariable}): not cached");
                return;
            }
            PrivateFiles.WriteAllText(Path.Combine(temporary, ManifestName), manifest.ToJsonString());
            try
            {
                Directory.Move(temporary, entry);
            }
            catch (IOException) when (Directory.Exists(entry))
            {
                // Another agent stored the same commit meanwhile: its entry is as good as this one.
                return;
            }
            log.Agent($"repository cached (entry {label}, {manifest["bytes"]} bytes)");
        }
        finally
        {
            if (Directory.Exists(temporary)) TryDelete(temporary);
        }
        Evict(keep: entry, log);
    }

    /// <summary>Copies the checkout into the cache's tree, 0700/0600; returns the manifest, or null when it exceeds the bound.</summary>
    private JsonObject? CopyIn(string checkout, string tree, string commit, CancellationToken cancellationToken)
    {
        PrivateFiles.EnsureDirectory(tree);
        var entries = new JsonArray();
        var buffer = new byte[BufferSize];
        long bytes = 0;
        foreach (var item in DirectoryWalk.Enumerate(checkout))
        {
            cancellationToken.ThrowIfCancellationRequested();
            // The walk never enters a link, so nothing is ever written below one.
            var target = Path.Combine(tree, item.RelativePath);
            var record = new JsonObject { ["path"] = item.RelativePath, ["mode"] = item.Kind == DirectoryWalk.EntryKind.SymbolicLink ? 0 : ModeOf(item.FullPath) };
            switch (item.Kind)
            {
                case DirectoryWalk.EntryKind.Directory:
                    record["kind"] = "dir";
                    CreateDirectory(target, PrivateFiles.DirectoryMode);
                    break;
                case DirectoryWalk.EntryKind.SymbolicLink:
                    record["kind"] = "link";
                    record["target"] = item.LinkTarget;
                    File.CreateSymbolicLink(target, item.LinkTarget!);
                    break;
                default:
                    var (size, digest) = CopyHashed(item.FullPath, target, PrivateFiles.FileMode, buffer, long.MaxValue, cancellationToken);
                    bytes += size;
                    if (bytes > MaxBytes) return null;
                    record["kind"] = "file";
                    record["size"] = size;
                    record["sha256"] = digest;
                    break;
            }
            entries.Add(record);
        }
        return new JsonObject { ["version"] = FormatVersion, ["commit"] = commit, ["bytes"] = bytes, ["entries"] = entries };
    }

    private sealed record Item(string Kind, string Path, UnixFileMode Mode, long Size, string? Sha256, string? Target);

    /// <summary>
    /// Copies an entry's tree into <paramref name="directory"/>, checking it against its manifest as it goes; returns
    /// what is wrong with the entry, or null when the copy is whole.
    /// </summary>
    private static string? CopyOut(string entry, string commit, string directory, CancellationToken cancellationToken)
    {
        try
        {
            var (items, problem) = ReadManifest(Path.Combine(entry, ManifestName), commit);
            if (items is null) return problem;
            var tree = new DirectoryInfo(Path.Combine(entry, TreeName));
            if (!tree.Exists || tree.LinkTarget is not null) return "it has no tree";
            PrivateFiles.EnsureDirectory(directory, tightenExisting: false);
            var files = new List<(string Source, string Target, Item Expected)>();
            var directories = new List<(string Path, UnixFileMode Mode)>();
            var index = 0;
            foreach (var item in DirectoryWalk.Enumerate(tree.FullName))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (index >= items.Count) return $"{item.RelativePath} is not in its manifest";
                var expected = items[index++];
                if (expected.Path != item.RelativePath) return $"{expected.Path} is missing";
                // The walk never enters a link, so nothing is ever written below one.
                var target = Path.Combine(directory, item.RelativePath);
                switch (item.Kind)
                {
                    case DirectoryWalk.EntryKind.Directory when expected.Kind == "dir":
                        // Writable while it is filled; its own mode once it is.
                        CreateDirectory(target, PrivateFiles.DirectoryMode);
                        directories.Add((target, expected.Mode));
                        break;
                    case DirectoryWalk.EntryKind.SymbolicLink when expected.Kind == "link" && item.LinkTarget == expected.Target:
                        File.CreateSymbolicLink(target, item.LinkTarget!);
                        break;
                    case DirectoryWalk.EntryKind.File when expected.Kind == "file":
                        files.Add((item.FullPath, target, expected));
                        break;
                    default:
                        return $"{expected.Path} is not the {expected.Kind} its manifest lists";
                }
            }
            if (index != items.Count) return $"{items[index].Path} is missing";
            problem = CopyFiles(files, cancellationToken);
            if (problem is not null) return problem;
            if (!OperatingSystem.IsWindows())
            {
                for (var i = directories.Count - 1; i >= 0; i--) File.SetUnixFileMode(directories[i].Path, directories[i].Mode);
            }
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return e.Message;
        }
    }

    /// <summary>
    /// Copies the files (largest first, on up to 4 threads: the copy and its hashing are most of a hit's time), each
    /// checked against its size and SHA-256; returns the first mismatch.
    /// </summary>
    private static string? CopyFiles(List<(string Source, string Target, Item Expected)> files, CancellationToken cancellationToken)
    {
        string? problem = null;
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Clamp(Environment.ProcessorCount, 1, 4), CancellationToken = cancellationToken };
        try
        {
            Parallel.ForEach(files.OrderByDescending(f => f.Expected.Size), options, () => new byte[BufferSize], (file, state, buffer) =>
            {
                var (size, digest) = CopyHashed(file.Source, file.Target, file.Expected.Mode, buffer, file.Expected.Size + 1, cancellationToken);
                if (size != file.Expected.Size || digest != file.Expected.Sha256)
                {
                    Interlocked.CompareExchange(ref problem, $"{file.Expected.Path} does not match its size and SHA-256", null);
                    state.Stop();
                }
                return buffer;
            }, _ => { });
        }
        catch (AggregateException e) when (e.InnerExceptions.All(i => i is IOException or UnauthorizedAccessException))
        {
            return e.InnerExceptions[0].Message;
        }
        catch (AggregateException e) when (e.InnerExceptions.All(i => i is OperationCanceledException))
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw;
        }
        return problem;
    }

    private static (List<Item>? Items, string? Problem) ReadManifest(string path, string commit)
    {
        var file = new FileInfo(path);
        if (!file.Exists) return (null, "it has no manifest");
        if (file.Length > MaxManifestBytes) return (null, "its manifest is too large");
        try
        {
            var manifest = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new FormatException("not an object");
            if (Number(manifest, "version") != FormatVersion || Text(manifest, "commit") != commit) return (null, "its manifest is of another version or commit");
            var entries = manifest["entries"] as JsonArray ?? throw new FormatException("no entries");
            var items = entries.Select(node => node as JsonObject ?? throw new FormatException("an entry is not an object")).Select(o => new Item(
                Text(o, "kind"), Text(o, "path"), (UnixFileMode)Number(o, "mode"),
                o.ContainsKey("size") ? Number(o, "size") : 0, o.ContainsKey("sha256") ? Text(o, "sha256") : null, o.ContainsKey("target") ? Text(o, "target") : null)).ToList();
            return (items, null);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            return (null, "its manifest cannot be read");
        }

        static string Text(JsonObject o, string name) =>
            o[name] is JsonValue value && value.TryGetValue<string>(out var text) ? text : throw new FormatException($"no {name}");

        static long Number(JsonObject o, string name) =>
            o[name] is JsonValue value && value.TryGetValue<long>(out var number) ? number : throw new FormatException($"no {name}");
    }

    /// <summary>Copies a file (at most <paramref name="limit"/> bytes) while hashing it; the copy gets <paramref name="mode"/>.</summary>
    private static (long Size, string Sha256) CopyHashed(string source, string target, UnixFileMode mode, byte[] buffer, long limit, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long total = 0;
        using (var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1, FileOptions.SequentialScan))
        using (var output = new FileStream(target, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1))
        {
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(output.SafeFileHandle, mode);
            int read;
            while (total < limit && (read = input.Read(buffer, 0, (int)Math.Min(buffer.Length, limit - total))) > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                hash.AppendData(buffer, 0, read);
                output.Write(buffer, 0, read);
                total += read;
            }
        }
        return (total, Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant());
    }

    private static void CreateDirectory(string path, UnixFileMode mode)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
            return;
        }
        Directory.CreateDirectory(path, mode);
        // CreateDirectory applies the umask; the mode recorded is the one the checkout had.
        File.SetUnixFileMode(path, mode);
    }

    private static int ModeOf(string path) => OperatingSystem.IsWindows() ? 0 : (int)File.GetUnixFileMode(path);

    /// <summary>
    /// Removes the least recently used entries (by the time of their last store or hit) until the rest fit
    /// <see cref="MaxBytes"/>, never <paramref name="keep"/>; and what dead processes left behind.
    /// </summary>
    private void Evict(string keep, JobLog log)
    {
        var entries = new List<(string Path, DateTime Used, long Bytes)>();
        foreach (var directory in new DirectoryInfo(Root).EnumerateDirectories())
        {
            if (directory.Name.StartsWith(TemporaryPrefix, StringComparison.Ordinal) || directory.Name.StartsWith(DeletedPrefix, StringComparison.Ordinal))
            {
                if (DateTime.UtcNow - directory.LastWriteTimeUtc > AbandonedAfter) TryDelete(directory.FullName);
                continue;
            }
            if (!EntryName().IsMatch(directory.Name) || directory.FullName == keep) continue;
            entries.Add((directory.FullName, directory.LastWriteTimeUtc, BytesOf(directory.FullName)));
        }
        var total = BytesOf(keep);
        foreach (var (path, _, bytes) in entries.OrderByDescending(e => e.Used))
        {
            total += bytes;
            if (total <= MaxBytes) continue;
            log.Agent($"removed the least recently used cached repository {Path.GetFileName(path)[..12]} ({bytes} bytes) to keep the cache under {MaxBytes} bytes");
            Discard(path);
        }
    }

    private static long BytesOf(string entry)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(Path.Combine(entry, ManifestName)))?["bytes"]?.GetValue<long>() ?? 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or InvalidOperationException or FormatException)
        {
            // No readable manifest: not usable either, so first to go.
            return long.MaxValue / 4;
        }
    }

    private static void TryTouch(string entry)
    {
        try
        {
            Directory.SetLastWriteTimeUtc(entry, DateTime.UtcNow);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Renames an entry aside (atomically, so no reader takes it for whole) and deletes it.</summary>
    private void Discard(string entry)
    {
        var aside = Path.Combine(Root, DeletedPrefix + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.Move(entry, aside);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Already discarded by another agent, or not ours to move.
            return;
        }
        TryDelete(aside);
    }

    private static void TryDelete(string directory)
    {
        try
        {
            DirectoryTree.Delete(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
