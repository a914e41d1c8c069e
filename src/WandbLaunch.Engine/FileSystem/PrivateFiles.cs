namespace WandbLaunch.Engine.FileSystem;

/// <summary>
/// Files and directories the module creates and owns (the store and its -wal/-shm files, job logs and their
/// cursors, the logs and work directories) are private to the user on Unix: files 0600, directories 0700, set
/// when they are created (not left to the umask) and tightened when an existing one is opened. On Windows nothing
/// is changed: files there inherit the ACL of the user's profile. Directories the user chose that the module does
/// not own (a code directory, the folder a store file was put in) are never changed.
/// </summary>
public static class PrivateFiles
{
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    [System.Runtime.Versioning.UnsupportedOSPlatformGuard("windows")]
    private static bool Applies => !OperatingSystem.IsWindows();

    /// <summary>
    /// Creates <paramref name="path"/> (and missing parents) as 0700 directories; an existing directory is made 0700
    /// when <paramref name="tightenExisting"/> (directories the module owns), and left as it is otherwise.
    /// </summary>
    public static void EnsureDirectory(string path, bool tightenExisting = true)
    {
        if (!Applies)
        {
            Directory.CreateDirectory(path);
            return;
        }
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            if (tightenExisting) Tighten(full, DirectoryMode);
            return;
        }
        // Parents made here are the module's too (~/.config/wandb/launch): each is created 0700.
        var parent = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(parent) && !Directory.Exists(parent)) EnsureDirectory(parent, tightenExisting: false);
        Directory.CreateDirectory(full, DirectoryMode);
        // CreateDirectory applies the umask: an unusual one (e.g. 0277) would leave it unusable, so the mode is set outright.
        File.SetUnixFileMode(full, DirectoryMode);
    }

    /// <summary>Makes an existing file 0600 (nothing when it does not exist).</summary>
    public static void TightenFile(string path)
    {
        if (Applies && File.Exists(path)) Tighten(path, FileMode);
    }

    /// <summary>Opens <paramref name="path"/> for appending, created 0600 when new and tightened when it exists.</summary>
    public static FileStream OpenAppend(string path, FileShare share, int bufferSize = 4096)
    {
        var options = new FileStreamOptions { Mode = System.IO.FileMode.Append, Access = FileAccess.Write, Share = share, BufferSize = bufferSize };
        if (Applies) options.UnixCreateMode = FileMode;
        var stream = new FileStream(path, options);
        TightenFile(path);
        return stream;
    }

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/>, created 0600.</summary>
    public static void WriteAllText(string path, string text)
    {
        var options = new FileStreamOptions { Mode = System.IO.FileMode.Create, Access = FileAccess.Write, Share = FileShare.ReadWrite | FileShare.Delete };
        if (Applies) options.UnixCreateMode = FileMode;
        using (var stream = new FileStream(path, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(text);
        }
        TightenFile(path);
    }

    /// <summary>
    /// Creates an empty 0600 file at <paramref name="path"/> unless one exists, which is tightened instead. Failing
    /// quietly: the caller's own open of the file says what is wrong.
    /// </summary>
    public static void EnsureFile(string path)
    {
        if (!Applies) return;
        try
        {
            if (!File.Exists(path) && !Directory.Exists(path))
            {
                using var _ = new FileStream(path, new FileStreamOptions
                {
                    Mode = System.IO.FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.ReadWrite | FileShare.Delete, UnixCreateMode = FileMode,
                });
            }
            TightenFile(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Made by another process meanwhile, or not creatable here: whoever opens the file next reports why.
        }
    }

    private static void Tighten(string path, UnixFileMode mode)
    {
        if (OperatingSystem.IsWindows()) return;
        try
        {
            // Only what is wider is narrowed: a file the user made stricter stays so.
            var current = File.GetUnixFileMode(path);
            if ((current & ~mode) != 0) File.SetUnixFileMode(path, current & mode);
        }
        catch (UnauthorizedAccessException)
        {
            // Not the user's (a shared store another user created): using it is still allowed; it is theirs to tighten.
        }
    }
}
