using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.FileSystem;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.Storage.Wandb;

/// <summary>
/// What a W&amp;B server cannot keep for the agent: the launch jobs the agents on this host started, with the handle that
/// finds each on its target (container, pod), one private JSON file per item in a directory per server URL and entity.
/// A record is written when the job is about to start (launching mark) and again with its handle (running), marked
/// released when its agent leaves it running, and deleted when its end is written. An agent restarted on this host
/// claims the records whose agent left them or whose process is gone, and re-attaches through their handles.
/// </summary>
internal sealed class WandbJobRecords(string directory)
{
    private const int MaxRecordBytes = 4 << 20;

    public string Directory { get; } = directory;

    /// <summary>The directory of one server URL and entity: a hash of both (names the server cannot choose).</summary>
    public static string DirectoryName(string location, string entity) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(location.TrimEnd('/') + "\n" + entity)))[..16].ToLowerInvariant();

    public void Write(LaunchJob job, string agentId, string? handle, bool released = false)
    {
        PrivateFiles.EnsureDirectory(Directory);
        var record = new JsonObject
        {
            ["itemId"] = job.Id,
            ["agentId"] = agentId,
            ["processId"] = Environment.ProcessId,
            ["processStartedAt"] = ThisProcessStarted.Ticks,
            ["entity"] = job.Entity,
            ["project"] = job.Project,
            ["queue"] = job.Queue,
            ["resource"] = job.Resource,
            ["runId"] = job.RunId,
            ["attempts"] = job.Attempts,
            ["logPath"] = job.LogPath,
            ["handle"] = handle,
            ["released"] = released,
            ["startedAt"] = (job.StartedAt ?? DateTimeOffset.UtcNow).ToString("O"),
            ["spec"] = job.SpecJson,
        };
        var path = PathOf(job.Id);
        var temp = path + ".tmp";
        PrivateFiles.WriteAllText(temp, record.ToJsonString());
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>The record's job as last written, or null when there is none (or it is unreadable).</summary>
    public Record? Read(string itemId) => ReadFile(PathOf(itemId));

    public void MarkReleased(string itemId)
    {
        if (Read(itemId) is not { } record) return;
        Write(record.Job, record.AgentId, record.Job.Handle, released: true);
    }

    public void Delete(string itemId)
    {
        try
        {
            File.Delete(PathOf(itemId));
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>
    /// Records of these queues not held in this process whose agent released them or whose process no longer runs (in
    /// this process, whose agent is gone: it holds them no more).
    /// </summary>
    public IReadOnlyList<Record> Orphans(IReadOnlyList<QueueKey> queues, Func<string, bool> heldHere)
    {
        if (!System.IO.Directory.Exists(Directory)) return [];
        var orphans = new List<Record>();
        foreach (var file in System.IO.Directory.EnumerateFiles(Directory, "*.json"))
        {
            if (ReadFile(file) is not { } record) continue;
            var job = record.Job;
            if (!queues.Any(q => q.Entity == job.Entity && q.Project == job.Project && q.Name == job.Queue)) continue;
            if (heldHere(job.Id)) continue;
            if (record.Released || record.ProcessId == Environment.ProcessId || !ProcessRuns(record.ProcessId, record.ProcessStartedAt)) orphans.Add(record);
        }
        return orphans;
    }

    /// <summary>
    /// A job record as read. <c>ProcessStartedAt</c> is when the writing process started (UTC), so that its id reused by
    /// another process (after a reboot, or on a busy host) does not keep the record from being claimed; null in older records.
    /// </summary>
    public sealed record Record(LaunchJob Job, string AgentId, int ProcessId, bool Released, DateTime? ProcessStartedAt = null);

    private static readonly DateTime ThisProcessStarted = ProcessStartTime(Environment.ProcessId) ?? DateTime.UtcNow;

    private string PathOf(string itemId) =>
        Path.Combine(Directory, Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(itemId)))[..32].ToLowerInvariant() + ".json");

    /// <summary>A record is this host's own file, but is read as untrusted all the same: a bad one is skipped.</summary>
    private static Record? ReadFile(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists || info.Length > MaxRecordBytes || info.LinkTarget is not null) return null;
            if (JsonTree.ParseJson(File.ReadAllText(path)) is not JsonObject o) return null;
            string? S(string key) => o[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
            if (S("itemId") is not { } id || S("agentId") is not { } agent || S("queue") is not { } queue || S("entity") is not { } entity
                || S("project") is not { } project || S("runId") is not { } runId || S("resource") is not { } resource) return null;
            var spec = LaunchSpec.FromStored(S("spec"));
            var job = new LaunchJob
            {
                Id = id,
                Queue = queue,
                Entity = entity,
                Project = project,
                Resource = resource,
                RunId = runId,
                State = S("handle") is null ? LaunchJobState.Starting : LaunchJobState.Running,
                Attempts = o["attempts"] is JsonValue a && a.TryGetValue<int>(out var n) ? n : 1,
                Handle = S("handle"),
                AgentId = agent,
                LogPath = S("logPath"),
                LaunchSpec = spec,
                StartedAt = DateTimeOffset.TryParse(S("startedAt"), out var started) ? started : DateTimeOffset.UtcNow,
            };
            var pid = o["processId"] is JsonValue p && p.TryGetValue<int>(out var pv) ? pv : 0;
            DateTime? processStarted = o["processStartedAt"] is JsonValue t && t.TryGetValue<long>(out var ticks) && ticks > 0 && ticks <= DateTime.MaxValue.Ticks
                ? new DateTime(ticks, DateTimeKind.Utc) : null;
            return new Record(job, agent, pid, o["released"]?.GetValueKind() == JsonValueKind.True, processStarted);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or Errors.LaunchException)
        {
            return null;
        }
    }

    /// <summary>Whether the process that wrote a record still runs: its id is alive and, when the record says, started then.</summary>
    internal static bool ProcessRuns(int processId, DateTime? startedAt)
    {
        if (processId <= 0) return false;
        if (startedAt is null) return ProcessStartTime(processId) is not null;
        // Start times read back from the system are rounded (Linux: clock ticks of 10 ms); a second of slack.
        return ProcessStartTime(processId) is { } actual && (actual - startedAt.Value).Duration() < TimeSpan.FromSeconds(1);
    }

    private static DateTime? ProcessStartTime(int processId)
    {
        try
        {
            using var process = Process.GetProcessById(processId);
            return process.HasExited ? null : process.StartTime.ToUniversalTime();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
            return null;
        }
    }
}
