namespace WandbLaunch.Engine.FileSystem;

/// <summary>
/// Every entry under a directory, never entering a symbolic link (or junction): a link is reported as a link, so a
/// link loop or a link to '/' cannot make a walk endless or carry it out of the directory.
/// (.NET's recursive enumeration follows directory links.)
/// </summary>
public static class DirectoryWalk
{
    public enum EntryKind
    {
        File,
        Directory,
        SymbolicLink,
    }

    /// <param name="FullPath">The entry's full path.</param>
    /// <param name="RelativePath">Its path below the walked directory, with '/' separators.</param>
    /// <param name="Kind">A file, a directory (walked into) or a link (never followed).</param>
    /// <param name="LinkTarget">For a link, the target it names, as written in the link.</param>
    public sealed record Entry(string FullPath, string RelativePath, EntryKind Kind, string? LinkTarget);

    /// <summary>
    /// The entries below <paramref name="root"/>, depth first, in ordinal order; <paramref name="skip"/> names (files
    /// or directories) are left out with everything below them; a directory for which <paramref name="enter"/>
    /// returns false is reported but not walked into.
    /// </summary>
    public static IEnumerable<Entry> Enumerate(string root, IReadOnlyCollection<string>? skip = null, Func<Entry, bool>? enter = null)
    {
        var pending = new Stack<(string Full, string Relative)>();
        pending.Push((Path.GetFullPath(root), ""));
        while (pending.Count > 0)
        {
            var (directory, relative) = pending.Pop();
            var children = new DirectoryInfo(directory).EnumerateFileSystemInfos("*", new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = false })
                .Where(c => skip is null || !skip.Contains(c.Name))
                .OrderBy(c => c.Name, StringComparer.Ordinal)
                .ToList();
            var subdirectories = new List<(string, string)>();
            foreach (var child in children)
            {
                var childRelative = relative.Length == 0 ? child.Name : relative + "/" + child.Name;
                if (child.Attributes.HasFlag(FileAttributes.ReparsePoint) && child.LinkTarget is { } target)
                {
                    yield return new Entry(child.FullName, childRelative, EntryKind.SymbolicLink, target);
                }
                else if (child is DirectoryInfo)
                {
                    var entry = new Entry(child.FullName, childRelative, EntryKind.Directory, null);
                    yield return entry;
                    if (enter is null || enter(entry)) subdirectories.Add((child.FullName, childRelative));
                }
                else
                {
                    yield return new Entry(child.FullName, childRelative, EntryKind.File, null);
                }
            }
            for (var i = subdirectories.Count - 1; i >= 0; i--) pending.Push(subdirectories[i]);
        }
    }
}
