using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;

namespace WandbLaunch.Engine.Builders;

/// <summary>
/// The build context as a tar stream (the plan's Dockerfile added as Dockerfile.wandb) and the image tag: the
/// first 8 hex characters of sha256 over the context's files (paths and contents, in a stable order) and the
/// Dockerfile. An unchanged job gets the same tag, so its build can be skipped.
/// </summary>
public static class ContextArchive
{
    private static readonly string[] Skipped = [".git", "__pycache__", ".venv", "node_modules"];

    public static IReadOnlyList<string> Files(string context) =>
        Directory.EnumerateFiles(context, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(context, f).Replace('\\', '/'))
            .Where(f => !f.Split('/').Any(part => Skipped.Contains(part)) && f != BuildPlan.DockerfileName)
            .OrderBy(f => f, StringComparer.Ordinal)
            .ToList();

    public static string Tag(BuildPlan plan)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var file in Files(plan.ContextDirectory))
        {
            hash.AppendData(Encoding.UTF8.GetBytes(file + "\0"));
            using var stream = File.OpenRead(Path.Combine(plan.ContextDirectory, file));
            var buffer = new byte[81920];
            int read;
            while ((read = stream.Read(buffer, 0, buffer.Length)) > 0) hash.AppendData(buffer, 0, read);
            hash.AppendData("\0"u8);
        }
        hash.AppendData(Encoding.UTF8.GetBytes(plan.Dockerfile));
        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant()[..8];
    }

    public static MemoryStream Create(BuildPlan plan)
    {
        var output = new MemoryStream();
        using (var tar = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var file in Files(plan.ContextDirectory))
            {
                tar.WriteEntry(Path.Combine(plan.ContextDirectory, file), file);
            }
            var dockerfile = new PaxTarEntry(TarEntryType.RegularFile, BuildPlan.DockerfileName)
            {
                DataStream = new MemoryStream(Encoding.UTF8.GetBytes(plan.Dockerfile)),
                Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            };
            tar.WriteEntry(dockerfile);
        }
        output.Position = 0;
        return output;
    }
}
