namespace WandbLaunch.Engine.Jobs;

public static class LaunchJobStates
{
    public static readonly LaunchJobState[] Active = [LaunchJobState.Leased, LaunchJobState.Starting, LaunchJobState.Running];

    public static readonly LaunchJobState[] Terminal = [LaunchJobState.Finished, LaunchJobState.Failed, LaunchJobState.Stopped, LaunchJobState.Preempted];

    public static bool IsTerminal(this LaunchJobState state) => Terminal.Contains(state);

    public static bool IsActive(this LaunchJobState state) => Active.Contains(state);
}
