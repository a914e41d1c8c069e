using System.Text;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Storage.Wandb;

/// <summary>
/// The <c>[default]</c> section of W&amp;B's settings files (INI, written by <c>wandb login --host</c> and
/// <c>wandb init</c>): the global <c>$WANDB_CONFIG_DIR/settings</c> (else <c>~/.config/wandb/settings</c>), then the
/// workspace's <c>wandb/settings</c>, whose values win. Files larger than <see cref="MaxBytes"/> or not readable
/// are ignored, as W&amp;B ignores a settings file it cannot parse.
/// </summary>
public sealed class WandbSettingsFile
{
    public const int MaxBytes = 64 * 1024;

    private readonly Dictionary<string, string> _values;

    private WandbSettingsFile(Dictionary<string, string> values) => _values = values;

    /// <summary>A value of the <c>[default]</c> section, or null.</summary>
    public string? this[string key] => _values.TryGetValue(key, out var value) && value.Length > 0 ? value : null;

    /// <summary>The settings that apply to a process with this environment, home and working directory.</summary>
    public static WandbSettingsFile Load(Func<string, string?> environment, string home, string workingDirectory)
    {
        var configDir = environment("WANDB_CONFIG_DIR") is { Length: > 0 } dir ? dir : Path.Combine(home, ".config", "wandb");
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var path in new[] { Path.Combine(configDir, "settings"), Path.Combine(workingDirectory, "wandb", "settings") })
        {
            foreach (var (key, value) in ReadDefaultSection(path)) values[key] = value;
        }
        return new WandbSettingsFile(values);
    }

    /// <summary>The <c>[default]</c> section of INI <paramref name="text"/> (<c>key = value</c> or <c>key: value</c>; <c>#</c>/<c>;</c> comments).</summary>
    public static IReadOnlyDictionary<string, string> ParseDefaultSection(string text)
    {
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var inDefault = false;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';') continue;
            if (line[0] == '[' && line[^1] == ']')
            {
                inDefault = line[1..^1].Trim() == "default";
                continue;
            }
            if (!inDefault) continue;
            var separator = line.IndexOfAny(['=', ':']);
            if (separator <= 0) continue;
            values[line[..separator].Trim()] = line[(separator + 1)..].Trim();
        }
        return values;
    }

    private static IReadOnlyDictionary<string, string> ReadDefaultSection(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) return new Dictionary<string, string>();
            if (info.Length > MaxBytes)
            {
                EngineLog.Verbose("wandb", $"settings {Printable.Quote(path)} ignored: larger than {MaxBytes} bytes");
                return new Dictionary<string, string>();
            }
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var buffer = new byte[MaxBytes + 1];
            var read = 0;
            int n;
            while (read < buffer.Length && (n = stream.Read(buffer, read, buffer.Length - read)) > 0) read += n;
            if (read > MaxBytes) return new Dictionary<string, string>();
            return ParseDefaultSection(new UTF8Encoding(false, true).GetString(buffer, 0, read));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or DecoderFallbackException or NotSupportedException or ArgumentException)
        {
            EngineLog.Verbose("wandb", $"settings {Printable.Quote(path)} ignored: cannot be read ({e.GetType().Name})");
            return new Dictionary<string, string>();
        }
    }
}
