using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Wandb;
using WandbLaunch.Tests.WandbServer;

namespace WandbLaunch.Backends.ContractTests.Wandb;

/// <summary>
/// One W&amp;B stand-in per test with user <see cref="User"/> (personal entity <see cref="WandbBackendFactory.Entity"/>,
/// also a member of the teams the contract names); each handle is a new <see cref="WandbLaunchBackend"/> on it with the
/// same key. Time passes on the server's clock.
/// </summary>
public sealed class WandbBackendFactory : IBackendFactory
{
    public const string User = "contract-user";
    public const string Entity = "contract-entity";
    private static readonly string[] OtherEntities = ["someone-else", "other-team"];

    private readonly List<ILaunchBackend> _opened = [];

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
        [BackendCapability.ReattachRecords] = "W&B's server reports no dead agent's items; re-attaching needs the agent's handle records on its own host.",
        [BackendCapability.RemoveFinishedItems] = "W&B keeps a queue's finished items: deleteFromRunQueue removes only pending ones.",
    };

    public ILaunchBackend Open()
    {
        // A backend of its own per handle (LaunchBackends shares one per connection).
        var backend = new WandbConnection(Server.Url, WandbApiKey.Of(ApiKey, "test")) { Entity = Entity }.Create();
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
    }
}
