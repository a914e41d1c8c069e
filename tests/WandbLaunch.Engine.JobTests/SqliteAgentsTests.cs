using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Engine.JobTests;

/// <summary>What only the SQLite store does with agents; the rest is in the backend contract (tests/WandbLaunch.Backends.ContractTests).</summary>
public sealed class SqliteAgentsTests : IDisposable
{
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly Store _store = new();

    public void Dispose() => _store.Dispose();

    private Task<LaunchAgentInfo> RegisterAsync(params QueueKey[] queues) =>
        _store.Backend.RegisterAgentAsync(new AgentRegistration
        {
            Name = "agent-one", Entity = Store.Entity, Queues = queues, ConfigJson = """{"max_jobs": 3}""", MaxJobs = 3,
            Hostname = "host-1", ProcessId = 4242, Version = "9.8.7",
        }, None);

    [Fact]
    public async Task An_agent_that_stops_reporting_is_shown_unresponsive()
    {
        var info = await RegisterAsync();
        var saved = SqliteLaunchBackend.UnresponsiveAfter;
        try
        {
            SqliteLaunchBackend.UnresponsiveAfter = TimeSpan.FromMilliseconds(50);
            await Eventually.Until(async () => (await _store.Backend.GetAgentAsync(info.Id, None))!.Unresponsive, "the agent to look unresponsive");
            await _store.Backend.SetAgentStatusAsync(info.Id, AgentStatus.Killed, None);
            SqliteLaunchBackend.UnresponsiveAfter = TimeSpan.Zero;
            Assert.False((await _store.Backend.GetAgentAsync(info.Id, None))!.Unresponsive);
        }
        finally
        {
            SqliteLaunchBackend.UnresponsiveAfter = saved;
        }
    }
}
