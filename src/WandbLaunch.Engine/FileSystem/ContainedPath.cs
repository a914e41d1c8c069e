using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.FileSystem;

/// <summary>
/// Joins a value from a spec or the store (a run id, a working_dir, a log path) to a directory the agent owns, and
/// refuses any result outside it: lexically ('..', rooted values) and through symbolic links already on disk. The
/// returned path has no '..' left, so what the OS opens is what was checked.
/// </summary>
public static class ContainedPath
{
    /// <summary>Links followed while resolving one path before it counts as a loop (Linux's own limit is 40).</summary>
    public const int MaxLinkHops = 40;

    private static readonly StringComparison PathComparison =
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    /// <summary>
    /// <paramref name="root"/>/<paramref name="relative"/> as a full path, refused with <c>PathOutsideDirectory</c>
    /// unless it is strictly inside root (or root itself, with <paramref name="allowRoot"/>).
    /// </summary>
    /// <param name="root">The directory the result must stay in.</param>
    /// <param name="relative">The value from the spec or the store.</param>
    /// <param name="what">What the value is, for the message ("run id", "overrides.working_dir").</param>
    /// <param name="allowRoot">Whether root itself is an acceptable result.</param>
    public static string Join(string root, string relative, string what, bool allowRoot = false)
    {
        if (relative.Contains('\0'))
        {
            throw Outside(root, relative, what, "it contains a NUL character");
        }
        if (Path.IsPathRooted(relative) || relative.StartsWith('/') || relative.StartsWith('\\'))
        {
            throw Outside(root, relative, what, "it is an absolute path");
        }
        var rootFull = Path.GetFullPath(root);
        var full = Path.GetFullPath(Path.Join(rootFull, relative));
        if (!IsInside(rootFull, full, allowRoot))
        {
            throw Outside(root, relative, what, "it does not name something below that directory");
        }
        bool inside;
        try
        {
            inside = IsInside(Resolve(rootFull), Resolve(full), allowRoot);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A name too long for the file system, a directory that cannot be read: what is on disk cannot be checked.
            throw Outside(root, relative, what, $"it cannot be resolved on disk ({e.Message})");
        }
        if (!inside)
        {
            throw Outside(root, relative, what, "a symbolic link on the way leads out of that directory");
        }
        return full;
    }

    /// <summary>Whether <paramref name="path"/> (a full path, as read from the store) is inside <paramref name="root"/>, links resolved.</summary>
    public static bool Contains(string root, string path)
    {
        if (path.Contains('\0') || !Path.IsPathFullyQualified(path)) return false;
        var rootFull = Path.GetFullPath(root);
        var full = Path.GetFullPath(path);
        try
        {
            return IsInside(rootFull, full, allowRoot: false) && IsInside(Resolve(rootFull), Resolve(full), allowRoot: false);
        }
        catch (Exception e) when (e is LaunchException or IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// The path with every symbolic link on it resolved, as the OS would (a '..' after a link leaves the link's
    /// target). Parts that do not exist are kept as given. A chain of more than <see cref="MaxLinkHops"/> links is
    /// refused with <c>SymbolicLinkLoop</c>.
    /// </summary>
    public static string Resolve(string path)
    {
        var full = Path.GetFullPath(path);
        var current = Path.GetPathRoot(full)!;
        var pending = new Stack<string>(Parts(full[current.Length..]).Reverse());
        var hops = 0;
        while (pending.Count > 0)
        {
            var part = pending.Pop();
            if (part == ".") continue;
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? current;
                continue;
            }
            var next = Path.Join(current, part);
            var target = LinkTarget(next);
            if (target is null)
            {
                current = next;
                continue;
            }
            if (++hops > MaxLinkHops)
            {
                throw new SymbolicLinkLoopException(
                    $"The path {Text.Printable.Quote(path)} passes through more than {MaxLinkHops} symbolic links (a link loop); remove the loop.", path);
            }
            if (Path.IsPathRooted(target))
            {
                current = Path.GetPathRoot(target)!;
                target = target[current.Length..];
            }
            foreach (var p in Parts(target).Reverse()) pending.Push(p);
        }
        return current;
    }

    /// <summary>The target a symbolic link at <paramref name="path"/> names, or null when it is not a link (or does not exist).</summary>
    internal static string? LinkTarget(string path)
    {
        var info = new FileInfo(path);
        return (int)info.Attributes != -1 && info.Attributes.HasFlag(FileAttributes.ReparsePoint) ? info.LinkTarget : null;
    }

    private static IEnumerable<string> Parts(string path) =>
        path.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar], StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Whether full path <paramref name="path"/> is <paramref name="root"/> or below it, compared as written (resolve links first).</summary>
    public static bool IsInside(string root, string path, bool allowRoot = true)
    {
        var trimmedRoot = Path.TrimEndingDirectorySeparator(root);
        var trimmedPath = Path.TrimEndingDirectorySeparator(path);
        if (string.Equals(trimmedRoot, trimmedPath, PathComparison)) return allowRoot;
        var prefix = trimmedRoot.EndsWith(Path.DirectorySeparatorChar) ? trimmedRoot : trimmedRoot + Path.DirectorySeparatorChar;
        return trimmedPath.StartsWith(prefix, PathComparison);
    }

    private static LaunchException Outside(string root, string relative, string what, string why) =>
        LaunchException.InvalidData("PathOutsideDirectory",
            $"The {what} {Text.Printable.Quote(relative)} points outside {root}: {why}. " +
            "Only relative paths that stay inside that directory are allowed.", relative);
}
