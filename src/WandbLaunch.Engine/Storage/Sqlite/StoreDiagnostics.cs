using System.Diagnostics;
using System.Globalization;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Storage.Sqlite;

/// <summary>
/// What the local store reports (source "store"): at Verbose, a write that waited for another connection's lock; at
/// Debug, each read or write with its time and each SQL statement. Nothing is measured or built when nobody listens.
/// SQL text carries no values (they are parameters), so no secret can be in it.
/// </summary>
internal static class StoreDiagnostics
{
    private const string Source = "store";

    /// <summary>A write that waited this long for the lock is worth saying at Verbose.</summary>
    private static readonly TimeSpan SlowLock = TimeSpan.FromMilliseconds(100);

    /// <summary>A timestamp when someone listens, else 0 (then nothing else here is called).</summary>
    public static long Start() =>
        EngineLog.IsEnabled(DiagnosticLevel.Verbose) || EngineLog.IsEnabled(DiagnosticLevel.Debug) ? Stopwatch.GetTimestamp() : 0;

    public static void LockTaken(string path, long start)
    {
        var waited = Stopwatch.GetElapsedTime(start);
        if (waited < SlowLock) return;
        EngineLog.Verbose(Source, string.Create(CultureInfo.InvariantCulture,
            $"waited {waited.TotalMilliseconds:0} ms for the write lock on {Printable.Quote(path)}: another connection was writing"));
    }

    public static void Done(string kind, string operation, long start)
    {
        if (!EngineLog.IsEnabled(DiagnosticLevel.Debug)) return;
        var name = operation.EndsWith("Async", StringComparison.Ordinal) ? operation[..^5] : operation;
        EngineLog.Debug(Source, string.Create(CultureInfo.InvariantCulture, $"{kind} {name} ({Stopwatch.GetElapsedTime(start).TotalMilliseconds:0.0} ms)"));
    }

    /// <summary>A statement as one line, shortened: enough to see which table and operation.</summary>
    public static void Statement(string sql)
    {
        if (!EngineLog.IsEnabled(DiagnosticLevel.Debug)) return;
        var line = string.Join(' ', sql.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        EngineLog.Debug(Source, "SQL " + Printable.EscapeControls(line.Length > 160 ? line[..160] + "…" : line));
    }

    public static void Opened(string path, long fromVersion, long toVersion)
    {
        if (!EngineLog.IsEnabled(DiagnosticLevel.Verbose)) return;
        var what = fromVersion == toVersion ? $"opened {Printable.Quote(path)} (schema version {toVersion})"
            : fromVersion == 0 ? $"created a new store at {Printable.Quote(path)} (schema version {toVersion})"
            : $"migrated {Printable.Quote(path)} from schema version {fromVersion} to {toVersion}";
        EngineLog.Verbose(Source, what);
    }
}
