using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.FileSystem;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Builders;

/// <summary>
/// The build context as a tar stream (the plan's Dockerfile added as Dockerfile.wandb) and the image tag: the
/// first 8 hex characters of sha256 over the context's files (paths and contents, in a stable order) and the
/// Dockerfile. An unchanged job gets the same tag, so its build can be skipped.
/// Symbolic links are never followed: a relative link that stays inside the context goes into the archive as a
/// link; an absolute link, or one that leads out of the context (or into a link loop), fails the build, so nothing
/// outside the job's code (a link to /etc/passwd, to ~/.ssh) can reach an image.
/// The context root's <c>.dockerignore</c> applies as the docker CLI applies it (<see cref="DockerIgnore"/>): an
/// excluded file is neither sent nor hashed, so editing an ignored file keeps the tag and the image; an excluded link
/// is not checked. Directories named in <see cref="Skipped"/> are always left out.
/// </summary>
public static class ContextArchive
{
    private static readonly string[] Skipped = [".git", "__pycache__", ".venv", "node_modules"];

    /// <summary>The files and links of <paramref name="context"/> sent when it is the context's root (its .dockerignore applied), relative, '/'-separated, in ordinal order.</summary>
    public static IReadOnlyList<string> Files(string context) => Entries(context, applyDockerIgnore: true).Select(e => e.RelativePath).ToList();

    /// <summary>
    /// The plan's files and links that go into the archive (links checked, see the class summary), in ordinal order
    /// of their paths. The code's <c>.dockerignore</c> applies only when the code is the archive's root, as with the
    /// docker CLI (W&amp;B's generated Dockerfile puts the code under <c>src/</c>, where Docker does not read it).
    /// </summary>
    public static IReadOnlyList<DirectoryWalk.Entry> Entries(BuildPlan plan) => Entries(plan.ContextDirectory, applyDockerIgnore: plan.ArchivePrefix.Length == 0);

    private static IReadOnlyList<DirectoryWalk.Entry> Entries(string context, bool applyDockerIgnore)
    {
        try
        {
            var root = ContainedPath.Resolve(context);
            var ignore = applyDockerIgnore ? ReadDockerIgnore(context, root) : DockerIgnore.None;
            var states = new Dictionary<string, DockerIgnore.MatchState>(StringComparer.Ordinal);
            var excludedDirectories = new HashSet<string>(StringComparer.Ordinal);
            bool Sent(DirectoryWalk.Entry entry)
            {
                if (ignore.IsEmpty) return true;
                // The docker CLI always sends the .dockerignore (and the Dockerfile, which is the plan's Dockerfile.wandb here).
                if (entry.RelativePath == DockerIgnore.FileName) return true;
                var slash = entry.RelativePath.LastIndexOf('/');
                var parent = slash < 0 ? null : states.GetValueOrDefault(entry.RelativePath[..slash]);
                var excluded = ignore.Excludes(entry.RelativePath, parent, out var state);
                if (entry.Kind == DirectoryWalk.EntryKind.Directory)
                {
                    states[entry.RelativePath] = state;
                    if (excluded) excludedDirectories.Add(entry.RelativePath);
                }
                return !excluded;
            }
            // An excluded directory is not even listed (a 2 GB data/) unless an exception may re-include something in it.
            bool Enter(DirectoryWalk.Entry directory) =>
                !excludedDirectories.Contains(directory.RelativePath) || ignore.MayReincludeBelow(directory.RelativePath);
            return DirectoryWalk.Enumerate(context, Skipped, Enter)
                .Where(Sent)
                .Where(e => e.Kind != DirectoryWalk.EntryKind.Directory && e.RelativePath != BuildPlan.DockerfileName)
                .Select(e => e.Kind == DirectoryWalk.EntryKind.SymbolicLink ? CheckLink(context, root, e) : e)
                .OrderBy(e => e.RelativePath, StringComparer.Ordinal)
                .ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new JobFailedException(FailureStage.Build, $"Cannot read the job's code in {context}: {e.Message}", e);
        }
    }

    /// <summary>The context root's .dockerignore, never read through a link that leaves the context.</summary>
    private static DockerIgnore ReadDockerIgnore(string context, string resolvedRoot)
    {
        var path = Path.Combine(context, DockerIgnore.FileName);
        var info = new FileInfo(path);
        if (info.LinkTarget is { } target)
        {
            CheckLink(context, resolvedRoot, new DirectoryWalk.Entry(info.FullName, DockerIgnore.FileName, DirectoryWalk.EntryKind.SymbolicLink, target));
            path = ContainedPath.Resolve(path);
            info = new FileInfo(path);
        }
        return info.Exists ? DockerIgnore.Read(path) : DockerIgnore.None;
    }

    public static string Tag(BuildPlan plan)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var entry in Entries(plan))
        {
            hash.AppendData(Encoding.UTF8.GetBytes(entry.RelativePath + "\0"));
            if (entry.Kind == DirectoryWalk.EntryKind.SymbolicLink)
            {
                hash.AppendData(Encoding.UTF8.GetBytes("link\0" + entry.LinkTarget + "\0"));
                continue;
            }
            using var stream = File.OpenRead(entry.FullPath);
            var buffer = new byte[81920];
            int read;
            while ((read = stream.Read(buffer, 0, buffer.Length)) > 0) hash.AppendData(buffer, 0, read);
            hash.AppendData("\0"u8);
        }
        hash.AppendData(Encoding.UTF8.GetBytes(plan.Dockerfile));
        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant()[..8];
    }

    /// <summary>
    /// The context as a tar stream in GNU format, the Dockerfile first: BuildKit decides whether a request body is an
    /// archive from its first 1024 bytes, which must hold a whole first entry (PAX writes an extended header before
    /// every entry, and a long first name needs a GNU long-name record).
    /// </summary>
    public static MemoryStream Create(BuildPlan plan)
    {
        var output = new MemoryStream();
        using (var tar = new TarWriter(output, TarEntryFormat.Gnu, leaveOpen: true))
        {
            tar.WriteEntry(new GnuTarEntry(TarEntryType.RegularFile, BuildPlan.DockerfileName)
            {
                DataStream = new MemoryStream(Encoding.UTF8.GetBytes(plan.Dockerfile)),
                Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            });
            foreach (var entry in Entries(plan))
            {
                var path = plan.ArchivePrefix + entry.RelativePath;
                if (plan.ExtraFiles.ContainsKey(path)) continue;
                if (entry.Kind == DirectoryWalk.EntryKind.SymbolicLink)
                {
                    tar.WriteEntry(new GnuTarEntry(TarEntryType.SymbolicLink, path)
                    {
                        LinkName = entry.LinkTarget!.Replace('\\', '/'),
                        Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead |
                               UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute,
                    });
                    continue;
                }
                tar.WriteEntry(entry.FullPath, path);
            }
            foreach (var (path, text) in plan.ExtraFiles.OrderBy(f => f.Key, StringComparer.Ordinal))
            {
                tar.WriteEntry(new GnuTarEntry(TarEntryType.RegularFile, path)
                {
                    DataStream = new MemoryStream(Encoding.UTF8.GetBytes(text)),
                    Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                });
            }
        }
        output.Position = 0;
        return output;
    }

    private static DirectoryWalk.Entry CheckLink(string context, string resolvedRoot, DirectoryWalk.Entry link)
    {
        var target = link.LinkTarget!;
        if (Path.IsPathRooted(target) || target.StartsWith('/') || target.StartsWith('\\'))
        {
            throw Refused(link, "it is absolute; only relative links that stay inside the job's code are allowed");
        }
        string resolved;
        try
        {
            resolved = ContainedPath.Resolve(link.FullPath);
        }
        catch (FileSystem.SymbolicLinkLoopException)
        {
            throw Refused(link, $"it is part of a loop of links (more than {ContainedPath.MaxLinkHops} links in a row); remove the loop");
        }
        if (!ContainedPath.IsInside(resolvedRoot, resolved))
        {
            throw Refused(link, $"it leads out of the build context {context}; only relative links that stay inside the job's code are allowed");
        }
        return link;
    }

    private static JobFailedException Refused(DirectoryWalk.Entry link, string why) =>
        new(FailureStage.Build, $"The job's code has a symbolic link {Text.Printable.Quote(link.RelativePath)} -> {Text.Printable.Quote(link.LinkTarget)} that cannot be built: {why}.");
}
