using System.Collections.Concurrent;

namespace WandbLaunch.Engine.Agent.Runs;

/// <summary>The launch jobs an agent holds, by id, and a signal that completes whenever one of them ends.</summary>
internal sealed class JobRuns
{
    private readonly ConcurrentDictionary<string, JobRun> _runs = new();
    private readonly object _signalLock = new();
    private TaskCompletionSource _ended = NewSignal();

    public int Count => _runs.Count;

    public bool IsEmpty => _runs.IsEmpty;

    public ICollection<JobRun> All => _runs.Values;

    public bool TryGet(string id, out JobRun run) => _runs.TryGetValue(id, out run!);

    public IEnumerable<KeyValuePair<string, JobRun>> Pairs => _runs;

    /// <summary>Completes when the next launch job ends (and frees a place under max_jobs).</summary>
    public Task NextEnd
    {
        get
        {
            lock (_signalLock) return _ended.Task;
        }
    }

    /// <summary>Holds <paramref name="run"/> and runs it to its end on the thread pool.</summary>
    public void Start(JobRun run)
    {
        _runs[run.Job.Id] = run;
        run.Task = Task.Run(async () =>
        {
            try
            {
                await run.RunAsync().ConfigureAwait(false);
            }
            finally
            {
                _runs.TryRemove(run.Job.Id, out _);
                TaskCompletionSource signal;
                lock (_signalLock)
                {
                    signal = _ended;
                    _ended = NewSignal();
                }
                signal.TrySetResult();
            }
        });
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
