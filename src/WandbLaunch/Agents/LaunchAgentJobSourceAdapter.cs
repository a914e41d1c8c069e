using System.Collections.Concurrent;
using System.Management.Automation;

namespace WandbLaunch.Agents;

/// <summary>
/// Registers launch agent jobs with PowerShell's job manager so that Get-Job, Receive-Job, Stop-Job and Remove-Job
/// find them, as PowerShell/ThreadJob does for thread jobs.
/// </summary>
public sealed class LaunchAgentJobSourceAdapter : JobSourceAdapter
{
    private readonly ConcurrentDictionary<Guid, Job2> _jobs = new();

    /// <summary>Creates the adapter (PowerShell instantiates it by type).</summary>
    public LaunchAgentJobSourceAdapter() => Name = "WandbLaunchAgentSourceAdapter";

    /// <inheritdoc />
    public override Job2 NewJob(JobInvocationInfo specification)
    {
        var job = (Job2)specification.Parameters[0][0].Value;
        _jobs.TryAdd(job.InstanceId, job);
        return job;
    }

    /// <inheritdoc />
    public override IList<Job2> GetJobs() => _jobs.Values.ToList();

    /// <inheritdoc />
    public override IList<Job2> GetJobsByName(string name, bool recurse) =>
        _jobs.Values.Where(j => string.Equals(j.Name, name, StringComparison.OrdinalIgnoreCase)).ToList();

    /// <inheritdoc />
    public override IList<Job2> GetJobsByCommand(string command, bool recurse) =>
        _jobs.Values.Where(j => string.Equals(j.Command, command, StringComparison.OrdinalIgnoreCase)).ToList();

    /// <inheritdoc />
    public override Job2? GetJobByInstanceId(Guid instanceId, bool recurse) => _jobs.TryGetValue(instanceId, out var job) ? job : null;

    /// <inheritdoc />
    public override Job2? GetJobBySessionId(int id, bool recurse) => _jobs.Values.FirstOrDefault(j => j.Id == id);

    /// <inheritdoc />
    public override IList<Job2> GetJobsByState(JobState state, bool recurse) =>
        _jobs.Values.Where(j => j.JobStateInfo.State == state).ToList();

    /// <inheritdoc />
    public override IList<Job2> GetJobsByFilter(Dictionary<string, object> filter, bool recurse) =>
        throw new PSNotSupportedException("Launch agent jobs cannot be filtered this way; use Get-Job -Name or -State.");

    /// <inheritdoc />
    public override void RemoveJob(Job2 job)
    {
        if (_jobs.TryRemove(job.InstanceId, out var removed))
        {
            removed.StopJob();
            removed.Dispose();
        }
    }
}
