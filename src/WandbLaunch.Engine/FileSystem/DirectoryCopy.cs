namespace WandbLaunch.Engine.FileSystem;

/// <summary>Copies a directory tree as Python's <c>shutil.copytree(symlinks=True, ignore=...)</c> does.</summary>
public static class DirectoryCopy
{
    /// <summary>
    /// Copies <paramref name="source"/> to <paramref name="target"/> (created; must not exist): files and directories,
    /// links as links with the target they name (never followed, so nothing outside the source is read), and
    /// <paramref name="skip"/> names left out at every depth.
    /// </summary>
    public static void Copy(string source, string target, IReadOnlyCollection<string>? skip = null)
    {
        Directory.CreateDirectory(target);
        foreach (var entry in DirectoryWalk.Enumerate(source, skip))
        {
            var to = Path.Combine(target, entry.RelativePath.Replace('/', Path.DirectorySeparatorChar));
            switch (entry.Kind)
            {
                case DirectoryWalk.EntryKind.Directory:
                    Directory.CreateDirectory(to);
                    break;
                case DirectoryWalk.EntryKind.SymbolicLink:
                    File.CreateSymbolicLink(to, entry.LinkTarget!);
                    break;
                default:
                    File.Copy(entry.FullPath, to);
                    break;
            }
        }
    }
}
