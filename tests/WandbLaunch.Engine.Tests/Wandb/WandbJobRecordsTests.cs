using System.Diagnostics;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Storage.Wandb;

namespace WandbLaunch.Engine.Tests.Wandb;

/// <summary>The job records a W&amp;B agent keeps on its host, which a restarted agent claims to re-attach.</summary>
public sealed class WandbJobRecordsTests : IDisposable
{
    private static readonly QueueKey Queue = new("team", "model-registry", "gpu");
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_record_is_claimed_once_its_writer_is_gone_even_when_the_writers_process_id_now_belongs_to_another_process()
    {
        var records = new WandbJobRecords(_dir.Path);
        records.Write(Job("item-live"), "agent-1", "container:abc");
        var path = Directory.GetFiles(_dir.Path, "*.json").Single();

        // Written by this process: not an orphan for another agent while it runs (it is this process's own here,
        // which counts as gone: its agent no longer holds it).
        var written = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        Assert.True(written["processStartedAt"]!.GetValue<long>() > 0);

        // The same record as written by a process that runs (pid 1) and started then: still held.
        var init = Process.GetProcessById(1).StartTime.ToUniversalTime();
        Rewrite(path, 1, init.Ticks);
        Assert.Empty(records.Orphans([Queue], _ => false));

        // Pid 1 now, but the writer started at another time: the id was reused, the writer is gone.
        Rewrite(path, 1, init.AddHours(-3).Ticks);
        var orphan = Assert.Single(records.Orphans([Queue], _ => false));
        Assert.Equal("item-live", orphan.Job.Id);
        Assert.Equal("container:abc", orphan.Job.Handle);

        // An older record without a start time falls back on the id alone.
        Rewrite(path, 1, null);
        Assert.Empty(records.Orphans([Queue], _ => false));
    }

    private static void Rewrite(string path, int processId, long? startedTicks)
    {
        var o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        o["processId"] = processId;
        if (startedTicks is { } t) o["processStartedAt"] = t;
        else o.Remove("processStartedAt");
        File.WriteAllText(path, o.ToJsonString());
    }

    private static LaunchJob Job(string id) => new()
    {
        Id = id,
        Queue = Queue.Name,
        Entity = Queue.Entity,
        Project = Queue.Project,
        Resource = "local-container",
        RunId = "abc12345",
        State = LaunchJobState.Running,
        StartedAt = DateTimeOffset.UtcNow,
    };
}
