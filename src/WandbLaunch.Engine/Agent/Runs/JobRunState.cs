namespace WandbLaunch.Engine.Agent.Runs;

/// <summary>
/// Where one launch job stands in its agent (<see cref="JobRun"/>). Every run moves forward only, and ends in
/// <see cref="Ended"/> after exactly one <see cref="JobEnd"/> was decided in <see cref="Ending"/> and written by the
/// <see cref="JobEndWriter"/>.
/// </summary>
internal enum JobRunState
{
    /// <summary>Taken from its queue with a lease; not yet acknowledged.</summary>
    Popped,

    /// <summary>Taken over from an agent that died or left it (an orphan), through the handle its runner recorded.</summary>
    Attached,

    /// <summary>Acknowledged in the store (state Starting, attempt counted, log path recorded).</summary>
    Acked,

    /// <summary>Its image is being built and pushed (only for runners that need an image).</summary>
    Building,

    /// <summary>Its runner is starting it on its target (code fetched, the launching mark written, the target asked).</summary>
    Launching,

    /// <summary>Running on its target; the agent follows it to its outcome.</summary>
    Running,

    /// <summary>Its end is decided (finished, failed, stopped, preempted, put back, left running, lost) and being written.</summary>
    Ending,

    /// <summary>Its end is written; the agent no longer holds it.</summary>
    Ended,
}
