using WandbLaunch.Engine.Services;
using WandbLaunch.Engine.Storage;
using static WandbLaunch.TestSupport.LaunchAssertions;

namespace WandbLaunch.Engine.JobTests;

public sealed class AgentWatchTests : IDisposable
{
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly Store _store = new();

    public void Dispose() => _store.Dispose();

    private Task<LaunchAgentInfo> RegisterAsync() =>
        _store.Backend.RegisterAgentAsync(new AgentRegistration
        {
            Name = "agent-one", Entity = Store.Entity, Queues = [Store.Key("q")], ConfigJson = "{}", MaxJobs = 1,
        }, None);

    [Fact]
    public async Task An_agent_is_seen_once_it_reports_KILLED()
    {
        var agent = await RegisterAsync();
        await _store.Backend.HeartbeatAsync(agent.Id, TimeSpan.FromMinutes(5), None);
        var waiting = new AgentWatch(_store.Backend).UntilStoppedAsync(agent, TimeSpan.FromMinutes(1), None);
        await _store.Open().SetAgentStatusAsync(agent.Id, AgentStatus.Killed, None);
        Assert.Equal(AgentStatus.Killed, (await waiting.WaitAsync(TimeSpan.FromSeconds(30))).Status);
    }

    [Fact]
    public async Task An_agent_still_running_at_the_timeout_is_an_AgentStopTimeout()
    {
        var agent = await RegisterAsync();
        await _store.Backend.HeartbeatAsync(agent.Id, TimeSpan.FromMinutes(5), None);
        var e = await ThrowsLaunchAsync("AgentStopTimeout",
            () => new AgentWatch(_store.Backend) { FallbackPoll = TimeSpan.FromMilliseconds(50) }.UntilStoppedAsync(agent, TimeSpan.FromMilliseconds(200), None));
        Assert.Equal(agent.Id, e.Target);
    }
}
