namespace WandbLaunch.Engine.FileSystem;

/// <summary>Removing a directory the module wrote (a run's files, a cache entry).</summary>
public static class DirectoryTree
{
    /// <summary>
    /// Deletes <paramref name="directory"/> and everything below it (nothing when it does not exist). Links are removed,
    /// never followed; read-only files (git's objects on Windows) are made writable first.
    /// </summary>
    /// <exception cref="IOException">Something below it could not be deleted.</exception>
    /// <exception cref="UnauthorizedAccessException">Something below it is not the user's to delete.</exception>
    public static void Delete(string directory)
    {
        if (!Directory.Exists(directory)) return;
        foreach (var entry in DirectoryWalk.Enumerate(directory).Where(e => e.Kind == DirectoryWalk.EntryKind.File))
        {
            var attributes = File.GetAttributes(entry.FullPath);
            if (attributes.HasFlag(FileAttributes.ReadOnly)) File.SetAttributes(entry.FullPath, attributes & ~FileAttributes.ReadOnly);
        }
        Directory.Delete(directory, recursive: true);
    }
}
