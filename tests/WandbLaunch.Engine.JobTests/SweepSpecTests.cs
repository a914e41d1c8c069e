using System.Text.Json.Nodes;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Services;

namespace WandbLaunch.Engine.JobTests;

/// <summary>
/// Sweeps on Launch are not run here, but the specs W&amp;B's sweeps push go through Submit and the agent intact: a
/// sweep run as a scheduler pushes it (<c>sweeps/scheduler.py</c> <c>_add_to_launch_queue</c>: <c>sweep_id</c>, the
/// run id the sweep chose, the parameters in <c>overrides.run_config</c> and <c>overrides.args</c>), and a scheduler as
/// <c>wandb launch-sweep</c> queues it (<c>cli/cli.py</c> <c>launch_sweep</c>: the placeholder uri, the run id of the
/// sweep, <c>run_config.scheduler</c>/<c>settings</c>/<c>sweep_args</c>).
/// </summary>
public sealed class SweepSpecTests : IAsyncLifetime
{
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly Store _store = new();
    private readonly TestAgents _agents = new();

    private string CodeDirectory => _store.Dir.File("code");

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(CodeDirectory);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _agents.DisposeAsync();
        _store.Dispose();
    }

    private JsonObject SweepRun() => JsonNode.Parse($$"""
        {
          "uri": {{System.Text.Json.JsonSerializer.Serialize(CodeDirectory)}},
          "entity": "{{Store.Entity}}", "project": "sweeps-proj", "sweep_id": "x7k2m9qa", "run_id": "b4n8c1dz",
          "overrides": {
            "entry_point": ["sh", "-c", "echo sweep=$WANDB_SWEEP_ID run=$WANDB_RUN_ID config=$WANDB_CONFIG", "sh"],
            "args": ["--lr=0.01", "--batch_size=64"],
            "run_config": {"lr": 0.01, "batch_size": 64}
          },
          "custom_scheduler_field": {"kept": [1, 2]}
        }
        """)!.AsObject();

    [Fact]
    public async Task A_sweep_runs_spec_is_stored_as_pushed_and_the_job_runs_with_its_sweep_and_run_id()
    {
        var queue = await _store.QueueAsync("sweeps");
        var pushed = SweepRun();
        var job = await new JobSubmission(_store.Backend, _ => null).SubmitAsync(new SubmitOptions { Queue = queue, Spec = pushed.DeepClone() }, None);

        var stored = (await _store.JobAsync(job.Id)).GetSpec().ToJsonObject();
        foreach (var key in new[] { "sweep_id", "run_id", "overrides", "custom_scheduler_field", "project", "entity", "uri" })
        {
            Assert.True(JsonNode.DeepEquals(pushed[key], stored[key]), $"{key}: pushed {pushed[key]?.ToJsonString()}, stored {stored[key]?.ToJsonString()}");
        }

        var config = new LaunchAgentConfig { Queues = [queue.Name], Entity = Store.Entity, MaxJobs = 1 };
        _agents.Start(_store.Open(), TestAgents.Options(config, _store.Dir.File("runs")));
        var ended = await WaitForJob.EndAsync(_store.Backend, job.Id, TimeSpan.FromSeconds(20));
        Assert.True(ended.State == LaunchJobState.Finished, $"{ended.State}: {ended.FailureMessage}");
        Assert.Equal("b4n8c1dz", ended.RunId);
        var log = await File.ReadAllTextAsync(ended.LogPath!);
        Assert.Contains("sweep=x7k2m9qa run=b4n8c1dz", log);
        Assert.Contains("\"batch_size\":64", log.Replace(" ", ""));
    }

    [Fact]
    public async Task A_scheduler_spec_from_wandb_launch_sweep_is_stored_with_every_field()
    {
        var queue = await _store.QueueAsync("schedulers", resource: LaunchResource.LocalContainer);
        // As the server queues it once it has put the sweep's id in place of WANDB_SWEEP_ID.
        var pushed = JsonNode.Parse($$"""
            {
              "uri": "placeholder-uri-scheduler", "job": "{{Store.Entity}}/sweeps-proj/scheduler-job:latest",
              "entity": "{{Store.Entity}}", "project": "sweeps-proj", "name": "Scheduler.x7k2m9qa", "run_id": "x7k2m9qa",
              "resource": "local-container", "docker": {}, "git": {},
              "overrides": {
                "run_config": {
                  "scheduler": {"num_workers": 4, "job": "{{Store.Entity}}/sweeps-proj/scheduler-job:latest"},
                  "settings": {"method": "bayes"},
                  "sweep_args": ["--sweep_id", "x7k2m9qa"]
                }
              }
            }
            """)!.AsObject();
        await TestJobs.LogJobAsync(TestArtifacts.For(_store.Backend), CodeDirectory, Store.Entity, "sweeps-proj", "scheduler-job", TestJobs.ImageDefinition("example/scheduler:1"));
        var job = await new JobSubmission(_store.Backend, _ => null).SubmitAsync(new SubmitOptions { Queue = queue, Spec = pushed.DeepClone() }, None);

        var stored = (await _store.JobAsync(job.Id)).GetSpec();
        foreach (var (key, value) in pushed)
        {
            Assert.True(JsonNode.DeepEquals(value, stored.ToJsonObject()[key]), $"{key}: pushed {value?.ToJsonString()}, stored {stored.ToJsonObject()[key]?.ToJsonString()}");
        }
        // W&B's agent runs the spec's job; the placeholder is not code (_project_spec.py init_source).
        Assert.True(stored.IsSweepScheduler);
        Assert.Null(stored.Uri);
        Assert.Equal("x7k2m9qa", job.RunId);
    }

    [Fact]
    public async Task A_scheduler_without_a_job_or_image_is_refused_naming_what_to_give()
    {
        var queue = await _store.QueueAsync("local");
        var pushed = JsonNode.Parse($$"""
            {"uri": "placeholder-uri-scheduler", "entity": "{{Store.Entity}}", "project": "p", "run_id": "x7k2m9qa",
             "overrides": {"entry_point": ["wandb", "scheduler", "WANDB_SWEEP_ID"]}
             }
            """)!;
        var e = await LaunchAssertions.ThrowsLaunchAsync("SweepSchedulerNotSupported",
            () => new JobSubmission(_store.Backend, _ => null).SubmitAsync(new SubmitOptions { Queue = queue, Spec = pushed }, None));
        Assert.Contains("scheduler.job", e.Message);
        Assert.Empty(await _store.Backend.GetJobsAsync(new(), None));
    }
}
