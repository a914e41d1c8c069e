using System.Collections.Concurrent;
using WandbLaunch.Engine.Diagnostics;

namespace WandbLaunch.TestSupport;

/// <summary>
/// An engine diagnostics sink that keeps every message, from any thread: <c>using (EngineLog.Use(recording))</c>
/// around the work under test, then assert on <see cref="Lines"/>.
/// </summary>
public sealed class RecordingDiagnostics(bool verbose = true, bool debug = true) : IDiagnosticSink
{
    private readonly ConcurrentQueue<(DiagnosticLevel Level, string Line)> _messages = new();

    public bool IsEnabled(DiagnosticLevel level) => level == DiagnosticLevel.Debug ? debug : verbose;

    public void Write(DiagnosticLevel level, string source, string message) => _messages.Enqueue((level, $"{source}: {message}"));

    /// <summary>Every message as a cmdlet shows it, "source: message", in the order written.</summary>
    public IReadOnlyList<string> Lines => _messages.Select(m => m.Line).ToList();

    public IReadOnlyList<string> At(DiagnosticLevel level) => _messages.Where(m => m.Level == level).Select(m => m.Line).ToList();

    public string All => string.Join('\n', Lines);
}
