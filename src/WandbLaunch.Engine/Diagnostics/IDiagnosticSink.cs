namespace WandbLaunch.Engine.Diagnostics;

/// <summary>
/// Where the engine reports what it does. Called from any thread: implementations must be thread-safe and must not
/// block. Messages are already printable and free of secrets (callers pass values through Text/Printable and
/// Secrets/SecretRedactor before reporting them).
/// </summary>
public interface IDiagnosticSink
{
    /// <summary>Whether messages at this level are wanted; lets callers skip building them.</summary>
    bool IsEnabled(DiagnosticLevel level);

    /// <param name="level">How much detail the message carries.</param>
    /// <param name="source">The part of the engine that reports, e.g. "store", "agent", "docker", "registry".</param>
    /// <param name="message">The message, printable and free of secrets.</param>
    void Write(DiagnosticLevel level, string source, string message);
}
