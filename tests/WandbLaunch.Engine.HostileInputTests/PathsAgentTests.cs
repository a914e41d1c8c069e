using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;

namespace WandbLaunch.Engine.HostileInputTests;

/// <summary>
/// The agent given a store row an older version could have written (a run id of '..', '/abs', '.'): the job fails
/// with the reason, and when it ends the agent deletes nothing outside its work directory (it used to delete
/// Path.Combine(workDir, runId) recursively). Real store file, real processes.
/// </summary>
public sealed class PathsAgentTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Area => _dir.File("area");

    private string WorkDirectory => Path.Combine(Area, "runs");

    public static TheoryData<string> HostileRunIds => new() { "..", "../victim", "../..", ".", "", "VICTIM_ABSOLUTE", "other-run/.." };

    [Theory]
    [MemberData(nameof(HostileRunIds))]
    public async Task A_stored_hostile_run_id_deletes_nothing_outside_the_run_directory_when_its_job_ends(string runId)
    {
        var victim = _dir.Write("area/victim/keep.txt", "precious");
        var otherRun = _dir.Write("area/runs/other-run/keep.txt", "another run's files");
        var code = Directory.CreateDirectory(Path.Combine(Area, "code")).FullName;
        if (runId == "VICTIM_ABSOLUTE") runId = Path.GetDirectoryName(victim)!;

        var dbPath = _dir.File("store/launch.db");
        using var backend = new SqliteLaunchBackend(dbPath, "ent");
        await TestQueues.CreateAsync(backend, "ent", "q");
        var job = await backend.PushAsync(new QueueKey("ent", LaunchDefaults.Project, "q"), new PushRequest
        {
            Spec = new JsonObject { ["uri"] = code, ["overrides"] = new JsonObject { ["entry_point"] = new JsonArray("true") } },
        }, CancellationToken.None);
        await StoreRows.SetRunIdAsync(dbPath, job.Id, runId);

        var ended = await RunAgentUntilEndAsync(dbPath, job.Id);

        Assert.Equal("precious", File.ReadAllText(victim));
        Assert.Equal("another run's files", File.ReadAllText(otherRun));
        Assert.True(Directory.Exists(code));
        Assert.True(File.Exists(dbPath));
        // The agent checks a stored run id again before using it, and fails the job saying why.
        Assert.Equal(LaunchJobState.Failed, ended.State);
        Assert.Equal(FailureStage.Agent, ended.FailureStage);
        Assert.Contains("run_id", ended.FailureMessage);
        // Its run directory is named by RunNames, inside the work directory whatever the id: nothing else there went.
        Assert.Equal(["other-run"], Directory.GetDirectories(WorkDirectory).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_git_job_whose_stored_run_id_leads_out_fails_at_the_agent_stage_before_cloning_anywhere()
    {
        var victim = _dir.Write("area/code/keep.txt", "precious");
        var dbPath = _dir.File("store/launch.db");
        using var backend = new SqliteLaunchBackend(dbPath, "ent");
        await TestQueues.CreateAsync(backend, "ent", "q");
        var job = await backend.PushAsync(new QueueKey("ent", LaunchDefaults.Project, "q"), new PushRequest
        {
            Spec = new JsonObject { ["uri"] = "https://example.invalid/repo.git", ["overrides"] = new JsonObject { ["entry_point"] = new JsonArray("true") } },
        }, CancellationToken.None);
        // <work>/../code is where the clone would go (and be deleted first).
        await StoreRows.SetRunIdAsync(dbPath, job.Id, "..");

        var ended = await RunAgentUntilEndAsync(dbPath, job.Id);

        Assert.Equal(LaunchJobState.Failed, ended.State);
        Assert.Equal(FailureStage.Agent, ended.FailureStage);
        Assert.Contains("run_id '..'", ended.FailureMessage);
        Assert.Equal("precious", File.ReadAllText(victim));
    }

    private async Task<LaunchJob> RunAgentUntilEndAsync(string dbPath, string jobId)
    {
        using var backend = new SqliteLaunchBackend(dbPath, "ent");
        await using var agents = new TestAgents();
        var config = new LaunchAgentConfig { Queues = ["q"], Entity = "ent", MaxJobs = -1 };
        agents.Start(backend, TestAgents.Options(config, WorkDirectory, name: "paths-agent"));
        return await WaitForJob.EndAsync(backend, jobId, TimeSpan.FromSeconds(60));
    }
}
