using System.Diagnostics;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Services;

/// <summary>
/// Waits until an agent has stopped, woken by the backend's change signal. An agent that stops heartbeating counts as
/// stopped (it died), which no store change announces, so a wait also re-reads every <see cref="FallbackPoll"/>.
/// Used by Stop-WandbLaunchAgent -Wait.
/// </summary>
public sealed class AgentWatch(ILaunchBackend backend)
{
    /// <summary>How long a wait goes without re-reading when the backend signals no change.</summary>
    public TimeSpan FallbackPoll { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// The agent once it reports KILLED or has gone unresponsive; the last state read if it is removed or the wait is
    /// cancelled. Throws AgentStopTimeout when <paramref name="timeout"/> passes first.
    /// </summary>
    public async Task<LaunchAgentInfo> UntilStoppedAsync(LaunchAgentInfo agent, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var current = agent;
        var clock = Stopwatch.StartNew();
        EngineLog.Verbose("watch", () => $"waiting for agent {Printable.Quote(agent.Name)} ({Printable.Escape(agent.Id)}) to stop, at most {timeout.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)} s");
        while (current.Status != AgentStatus.Killed && !current.Unresponsive && !cancellationToken.IsCancellationRequested)
        {
            if (clock.Elapsed > timeout)
            {
                throw new LaunchException("AgentStopTimeout", LaunchErrorCategory.OperationTimeout,
                    $"Agent {agent.Name} ({agent.Id}) did not stop within {timeout.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)} s.", agent.Id);
            }
            await ChangeWait.ForChangeAsync(backend, FallbackPoll, cancellationToken).ConfigureAwait(false);
            if (cancellationToken.IsCancellationRequested) break;
            current = await backend.GetAgentAsync(agent.Id, cancellationToken).ConfigureAwait(false) ?? current;
            EngineLog.Debug("watch", () => $"agent {Printable.Escape(current.Id)} is {current.Status}{(current.Unresponsive ? " (unresponsive)" : "")}");
        }
        EngineLog.Verbose("watch", () => $"agent {Printable.Escape(current.Id)} is {current.Status}{(current.Unresponsive ? " (unresponsive: no heartbeat)" : "")}");
        return current;
    }
}
