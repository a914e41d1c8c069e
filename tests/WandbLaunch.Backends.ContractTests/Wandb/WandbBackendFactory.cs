using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Wandb;
using WandbLaunch.Tests.WandbServer;

namespace WandbLaunch.Backends.ContractTests.Wandb;

/// <summary>
/// One W&amp;B stand-in per test with user <see cref="User"/> (personal entity <see cref="WandbBackendFactory.Entity"/>,
/// also a member of the teams the contract names); each handle is a new <see cref="WandbLaunchBackend"/> on it with the
/// same key and the same host directory (agents on one host: their logs and job records). Time passes on the server's clock.
/// </summary>
public sealed class WandbBackendFactory : IBackendFactory
{
    /// <summary>The contract's queues say they are created by "tester"; W&amp;B records the key's user as the creator.</summary>
    public const string User = "tester";
    public const string Entity = "contract-entity";
    private static readonly string[] OtherEntities = ["someone-else", "other-team"];

    private readonly List<ILaunchBackend> _opened = [];

    /// <summary>Every handle is an agent on the same host: one host directory for logs and job records.</summary>
    private readonly TempDirectory _host = new();

    public WandbBackendFactory()
    {
        ApiKey = Server.AddUser(User, Entity);
        // The contract makes queues in other entities the user belongs to.
        foreach (var team in OtherEntities) Server.AddTeam(team, User);
    }

    public WandbStandIn Server { get; } = new();

    public string ApiKey { get; }

    public IReadOnlyDictionary<BackendCapability, string> Lacks { get; } = new Dictionary<BackendCapability, string>
    {
        [BackendCapability.ShortLeases] = "W&B's server owns the lease: an un-acked item goes back to PENDING after its own timeout (about a minute), and an acked item has no lease at all.",
        [BackendCapability.RemoveFinishedItems] = "W&B keeps a queue's finished items: deleteFromRunQueue removes only pending ones.",
        [BackendCapability.RenameQueues] = "W&B has no mutation that renames a run queue (upsertRunQueue finds the queue by its name).",
        [BackendCapability.ChangeQueueAccess] = "W&B sets a queue's access only when it is created (createRunQueue); upsertRunQueue takes none.",
        [BackendCapability.QueueTimes] = "W&B's run queue has no createdAt or updatedAt that the SDK reads.",
        [BackendCapability.ListQueuesAcrossProjects] = "W&B lists queues per project (project.runQueues): the backend lists the default entity's and project's when none is named.",
        [BackendCapability.StopAgents] = "W&B's agent reads stopPolling, which only the Launch App sets; the SDK sends no mutation for it.",
        [BackendCapability.EngineAgentIds] = "W&B issues an agent's id (createLaunchAgent's launchAgentId, an opaque server id).",
        [BackendCapability.ListAgents] = "W&B has no query that lists an entity's agents: a backend lists the agents it registered itself.",
        [BackendCapability.StopHeldItems] = "W&B has no per-item stop flag: a held item is stopped through its run (the W&B app's stop, read by RunStoppedStatus).",
        [BackendCapability.RequeueInPlace] = "W&B cannot put a claimed item back: the same spec (same run id) is pushed again as a new item, as W&B's agent does on preemption.",
        [BackendCapability.AttemptCounts] = "W&B's run queue items do not count how often they were popped.",
        [BackendCapability.AnyAgentHolds] = "W&B records an item's holder (launchAgentId) only for agents it registered; other handles do not see an unregistered agent's hold.",
        [BackendCapability.EndedItemRecords] = "W&B records only failures (failRunQueueItem: message and stage): a finished or stopped item stays CLAIMED (its run tells how it ended); no exit code, start time or log is kept once the job ended.",
        [BackendCapability.TemplateValuesInSpec] = "W&B fills the template values into resource_args and keeps the spec without them (the SDK sends them as templateVariableValues).",
        [BackendCapability.ChangeSignal] = "W&B sends no change signal: WaitForChange only waits, and agents poll at W&B's cadence.",
    };

    public ILaunchBackend Open()
    {
        // A backend of its own per handle (LaunchBackends shares one per connection).
        var backend = new WandbConnection(Server.Url, WandbApiKey.Of(ApiKey, "test")) { Entity = Entity, HostDirectory = _host.Path }.Create();
        lock (_opened) _opened.Add(backend);
        return backend;
    }

    public Task PassTimeAsync(DateTimeOffset moment)
    {
        var behind = moment - Server.Now;
        if (behind > TimeSpan.Zero) Server.AdvanceClock(behind + TimeSpan.FromMilliseconds(20));
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        lock (_opened)
        {
            foreach (var backend in _opened) backend.Dispose();
        }
        Server.Dispose();
        _host.Dispose();
    }
}
