using System.Runtime.InteropServices;

namespace WandbLaunch.Engine.Agent;

/// <summary>
/// SIGTERM, SIGHUP and SIGINT stop a foreground agent as Ctrl+C does: the signal's default action (ending the process
/// at once) is cancelled, the agent is asked to stop (<see cref="LaunchAgent.RequestStop"/>), and it stops or leaves
/// its jobs, releases its leases and records KILLED. The caller then ends the process for SIGTERM and SIGHUP, with
/// exit code 128 + the signal's number (143, 129), as a shell reports a process ended by that signal; SIGINT is Ctrl+C,
/// so the caller returns as from Ctrl+C (an interactive session stays open).
/// </summary>
public sealed class TerminationSignals : IDisposable
{
    private readonly List<PosixSignalRegistration> _registrations = [];
    private PosixSignal? _received;

    private TerminationSignals(LaunchAgent agent)
    {
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGINT })
        {
            try
            {
                _registrations.Add(PosixSignalRegistration.Create(signal, context =>
                {
                    context.Cancel = true;
                    lock (_registrations) _received ??= context.Signal;
                    agent.RequestStop(AgentStopReason.Signal, $"it received {Name(context.Signal)}");
                }));
            }
            catch (PlatformNotSupportedException)
            {
                // SIGHUP has no Windows equivalent; the others map to console events there.
            }
        }
    }

    /// <summary>Stops <paramref name="agent"/> on SIGTERM, SIGHUP or SIGINT until disposed.</summary>
    public static TerminationSignals StopOnSignal(LaunchAgent agent) => new(agent);

    /// <summary>The first signal received, if any.</summary>
    public PosixSignal? Received
    {
        get
        {
            lock (_registrations) return _received;
        }
    }

    /// <summary>
    /// The exit code the process should end with once the agent has stopped: 128 + the signal's number for SIGTERM
    /// (143) and SIGHUP (129); null when no signal came or it was SIGINT (handled as Ctrl+C, the session goes on).
    /// </summary>
    public int? ExitCode => Received switch
    {
        PosixSignal.SIGTERM => 128 + 15,
        PosixSignal.SIGHUP => 128 + 1,
        _ => null,
    };

    public static string Name(PosixSignal signal) => signal switch
    {
        PosixSignal.SIGTERM => "SIGTERM",
        PosixSignal.SIGHUP => "SIGHUP",
        PosixSignal.SIGINT => "SIGINT",
        PosixSignal.SIGQUIT => "SIGQUIT",
        _ => signal.ToString(),
    };

    public void Dispose()
    {
        foreach (var registration in _registrations) registration.Dispose();
    }
}
