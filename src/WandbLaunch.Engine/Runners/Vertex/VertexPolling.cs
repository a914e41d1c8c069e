namespace WandbLaunch.Engine.Runners.Vertex;

/// <summary>
/// How often a CustomJob's state is read: <see cref="First"/> after creating (or re-attaching), each wait then
/// <see cref="Growth"/> times longer up to <see cref="Steady"/>, so a long job costs at most one request per
/// <see cref="Steady"/>; <see cref="AfterCancel"/> while a cancel is under way.
/// </summary>
public sealed record VertexPolling(TimeSpan First, TimeSpan Steady, TimeSpan AfterCancel, double Growth = 1.5)
{
    public static VertexPolling Default { get; } = new(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(5));

    /// <summary>
    /// Every <paramref name="interval"/>, as W&amp;B's agent reads every job each 10 s (<c>agent/agent.py</c>,
    /// <c>AGENT_POLLING_INTERVAL</c>); while a cancel is under way every 5 s, or the interval when shorter.
    /// </summary>
    public static VertexPolling Fixed(TimeSpan interval) => new(interval, interval, interval < Default.AfterCancel ? interval : Default.AfterCancel);

    public TimeSpan Next(TimeSpan current) => TimeSpan.FromTicks(Math.Min(Steady.Ticks, (long)(current.Ticks * Growth)));
}
