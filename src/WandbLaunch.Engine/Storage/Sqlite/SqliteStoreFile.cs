using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Storage.Sqlite;

/// <summary>
/// Notices that the store file a process has open is no longer the one at its path. SQLite keeps working on a file
/// that was deleted or had another moved over it, silently, so an agent would go on writing where nobody reads:
/// the file must still exist, and (on Linux, through /proc/self/fd) no descriptor of this process may point at a
/// deleted store file of that name.
/// </summary>
internal static class SqliteStoreFile
{
    public static void Check(string path)
    {
        if (!File.Exists(path)) throw Deleted(path);
        if (HoldsDeletedCopy(path)) throw Replaced(path);
    }

    public static StoreException Deleted(string path, Exception? inner = null) =>
        new("StoreDeleted", StoreFault.Deleted, LaunchErrorCategory.ResourceUnavailable,
            $"The launch store '{path}' was deleted while in use: what this process writes can no longer reach any other. " +
            "Restore the file, or start the agent again (it then uses a new, empty store).", path, inner);

    public static StoreException Replaced(string path) =>
        new("StoreReplaced", StoreFault.Replaced, LaunchErrorCategory.ResourceUnavailable,
            $"The launch store '{path}' was replaced by another file while in use (moved or copied over it, restored from a backup); " +
            "this process still had the old file open. Start the agent again to use the file now at that path.", path);

    private static bool HoldsDeletedCopy(string path)
    {
        if (!OperatingSystem.IsLinux() || !Directory.Exists("/proc/self/fd")) return false;
        var deleted = path + " (deleted)";
        try
        {
            foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
            {
                try
                {
                    if (new FileInfo(fd).LinkTarget == deleted) return true;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Closed while we looked.
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return false;
    }
}
