using System.Diagnostics;
using System.Text;

namespace JobBench;

/// <summary>A job's code for the benchmarks: <c>main.py</c>, <c>requirements.txt</c> and text files (a package of modules) of a given total size.</summary>
internal static class CodeTree
{
    /// <summary>
    /// Writes <paramref name="files"/> files of about <paramref name="totalBytes"/> in all below <paramref name="directory"/>:
    /// sizes spread from half to one and a half times the mean, contents random printable text (base64 lines, so git
    /// and the Docker context compress them about as they would source code with long identifiers: 3:4).
    /// Deterministic for a seed. Returns the bytes written.
    /// </summary>
    public static long Write(string directory, int files, long totalBytes, int seed = 13)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "main.py"), "import wandb\nrun = wandb.init()\nrun.finish()\n");
        File.WriteAllText(Path.Combine(directory, "requirements.txt"), "wandb\n");
        long written = 0;
        var random = new Random(seed);
        var mean = totalBytes / Math.Max(1, files - 2);
        var raw = new byte[57];
        for (var i = 0; i < files - 2; i++)
        {
            var size = mean / 2 + (long)(random.NextDouble() * mean);
            var text = new StringBuilder((int)size + 80);
            while (text.Length < size)
            {
                random.NextBytes(raw);
                text.Append("# ").Append(Convert.ToBase64String(raw)).Append('\n');
            }
            var path = Path.Combine(directory, "pkg", $"sub{i % 10}", $"module_{i}.py");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text.ToString());
            written += text.Length;
        }
        return written + new FileInfo(Path.Combine(directory, "main.py")).Length + new FileInfo(Path.Combine(directory, "requirements.txt")).Length;
    }

    public static int CountFiles(string directory, bool skipGit = false) =>
        Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .Count(f => !skipGit || !Path.GetRelativePath(directory, f).StartsWith(".git" + Path.DirectorySeparatorChar, StringComparison.Ordinal));

    /// <summary>Runs a program to its end; throws with its error output on a non-zero exit.</summary>
    public static string Run(string program, string? workingDirectory, params string[] arguments)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (workingDirectory is not null) info.WorkingDirectory = workingDirectory;
        foreach (var a in arguments) info.ArgumentList.Add(a);
        info.Environment["GIT_AUTHOR_NAME"] = info.Environment["GIT_COMMITTER_NAME"] = "bench";
        info.Environment["GIT_AUTHOR_EMAIL"] = info.Environment["GIT_COMMITTER_EMAIL"] = "bench@example.com";
        info.Environment["GIT_CONFIG_NOSYSTEM"] = "1";
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}): {error}");
        return output.Result.Trim();
    }

    public static void Delete(string directory)
    {
        if (!Directory.Exists(directory)) return;
        foreach (var file in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories))
        {
            var attributes = File.GetAttributes(file);
            if (attributes.HasFlag(FileAttributes.ReadOnly)) File.SetAttributes(file, attributes & ~FileAttributes.ReadOnly);
        }
        Directory.Delete(directory, recursive: true);
    }
}
