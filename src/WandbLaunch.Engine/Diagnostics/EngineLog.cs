namespace WandbLaunch.Engine.Diagnostics;

/// <summary>
/// The engine's reporting interface. A caller (a cmdlet, the agent) sets a sink for the work it starts with
/// <see cref="Use"/>; engine code anywhere below reports through <see cref="Verbose(string, string)"/> and <see cref="Debug(string, string)"/>
/// without carrying the sink through every signature. The sink flows with the async context, so work started by one
/// cmdlet reports to that cmdlet only, even when backends and runners are shared across runspaces.
/// </summary>
public static class EngineLog
{
    private static readonly AsyncLocal<IDiagnosticSink?> Current = new();

    /// <summary>Sends the diagnostics of the work started inside the scope to <paramref name="sink"/>.</summary>
    public static IDisposable Use(IDiagnosticSink? sink)
    {
        var previous = Current.Value;
        Current.Value = sink;
        return new Restore(previous);
    }

    public static bool IsEnabled(DiagnosticLevel level) => Current.Value?.IsEnabled(level) == true;

    public static void Verbose(string source, string message) => Write(DiagnosticLevel.Verbose, source, message);

    public static void Debug(string source, string message) => Write(DiagnosticLevel.Debug, source, message);

    /// <summary>Builds the message only when someone listens at this level.</summary>
    public static void Verbose(string source, Func<string> message)
    {
        if (IsEnabled(DiagnosticLevel.Verbose)) Write(DiagnosticLevel.Verbose, source, message());
    }

    /// <summary>Builds the message only when someone listens at this level.</summary>
    public static void Debug(string source, Func<string> message)
    {
        if (IsEnabled(DiagnosticLevel.Debug)) Write(DiagnosticLevel.Debug, source, message());
    }

    private static void Write(DiagnosticLevel level, string source, string message)
    {
        var sink = Current.Value;
        if (sink is not null && sink.IsEnabled(level)) sink.Write(level, source, message);
    }

    private sealed class Restore(IDiagnosticSink? previous) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) Current.Value = previous;
        }
    }
}
