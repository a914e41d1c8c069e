using System.Runtime.InteropServices;

namespace WandbLaunch.Engine.Agent;

/// <summary>
/// SIGTERM, SIGHUP and SIGINT stop the process's agents as Ctrl+C does, instead of ending the process under them
/// with their jobs still Running and nobody watching. While an agent is subscribed, the signal's default action is
/// cancelled, the agent is asked to stop (<see cref="LaunchAgent.RequestStop"/>) and stops or leaves its jobs,
/// releases its leases and records KILLED. Then:
/// <list type="bullet">
/// <item>SIGTERM and SIGHUP end the process once every stopped agent's subscription is completed (at most
/// <see cref="ShutdownLimit"/> later), with exit code 128 + the signal's number (143, 129), as a shell reports a
/// process ended by that signal.</item>
/// <item>SIGINT is Ctrl+C: it stops only agents subscribed with <c>interrupt</c> (the foreground one), and the
/// process goes on (an interactive session stays open; <c>pwsh -c</c> ends when its command does).</item>
/// </list>
/// With no agent subscribed, a signal keeps its default action.
/// </summary>
public static class TerminationSignals
{
    /// <summary>The longest the process waits for its agents to stop after SIGTERM or SIGHUP before it exits anyway.</summary>
    public static readonly TimeSpan ShutdownLimit = TimeSpan.FromSeconds(90);

    private static readonly object Lock = new();
    private static readonly List<Subscription> Subscriptions = [];
    private static List<PosixSignalRegistration>? _registrations;
    private static int _exiting;

    /// <summary>
    /// Stops <paramref name="agent"/> on SIGTERM and SIGHUP, and on SIGINT too when <paramref name="interrupt"/>, until
    /// the subscription is disposed. Complete the subscription once the agent has stopped and its last lines are out.
    /// </summary>
    public static Subscription Subscribe(LaunchAgent agent, bool interrupt)
    {
        var subscription = new Subscription(agent, interrupt);
        lock (Lock)
        {
            _registrations ??= Register();
            Subscriptions.Add(subscription);
        }
        return subscription;
    }

    public static int ExitCodeOf(PosixSignal signal) => signal switch
    {
        PosixSignal.SIGTERM => 128 + 15,
        PosixSignal.SIGHUP => 128 + 1,
        PosixSignal.SIGINT => 128 + 2,
        _ => 1,
    };

    public static string Name(PosixSignal signal) => signal switch
    {
        PosixSignal.SIGTERM => "SIGTERM",
        PosixSignal.SIGHUP => "SIGHUP",
        PosixSignal.SIGINT => "SIGINT",
        _ => signal.ToString(),
    };

    private static List<PosixSignalRegistration> Register()
    {
        var registrations = new List<PosixSignalRegistration>();
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGINT })
        {
            try
            {
                registrations.Add(PosixSignalRegistration.Create(signal, OnSignal));
            }
            catch (PlatformNotSupportedException)
            {
                // SIGHUP has no Windows equivalent.
            }
        }
        return registrations;
    }

    private static void OnSignal(PosixSignalContext context)
    {
        var signal = context.Signal;
        Subscription[] stopping;
        lock (Lock) stopping = Subscriptions.Where(s => signal != PosixSignal.SIGINT || s.Interrupt).ToArray();
        if (stopping.Length == 0) return;
        context.Cancel = true;
        foreach (var subscription in stopping) subscription.Stop(signal);
        if (signal == PosixSignal.SIGINT || Interlocked.Exchange(ref _exiting, 1) == 1) return;
        _ = Task.Run(async () =>
        {
            await Task.WhenAny(Task.WhenAll(stopping.Select(s => s.Completed)), Task.Delay(ShutdownLimit)).ConfigureAwait(false);
            Environment.Exit(ExitCodeOf(signal));
        });
    }

    /// <summary>An agent stopped by termination signals while this is not disposed.</summary>
    public sealed class Subscription : IDisposable
    {
        private readonly LaunchAgent _agent;
        private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        // PosixSignal values are negative (SIGHUP is -1), so "none" is a value no signal has.
        private const int None = int.MinValue;
        private int _received = None;

        internal Subscription(LaunchAgent agent, bool interrupt)
        {
            _agent = agent;
            Interrupt = interrupt;
        }

        internal bool Interrupt { get; }

        internal Task Completed => _completed.Task;

        /// <summary>The signal that stopped the agent, if one did.</summary>
        public PosixSignal? Received => Volatile.Read(ref _received) is var r && r == None ? null : (PosixSignal)r;

        /// <summary>
        /// The exit code the process ends with after the signal that stopped the agent: 143 for SIGTERM, 129 for
        /// SIGHUP; null when none did or it was SIGINT (handled as Ctrl+C).
        /// </summary>
        public int? ExitCode => Received is { } s && s != PosixSignal.SIGINT ? ExitCodeOf(s) : null;

        internal void Stop(PosixSignal signal)
        {
            Interlocked.CompareExchange(ref _received, (int)signal, None);
            _agent.RequestStop(AgentStopReason.Signal, $"it received {Name(signal)}");
        }

        /// <summary>The agent has stopped and said so: a process waiting to exit on a signal need not wait for it any longer.</summary>
        public void Complete() => _completed.TrySetResult();

        public void Dispose()
        {
            lock (Lock) Subscriptions.Remove(this);
            Complete();
        }
    }
}
