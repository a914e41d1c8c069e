using System.Text;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Services;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Engine.Storage.Wandb;
using WandbLaunch.Engine.WandbJobs;
using WandbLaunch.Tests.WandbServer;

namespace WandbLaunch.Engine.JobTests.Wandb;

/// <summary>
/// A queue-less launch on a W&amp;B server connection, as W&amp;B's <c>wandb launch</c> without <c>-q</c> runs it
/// (<c>cli/cli.py</c> <c>launch</c>: a uri made a job first with <c>_create_job</c>; <c>sdk/launch/_launch.py</c>
/// <c>_launch</c>: nothing queued, the job run at once, its run reporting to the server): the launch job is recorded in
/// the local store (<see cref="DirectLaunchBackend"/>), while entity, author, W&amp;B jobs, the job's W&amp;B environment
/// and the run checks come from the stand-in. Real store file, real local processes.
/// </summary>
public sealed class WandbDirectLaunchTests : IAsyncLifetime
{
    private const string User = "bob";
    private const string Lab = "bobs-lab";
    private const string Project = "proj";
    private static readonly CancellationToken None = CancellationToken.None;

    // The job does on the wire what wandb.init does (upsertBucket with the run id, project and entity it was given),
    // prints what it was given, and with "wait" runs until it is stopped.
    private const string TrainScript = """
        echo "entity=$WANDB_ENTITY project=$WANDB_PROJECT user=$WANDB_USERNAME base=$WANDB_BASE_URL run=$WANDB_RUN_ID"
        echo "key=$WANDB_API_KEY"
        body="{\"query\":\"mutation UpsertBucket(\$name: String, \$project: String, \$entity: String) { upsertBucket(input: {name: \$name, modelName: \$project, entityName: \$entity, state: \\\"running\\\"}) { bucket { id } } }\",\"variables\":{\"name\":\"$WANDB_RUN_ID\",\"project\":\"$WANDB_PROJECT\",\"entity\":\"$WANDB_ENTITY\"}}"
        curl -sS -o /dev/null -u "api:$WANDB_API_KEY" -H 'Content-Type: application/json' --data "$body" "$WANDB_BASE_URL/graphql"
        if [ "$1" = wait ]; then echo waiting; sleep 60; fi
        echo trained
        """;

    private WandbTestBed _bed = null!;
    private string _key = null!;
    private WandbLaunchBackend _server = null!;
    private SqliteLaunchBackend _records = null!;
    private DirectLaunchBackend _direct = null!;
    private string _code = null!;

    private string StorePath => _bed.Directory.File("launch.db");

    public async Task InitializeAsync()
    {
        _bed = await WandbTestBed.StartAsync();
        // A user whose default entity is not their name: the launch's entity is the viewer's entity, its author the user.
        _key = _bed.Server.AddUser(User, Lab);
        _server = _bed.Open(_ => new WandbConnection(_bed.Server.Url, WandbApiKey.Of(_key, "test")) { HostDirectory = _bed.Directory.File("host") });
        _records = new SqliteLaunchBackend(StorePath);
        _direct = new DirectLaunchBackend(_records, _server);
        _code = _bed.Directory.File("code");
        Directory.CreateDirectory(_code);
        await File.WriteAllTextAsync(Path.Combine(_code, "train.sh"), TrainScript);
        // The bed made alice's queue q: from here on, every call the server sees is the launch's.
        _bed.Server.ClearCalls();
    }

    public async Task DisposeAsync()
    {
        await _bed.DisposeAsync();
        _records.Dispose();
    }

    private async Task<LaunchJob> RecordAsync(SubmitOptions options)
    {
        var launch = new DirectLaunch(_direct, _ => null);
        var request = await launch.CheckAsync(options, LaunchResource.LocalProcess, new LaunchAgentConfig(), preview: false, None);
        return await launch.RecordAsync(request, None);
    }

    /// <summary>The direct agent as Invoke-WandbLaunchJob starts it, with the run checks at test speed.</summary>
    private RunningAgent Run(LaunchJob job, int stoppedRunTimeout = 60) =>
        _bed.Agents.Start(_direct, TestAgents.Options(new LaunchAgentConfig { MaxJobs = 1, StoppedRunTimeout = stoppedRunTimeout }, _bed.Directory.File("runs"),
            _direct.ConnectionVariable, stopJobsOnExit: true, direct: DirectLaunch.AgentTarget(job),
            runCheckDelays: [TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(400)],
            runStatusInterval: TimeSpan.FromMilliseconds(100)));

    private async Task<(LaunchJob Job, LaunchException? Error)> EndAsync(RunningAgent agent, LaunchJob job)
    {
        await agent.Run.WaitAsync(TimeSpan.FromSeconds(60));
        return await new DirectLaunch(_direct).EndAsync(job.Id, None);
    }

    private List<string> ServerOperations() => _bed.Server.Calls.SelectMany(c => c.Fields).ToList();

    private static readonly string[] QueueAndAgentOperations =
        ["upsertRunQueue", "createRunQueue", "pushToRunQueue", "pushToRunQueueByName", "popFromRunQueue", "ackRunQueueItem", "createLaunchAgent", "updateLaunchAgent"];

    [Fact]
    public async Task A_uri_launch_is_recorded_locally_queues_nothing_on_the_server_and_runs_as_the_WandB_job_made_from_it()
    {
        var job = await RecordAsync(new SubmitOptions { Uri = _code, EntryPoint = ["sh", "train.sh"], Project = Project });

        // Recorded in the local store, in a direct queue of the viewer's entity; the server has no queue or item.
        Assert.Equal(DirectQueues.Project, job.Project);
        Assert.Equal(Lab, job.Entity);
        Assert.NotNull(await _records.GetJobAsync(job.Id, None));
        // As wandb launch -u: the uri became a W&B job on the server, which the spec names.
        var spec = job.GetSpec();
        Assert.Null(spec.Uri);
        Assert.StartsWith($"{Lab}/{Project}/job-", spec.JobArtifactName);
        Assert.Equal(User, spec.Author);

        var agent = Run(job);
        var (end, error) = await EndAsync(agent, job);

        Assert.True(end.State == LaunchJobState.Finished, $"{end.State}: {end.FailureMessage}\n{agent.Events}");
        Assert.Null(error);
        var log = await File.ReadAllTextAsync(end.LogPath!);
        Assert.Contains($"entity={Lab} project={Project} user={User} base={_bed.Server.Url.ToString().TrimEnd('/')} run={end.RunId}", log);
        Assert.Contains("trained", log);
        // The run reported to the server, and the agent asked it whether the run started (RunState).
        Assert.Equal("running", _bed.Server.Run(Lab, Project, end.RunId)?.State);
        Assert.Contains("RunState", _bed.Server.Calls.Select(c => c.OperationName));
        var operations = ServerOperations();
        Assert.DoesNotContain(operations, QueueAndAgentOperations.Contains);
        Assert.Empty(_bed.Server.Agents);
        Assert.Null(_bed.Server.Queue(Lab, job.Queue));
        Assert.Empty(await _server.GetQueuesAsync(Lab, null, None));
        // The key reached the job only through its environment: redacted in its log, and nowhere in the store.
        Assert.DoesNotContain(_key, log);
        Assert.Contains("key=***", log);
        AssertNotInStore(_key);
    }

    [Fact]
    public async Task A_job_launch_fetches_the_WandB_job_from_the_server_and_runs_it_as_a_local_process()
    {
        await new JobCreator(_server, _ => null).CreateAsync(new JobCreateRequest
        {
            Source = JobCreateSource.Code, Path = _code, Entity = Lab, Project = Project, Name = "trainer", EntryPoint = ["sh", "train.sh"], Aliases = ["prod"],
        }, None);
        _bed.Server.ClearCalls();

        var job = await RecordAsync(new SubmitOptions { Job = $"{Lab}/{Project}/trainer:prod" });
        var agent = Run(job);
        var (end, error) = await EndAsync(agent, job);

        Assert.True(end.State == LaunchJobState.Finished, $"{end.State}: {end.FailureMessage}\n{agent.Events}");
        Assert.Null(error);
        Assert.Equal($"{Lab}/{Project}/trainer:prod", end.GetSpec().JobArtifactName);
        Assert.Contains("trained", await File.ReadAllTextAsync(end.LogPath!));
        Assert.Equal("running", _bed.Server.Run(Lab, Project, end.RunId)?.State);
        Assert.DoesNotContain(ServerOperations(), QueueAndAgentOperations.Contains);
        AssertNotInStore(_key);
    }

    [Fact]
    public async Task A_run_stopped_on_the_server_stops_the_job_after_stopped_run_timeout_as_an_agent_does()
    {
        var job = await RecordAsync(new SubmitOptions { Uri = _code, EntryPoint = ["sh", "train.sh", "wait"], Project = Project });
        var agent = Run(job, stoppedRunTimeout: 1);
        var running = await WaitForJob.StateAsync(_records, job.Id, LaunchJobState.Running, TimeSpan.FromSeconds(30));
        await Eventually.Until(() => _bed.Server.RunExists(Lab, Project, running.RunId), "the job to init its run", TimeSpan.FromSeconds(30));

        // The W&B app's stop (stopRun) sets the run's stopped flag; the job does not end by itself.
        _bed.Server.SetRunState(Lab, Project, running.RunId, stopped: true);
        var (end, error) = await EndAsync(agent, job);

        Assert.Equal(LaunchJobState.Stopped, end.State);
        Assert.Contains("stopped_run_timeout", end.FailureMessage);
        Assert.Equal("LaunchJobStopped", error?.ErrorId);
        Assert.DoesNotContain("trained", await File.ReadAllTextAsync(end.LogPath!));
    }

    [Fact]
    public async Task Jobs_by_id_on_the_server_connection_find_the_direct_launch_in_the_local_store_and_stop_it_there()
    {
        var job = await RecordAsync(new SubmitOptions { Uri = _code, EntryPoint = ["sh", "train.sh", "wait"], Project = Project });
        var lookup = new JobLookup(_server, _direct);

        var found = await lookup.FindAsync(job.Id, None);
        Assert.NotNull(found);
        Assert.Same(_direct, found.Backend);
        Assert.Null(await lookup.FindAsync("item-not-anywhere", None));
        var byId = await lookup.GetJobsAsync(new JobQuery { Ids = [job.Id] }, directOnly: false, None);
        Assert.Equal([job.Id], byId.Select(j => j.Id));
        // Without ids the server's items are listed; the direct ones only when asked for by their project.
        Assert.DoesNotContain(await lookup.GetJobsAsync(new JobQuery(), directOnly: false, None), j => j.Id == job.Id);
        Assert.Contains(await lookup.GetJobsAsync(new JobQuery(), directOnly: true, None), j => j.Id == job.Id);
        // A job of a user's queue in the local store is not a direct launch: the server connection does not show it.
        await _records.CreateQueueAsync(new QueueDefinition { Name = "local-q", Entity = Lab, Project = LaunchDefaults.Project, Resource = LaunchResource.LocalProcess }, None);
        var other = await _records.PushAsync(new QueueKey(Lab, LaunchDefaults.Project, "local-q"), new Specs.PushRequest { Spec = TestSpecs.LocalProcess(_code, ["sh", "train.sh"], Lab, Project) }, None);
        Assert.Null(await lookup.FindAsync(other.Id, None));

        var agent = Run(job);
        await WaitForJob.StateAsync(_records, job.Id, LaunchJobState.Running, TimeSpan.FromSeconds(30));
        await found.Backend.RequestStopAsync(job.Id, None);
        var waited = new List<JobWaitResult>();
        await foreach (var result in JobLookup.WaitAsync([found], TimeSpan.FromSeconds(30), any: false, None)) waited.Add(result);

        Assert.Equal(LaunchJobState.Stopped, Assert.Single(waited).Job?.State);
        var (end, _) = await EndAsync(agent, job);
        Assert.Equal(LaunchJobState.Stopped, end.State);
        Assert.DoesNotContain(ServerOperations(), QueueAndAgentOperations.Contains);
    }

    [Fact]
    public async Task Looking_for_a_job_on_the_server_connection_does_not_make_a_local_store_that_was_never_made()
    {
        var path = _bed.Directory.File("never/launch.db");
        using var records = new SqliteLaunchBackend(path);
        var lookup = new JobLookup(_server, new DirectLaunchBackend(records, _server));

        Assert.Null(await lookup.FindAsync("item-elsewhere", None));
        Assert.Empty(await lookup.GetJobsAsync(new JobQuery { Ids = ["item-elsewhere"] }, directOnly: false, None));
        Assert.Empty(await lookup.GetJobsAsync(new JobQuery(), directOnly: true, None));
        Assert.False(File.Exists(path));
        Assert.False(Directory.Exists(Path.GetDirectoryName(path)));
    }

    /// <summary>Neither the store file nor its write-ahead log holds <paramref name="secret"/>.</summary>
    private void AssertNotInStore(string secret)
    {
        var needle = Encoding.UTF8.GetBytes(secret);
        foreach (var file in new[] { StorePath, StorePath + "-wal" }.Where(File.Exists))
        {
            var bytes = File.ReadAllBytes(file);
            Assert.True(bytes.AsSpan().IndexOf(needle) < 0, $"{file} holds the API key");
        }
        Assert.True(File.Exists(StorePath));
    }
}
