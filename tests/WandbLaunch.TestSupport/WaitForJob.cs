using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.TestSupport;

/// <summary>Polls a store until a job reaches a state, returning the job as it was then.</summary>
public static class WaitForJob
{
    /// <summary>Waits until the job reaches a final state and returns it.</summary>
    public static async Task<LaunchJob> EndAsync(ILaunchBackend backend, string id, TimeSpan? timeout = null)
    {
        LaunchJob? job = null;
        await Eventually.Until(async () =>
        {
            job = await backend.GetJobAsync(id, CancellationToken.None);
            return job is not null && job.State.IsTerminal();
        }, $"job {id} to end", timeout);
        return job!;
    }

    /// <summary>Waits until the job is in <paramref name="state"/> and returns it.</summary>
    public static Task<LaunchJob> StateAsync(ILaunchBackend backend, string id, LaunchJobState state, TimeSpan? timeout = null) =>
        AnyStateAsync(backend, id, [state], timeout);

    /// <summary>Waits until the job is in one of <paramref name="states"/> and returns it.</summary>
    public static Task<LaunchJob> AnyStateAsync(ILaunchBackend backend, string id, IReadOnlyCollection<LaunchJobState> states, TimeSpan? timeout = null) =>
        Eventually.Until(async () =>
        {
            var job = await backend.GetJobAsync(id, CancellationToken.None);
            return job is not null && states.Contains(job.State) ? job : null;
        }, $"job {id} to be {string.Join(" or ", states)}", timeout);
}
