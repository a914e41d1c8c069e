using WandbLaunch.Engine.Diagnostics;

namespace WandbLaunch.Engine.Agent;

/// <summary>
/// The agent's diagnostic sink: what the engine reports while the agent works (the agent itself, the store, builders,
/// registries, runners) becomes <see cref="AgentEventKind.Verbose"/> and <see cref="AgentEventKind.Debug"/> events in
/// the agent's one event stream, redacted with the agent's secrets and prefixed with the part that reported.
/// </summary>
internal sealed class AgentDiagnostics(DiagnosticLevel? level, AgentContext agent) : IDiagnosticSink
{
    public bool IsEnabled(DiagnosticLevel wanted) => level is { } least && wanted >= least;

    public void Write(DiagnosticLevel wanted, string source, string message)
    {
        if (!IsEnabled(wanted)) return;
        agent.Report(wanted == DiagnosticLevel.Debug ? AgentEventKind.Debug : AgentEventKind.Verbose, $"[{source}] {message}");
    }
}
