using System.Text.Json.Nodes;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Backends.ContractTests;

/// <summary>
/// The contract every <see cref="ILaunchBackend"/> keeps, tested through the interface only: queues, queue items
/// (their lifecycle, leases and refusals), agents, the change signal, and artifacts. A backend runs it with a one-line
/// subclass naming its <see cref="IBackendFactory"/>; a test that needs a capability the backend lacks is
/// reported skipped with the factory's reason. The parts are in LaunchBackendContract.*.cs, one per area.
/// </summary>
public abstract partial class LaunchBackendContract<TFactory> : IDisposable where TFactory : IBackendFactory, new()
{
    protected const string Project = LaunchDefaults.Project;
    protected static readonly TimeSpan Long = TimeSpan.FromMinutes(5);
    /// <summary>A lease that runs out within the test (needs <see cref="BackendCapability.ShortLeases"/>).</summary>
    protected static readonly TimeSpan Short = TimeSpan.FromMilliseconds(150);
    protected static readonly CancellationToken None = CancellationToken.None;

    protected LaunchBackendContract()
    {
        Factory = new TFactory();
        Backend = Factory.Open();
    }

    protected TFactory Factory { get; }

    /// <summary>This test's first handle on its store.</summary>
    protected ILaunchBackend Backend { get; }

    /// <summary>Where tests put the log files they hand to Ack.</summary>
    protected TempDirectory Logs { get; } = new();

    /// <summary>Where tests put the files they log as artifacts.</summary>
    protected TempDirectory Sources { get; } = new();

    protected string Entity => Backend.DefaultEntity;

    public void Dispose()
    {
        Factory.Dispose();
        Logs.Dispose();
        Sources.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Whether the backend has <paramref name="capability"/>: for the one assertion of a test that needs it.</summary>
    protected bool Has(BackendCapability capability) => !Factory.Lacks.ContainsKey(capability);

    /// <summary>Skips the test, with the backend's reason, when the backend lacks <paramref name="capability"/>.</summary>
    protected void Needs(BackendCapability capability) =>
        Skip.If(Factory.Lacks.TryGetValue(capability, out var why), $"{typeof(TFactory).Name} lacks {capability}: {why}");

    protected QueueKey Key(string name, string project = Project, string? entity = null) => new(entity ?? Entity, project, name);

    protected QueueDefinition Queue(string name, string project = Project, string? entity = null, string resource = LaunchResource.LocalProcess,
        string? configJson = null, string? variablesJson = null, bool prioritization = false) =>
        TestQueues.Definition(name, entity ?? Entity, project, resource, configJson, prioritization, variablesJson, createdBy: "tester");

    /// <summary>A queue in the default project of the backend's entity.</summary>
    protected Task<QueueKey> QueueAsync(string name, bool prioritization = false, string? configJson = null, string? variablesJson = null) =>
        TestQueues.CreateAsync(Backend, Entity, name, LaunchResource.LocalProcess, configJson, prioritization, variablesJson);

    protected static string Spec(string name) => $$"""{"uri": "/tmp/code", "name": "{{name}}"}""";

    /// <summary>The one place the suite builds a <see cref="PushRequest"/>.</summary>
    protected Task<LaunchJob> PushAsync(QueueKey queue, string specJson, LaunchPriority? priority = null, string? templateValuesJson = null,
        ILaunchBackend? through = null) =>
        (through ?? Backend).PushAsync(queue, new PushRequest
        {
            Spec = (JsonObject)JsonNode.Parse(specJson)!,
            Priority = priority,
            TemplateValues = templateValuesJson is null ? null : (JsonObject)JsonNode.Parse(templateValuesJson)!,
        }, None);

    /// <summary>A job log where agents on this host keep them (<see cref="ILaunchBackend.LogDirectory"/>), which the backend deletes with its item.</summary>
    protected string WriteLog(string name, string text)
    {
        Directory.CreateDirectory(Backend.LogDirectory);
        var path = Path.Combine(Backend.LogDirectory, name);
        File.WriteAllText(path, text);
        return path;
    }

    protected async Task<LaunchJob> JobAsync(string id) =>
        await Backend.GetJobAsync(id, None) ?? throw new Xunit.Sdk.XunitException($"job {id} is gone");

    protected async Task<List<string>> PopAllAsync(QueueKey queue, string agent = "agent-a")
    {
        var names = new List<string>();
        while (await Backend.PopAsync(agent, queue, Long, None) is { } job) names.Add(job.Name!);
        return names;
    }

    /// <summary>An item leased, acknowledged and running under <paramref name="agent"/>.</summary>
    protected async Task<LaunchJob> StartedAsync(QueueKey queue, string agent, TimeSpan lease, string name = "j")
    {
        var pushed = await PushAsync(queue, Spec(name));
        var popped = await Backend.PopAsync(agent, queue, lease, None);
        Assert.Equal(pushed.Id, popped!.Id);
        await Backend.AckAsync(pushed.Id, agent, Logs.File(pushed.Id + ".log"), None);
        await Backend.MarkLaunchingAsync(pushed.Id, agent, None);
        await Backend.MarkRunningAsync(pushed.Id, agent, "pid:1:1", None);
        return await JobAsync(pushed.Id);
    }

    /// <summary>Lets every lease <paramref name="agent"/> holds run out.</summary>
    protected async Task LetLeasesExpireAsync(string agent)
    {
        var held = await Backend.GetJobsAsync(new JobQuery { AgentId = agent }, None);
        await Factory.PassTimeAsync(held.Max(j => j.LeaseExpiresAt ?? DateTimeOffset.MinValue));
    }
}
