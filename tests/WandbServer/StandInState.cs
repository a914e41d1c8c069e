using System.Text.Json;
using System.Text.Json.Nodes;

namespace WandbLaunch.Tests.WandbServer;

/// <summary>
/// The stand-in's data and W&B's rules over it. Every method takes the one lock; the item lifecycle
/// (PENDING → LEASED → CLAIMED, or FAILED; a lease not acked in time → PENDING) is written only here.
/// </summary>
internal sealed partial class StandInState(Func<DateTimeOffset> now, Func<TimeSpan> leaseTimeout)
{
    public const string LaunchProject = "model-registry";

    private readonly object _gate = new();
    private readonly Dictionary<string, Account> _accountsByKey = new(StringComparer.Ordinal);
    private readonly Dictionary<string, EntityRecord> _entities = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, string), ProjectRecord> _projects = [];
    private readonly Dictionary<string, ResourceConfigRecord> _configs = new(StringComparer.Ordinal);
    private readonly List<QueueRecord> _queues = [];
    private readonly List<ItemRecord> _items = [];
    private readonly List<AgentRecord> _agents = [];
    private readonly List<RunRecord> _runs = [];
    private readonly List<SweepRecord> _sweeps = [];
    private readonly Dictionary<string, (RunRecord Run, string Path)> _uploads = new(StringComparer.Ordinal);
    private long _sequence;

    private DateTimeOffset Now => now();

    public T Locked<T>(Func<T> read)
    {
        lock (_gate)
        {
            ExpireLeases();
            return read();
        }
    }

    // ---- accounts ----

    public string AddAccount(string username, string entity, bool serviceAccount, string? team)
    {
        var key = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(20));
        lock (_gate)
        {
            if (!serviceAccount && _accountsByKey.Values.Any(a => a.Username == username))
                throw new InvalidOperationException($"user {username} exists");
            _accountsByKey[key] = new Account(username, entity, serviceAccount);
            if (!_entities.ContainsKey(entity)) _entities[entity] = new EntityRecord(entity, isTeam: false);
            if (team is not null) _entities[team].Members.Add(username);
            _entities[entity].Members.Add(username);
        }
        return key;
    }

    public void AddTeam(string team, IEnumerable<string> members)
    {
        lock (_gate)
        {
            if (_entities.ContainsKey(team)) throw new InvalidOperationException($"entity {team} exists");
            var record = new EntityRecord(team, isTeam: true);
            foreach (var m in members) record.Members.Add(m);
            _entities[team] = record;
        }
    }

    public bool TeamExists(string team) => Locked(() => _entities.TryGetValue(team, out var e) && e.IsTeam);

    public Account? Authenticate(string key) => Locked(() => _accountsByKey.GetValueOrDefault(key));

    public IReadOnlyList<string> ApiKeys() => Locked(() => _accountsByKey.Keys.ToList());

    /// <summary>The entity, or null when it does not exist; refused when the caller is not one of its members.</summary>
    private EntityRecord? Entity(Account caller, string? name)
    {
        name ??= caller.Entity;
        if (!_entities.TryGetValue(name, out var entity)) return null;
        if (!entity.Members.Contains(caller.Username)) throw StandInError.PermissionDenied();
        return entity;
    }

    private EntityRecord RequireEntity(Account caller, string? name) =>
        Entity(caller, name) ?? throw StandInError.NotFound($"entity {name}");

    private ProjectRecord Project(string entity, string name)
    {
        if (!_projects.TryGetValue((entity, name), out var project)) _projects[(entity, name)] = project = new ProjectRecord(entity, name);
        return project;
    }

    // ---- reads for resolvers ----

    public (Account Viewer, IReadOnlyList<EntityRecord> Teams) Viewer(Account caller) =>
        Locked(() => (caller, (IReadOnlyList<EntityRecord>)_entities.Values.Where(e => e.IsTeam && e.Members.Contains(caller.Username)).ToList()));

    public EntityRecord? FindEntity(Account caller, string? name) => Locked(() => Entity(caller, name));

    public ProjectRecord? FindProject(Account caller, string? entity, string? name) => Locked(() =>
    {
        var e = Entity(caller, entity);
        return e is null || name is null ? null : _projects.GetValueOrDefault((e.Name, name));
    });

    public ResourceConfigRecord? FindConfig(string entity, string id) =>
        Locked(() => _configs.TryGetValue(id, out var c) && c.Entity == entity ? c : null);

    public IReadOnlyList<QueueRecord> QueuesOf(ProjectRecord project) =>
        Locked(() => _queues.Where(q => q.Entity == project.Entity && q.Project == project.Name).ToList());

    public QueueRecord? FindQueue(string entity, string project, string name) =>
        Locked(() => _queues.FirstOrDefault(q => q.Entity == entity && q.Project == project && q.Name == name));

    public IReadOnlyList<ItemRecord> ItemsOf(QueueRecord queue) =>
        Locked(() => _items.Where(i => i.QueueId == queue.Id).OrderBy(i => i.Sequence).ToList());

    public RunRecord? FindRun(string entity, string project, string name) =>
        Locked(() => _runs.FirstOrDefault(r => r.Entity == entity && r.Project == project && r.Name == name));

    public SweepRecord? FindSweep(string entity, string project, string name) =>
        Locked(() => _sweeps.FirstOrDefault(s => s.Entity == entity && s.Project == project && s.Name == name));

    public AgentRecord? FindAgent(Account caller, string id) => Locked(() =>
    {
        var agent = _agents.FirstOrDefault(a => a.Id == id);
        if (agent is not null) RequireEntity(caller, agent.Entity);
        return agent;
    });

    public QueueRecord? QueueById(string id) => Locked(() => _queues.FirstOrDefault(q => q.Id == id));

    public EntityRecord EntityByName(string name) => Locked(() => _entities[name]);

    // ---- projects and runs ----

    public (ProjectRecord Project, bool Inserted) UpsertProject(Account caller, string? entity, string name) => Locked(() =>
    {
        var e = RequireEntity(caller, entity);
        var inserted = !_projects.ContainsKey((e.Name, name));
        return (Project(e.Name, name), inserted);
    });

    public (RunRecord Run, bool Inserted) UpsertRun(Account caller, JsonObject input) => Locked(() =>
    {
        var e = RequireEntity(caller, Text(input, "entityName"));
        var id = Text(input, "id");
        var run = id is null ? null : _runs.FirstOrDefault(r => r.Id == id);
        if (id is not null && run is null) throw StandInError.NotFound("run");
        var inserted = false;
        if (run is null)
        {
            var project = Text(input, "modelName") ?? "uncategorized";
            var name = Text(input, "name") ?? StandInIds.RandomName();
            Project(e.Name, project);
            run = _runs.FirstOrDefault(r => r.Entity == e.Name && r.Project == project && r.Name == name);
            if (run is null)
            {
                _runs.Add(run = new RunRecord(e.Name, project, name));
                inserted = true;
            }
        }
        if (Text(input, "state") is { } state) run.State = state;
        if (Text(input, "displayName") is { } display) run.DisplayName = display;
        if (Text(input, "description") is { } description) run.Description = description;
        if (Text(input, "config") is { } config) run.Config = config;
        if (Text(input, "sweep") is { } sweep) run.SweepName = sweep;
        if (Text(input, "jobType") is { } jobType) run.JobType = jobType;
        return (run, inserted);
    });

    public RunRecord InitRun(string entity, string project, string name, string state) => Locked(() =>
    {
        Project(entity, project);
        var run = _runs.FirstOrDefault(r => r.Entity == entity && r.Project == project && r.Name == name);
        if (run is null) _runs.Add(run = new RunRecord(entity, project, name));
        run.State = state;
        return run;
    });

    public void SetRunState(string entity, string project, string name, string? state, bool? stopped) => Locked(() =>
    {
        var run = _runs.FirstOrDefault(r => r.Entity == entity && r.Project == project && r.Name == name)
                  ?? throw new InvalidOperationException($"no run {entity}/{project}/{name}");
        if (state is not null) run.State = state;
        if (stopped is not null) run.Stopped = stopped.Value;
        return 0;
    });

    public bool StopRun(Account caller, string id) => Locked(() =>
    {
        var run = _runs.FirstOrDefault(r => r.Id == id) ?? throw StandInError.NotFound("run");
        RequireEntity(caller, run.Entity);
        run.Stopped = true;
        return true;
    });

    public (RunRecord Run, IReadOnlyList<(string Name, string Token)> Files) CreateRunFiles(Account caller, string entity, string project, string runName, IReadOnlyList<string> files) => Locked(() =>
    {
        RequireEntity(caller, entity);
        var run = _runs.FirstOrDefault(r => r.Entity == entity && r.Project == project && r.Name == runName)
                  ?? throw StandInError.NotFound($"run {entity}/{project}/{runName}");
        var tokens = new List<(string, string)>();
        foreach (var path in files)
        {
            var token = Guid.NewGuid().ToString("N");
            _uploads[token] = (run, path);
            tokens.Add((path, token));
        }
        return (run, (IReadOnlyList<(string, string)>)tokens);
    });

    public bool StoreUpload(string token, byte[] body) => Locked(() =>
    {
        if (!_uploads.TryGetValue(token, out var target)) return false;
        target.Run.Files[target.Path] = body;
        return true;
    });

    public SweepRecord UpsertSweep(Account caller, JsonObject input) => Locked(() =>
    {
        var id = Text(input, "id");
        SweepRecord? sweep = id is null ? null : _sweeps.FirstOrDefault(s => s.Id == id) ?? throw StandInError.NotFound("sweep");
        if (sweep is null)
        {
            var e = RequireEntity(caller, Text(input, "entityName"));
            var project = Text(input, "projectName") ?? "uncategorized";
            Project(e.Name, project);
            _sweeps.Add(sweep = new SweepRecord(e.Name, project, Text(input, "name") ?? StandInIds.RandomName(), "PENDING"));
        }
        else
        {
            RequireEntity(caller, sweep.Entity);
        }
        if (Text(input, "state") is { } state) sweep.State = state;
        return sweep;
    });

    public SweepRecord SetSweep(string entity, string project, string name, string state) => Locked(() =>
    {
        Project(entity, project);
        var sweep = _sweeps.FirstOrDefault(s => s.Entity == entity && s.Project == project && s.Name == name);
        if (sweep is null) _sweeps.Add(sweep = new SweepRecord(entity, project, name, state));
        sweep.State = state;
        return sweep;
    });

    // ---- queues ----

    public string CreateDefaultResourceConfig(Account caller, string entity, string resource, string config, string? templateVariables) => Locked(() =>
    {
        var e = RequireEntity(caller, entity);
        var record = new ResourceConfigRecord(e.Name, resource, JsonObjectOf(config, "config"), JsonObjectOf(templateVariables ?? "{}", "templateVariables"));
        _configs[record.Id] = record;
        return record.Id;
    });

    public string CreateRunQueue(Account caller, string entity, string project, string name, string access, string? prioritization, string? configId) => Locked(() =>
    {
        var e = RequireEntity(caller, entity);
        CheckQueueName(name);
        if (_queues.Any(q => q.Entity == e.Name && q.Project == project && q.Name == name))
            throw StandInError.Conflict($"run queue {name} already exists");
        if (configId is not null && !(_configs.TryGetValue(configId, out var c) && c.Entity == e.Name))
            throw StandInError.NotFound("default resource config");
        Project(e.Name, project);
        var queue = new QueueRecord(e.Name, project, name, caller.Username)
        {
            Access = access, PrioritizationMode = prioritization ?? "DISABLED", ConfigId = configId,
        };
        _queues.Add(queue);
        return queue.Id;
    });

    public void UpsertRunQueue(Account caller, JsonObject input) => Locked(() =>
    {
        var e = RequireEntity(caller, Text(input, "entityName"));
        var project = Text(input, "projectName")!;
        var name = Text(input, "queueName")!;
        CheckQueueName(name);
        var config = JsonObjectOf(Text(input, "resourceConfig")!, "resourceConfig");
        var variables = JsonObjectOf(Text(input, "templateVariables") ?? "{}", "templateVariables");
        Project(e.Name, project);
        var queue = _queues.FirstOrDefault(q => q.Entity == e.Name && q.Project == project && q.Name == name);
        if (queue is null) _queues.Add(queue = new QueueRecord(e.Name, project, name, caller.Username));
        if (queue.ConfigId is not null && _configs.TryGetValue(queue.ConfigId, out var existing))
        {
            existing.Resource = Text(input, "resourceType")!;
            existing.Config = config;
            existing.TemplateVariables = variables;
        }
        else
        {
            var record = new ResourceConfigRecord(e.Name, Text(input, "resourceType")!, config, variables);
            _configs[record.Id] = record;
            queue.ConfigId = record.Id;
        }
        if (Text(input, "prioritizationMode") is { } mode) queue.PrioritizationMode = mode;
        if (Text(input, "externalLinks") is { } links) queue.ExternalLinks = links;
        return 0;
    });

    public bool DeleteRunQueues(Account caller, IReadOnlyList<string> ids) => Locked(() =>
    {
        var queues = ids.Select(id => _queues.FirstOrDefault(q => q.Id == id) ?? throw StandInError.NotFound("run queue")).ToList();
        foreach (var q in queues) RequireEntity(caller, q.Entity);
        foreach (var q in queues)
        {
            _queues.Remove(q);
            _items.RemoveAll(i => i.QueueId == q.Id);
        }
        return true;
    });

    private static void CheckQueueName(string name)
    {
        if (name.Length is 0 or > 64) throw StandInError.Invalid("queue name must be 1 to 64 characters");
    }

    // ---- items ----

    public ItemRecord Push(Account caller, QueueRecord? queue, string runSpec, int? priority, string? templateVariableValues) => Locked(() =>
    {
        if (queue is null || !_queues.Contains(queue)) throw StandInError.NotFound("run queue");
        RequireEntity(caller, queue.Entity);
        var spec = JsonObjectOf(runSpec, "runSpec");
        if (priority is < 0 or > 4) throw StandInError.Invalid("priority must be between 0 and 4");
        var values = templateVariableValues is null ? null : JsonObjectOf(templateVariableValues, "templateVariableValues");
        if (queue.ConfigId is not null && _configs.TryGetValue(queue.ConfigId, out var config))
        {
            var filled = TemplateFiller.Fill(config.Config, TemplateFiller.Values(config.TemplateVariables, values));
            if (filled?["resource_args"] is JsonObject defaults)
                spec["resource_args"] = TemplateFiller.Merge(defaults, spec["resource_args"]);
        }
        else if (values is { Count: > 0 })
        {
            throw StandInError.Invalid("the queue has no template variables");
        }
        var item = new ItemRecord(queue.Id, ++_sequence, spec, priority ?? 2, now());
        _items.Add(item);
        return item;
    });

    public ItemRecord? Pop(Account caller, string entity, string project, string queueName, string? agentId) => Locked(() =>
    {
        RequireEntity(caller, entity);
        var queue = _queues.FirstOrDefault(q => q.Entity == entity && q.Project == project && q.Name == queueName)
                    ?? throw StandInError.NotFound("run queue");
        if (agentId is not null && _agents.All(a => a.Id != agentId)) throw StandInError.NotFound("launch agent");
        var pending = _items.Where(i => i.QueueId == queue.Id && i.State == "PENDING");
        var next = (queue.PrioritizationMode == "V0" ? pending.OrderBy(i => i.Priority).ThenBy(i => i.Sequence) : pending.OrderBy(i => i.Sequence))
            .FirstOrDefault();
        if (next is null) return null;
        next.State = "LEASED";
        next.LeasedAt = now();
        next.UpdatedAt = now();
        next.LaunchAgentId = agentId;
        return next;
    });

    public bool Ack(Account caller, string itemId, string runName) => Locked(() =>
    {
        var item = Item(caller, itemId);
        if (item.State != "LEASED") return false;
        item.State = "CLAIMED";
        item.AssociatedRunId = runName;
        item.UpdatedAt = now();
        return true;
    });

    public bool Fail(Account caller, string itemId, string message, string stage, IReadOnlyList<string>? filePaths) => Locked(() =>
    {
        var item = Item(caller, itemId);
        item.State = "FAILED";
        item.Error = new ItemInfo(message, stage, filePaths, now());
        item.UpdatedAt = now();
        return true;
    });

    public bool Warn(Account caller, string itemId, string message, string stage, IReadOnlyList<string>? filePaths) => Locked(() =>
    {
        Item(caller, itemId).Warnings.Add(new ItemInfo(message, stage, filePaths, now()));
        return true;
    });

    public bool DeleteItem(Account caller, string queueId, string itemId) => Locked(() =>
    {
        var queue = _queues.FirstOrDefault(q => q.Id == queueId) ?? throw StandInError.NotFound("run queue");
        RequireEntity(caller, queue.Entity);
        var item = _items.FirstOrDefault(i => i.Id == itemId && i.QueueId == queueId) ?? throw StandInError.NotFound("run queue item");
        _items.Remove(item);
        return true;
    });

    private ItemRecord Item(Account caller, string id)
    {
        var item = _items.FirstOrDefault(i => i.Id == id) ?? throw StandInError.NotFound("run queue item");
        RequireEntity(caller, _queues.First(q => q.Id == item.QueueId).Entity);
        return item;
    }

    /// <summary>W&B's server returns a LEASED item that was not acked within the lease timeout to PENDING.</summary>
    private void ExpireLeases()
    {
        var deadline = now() - leaseTimeout();
        foreach (var item in _items.Where(i => i.State == "LEASED" && i.LeasedAt <= deadline))
        {
            item.State = "PENDING";
            item.LeasedAt = null;
            item.LaunchAgentId = null;
            item.UpdatedAt = now();
        }
    }

    // ---- agents ----

    public AgentRecord CreateAgent(Account caller, string entity, string project, IReadOnlyList<string> queueIds, string hostname, string? config, string? version) => Locked(() =>
    {
        var e = RequireEntity(caller, entity);
        foreach (var id in queueIds)
        {
            if (!_queues.Any(q => q.Id == id && q.Entity == e.Name)) throw StandInError.NotFound("run queue");
        }
        var agent = new AgentRecord(e.Name, project, queueIds, hostname, config, version) { HeartbeatAt = now() };
        _agents.Add(agent);
        return agent;
    });

    public bool UpdateAgent(Account caller, string id, string? status, bool? stopPolling) => Locked(() =>
    {
        var agent = _agents.FirstOrDefault(a => a.Id == id) ?? throw StandInError.NotFound("launch agent");
        RequireEntity(caller, agent.Entity);
        if (status is not null) agent.Status = status;
        if (stopPolling is not null) agent.StopPolling = stopPolling.Value;
        agent.HeartbeatAt = now();
        agent.StatusUpdates++;
        return true;
    });

    public void StopPolling(string agentId) => Locked(() =>
    {
        (_agents.FirstOrDefault(a => a.Id == agentId) ?? throw new InvalidOperationException($"no agent {agentId}")).StopPolling = true;
        return 0;
    });

    // ---- snapshots ----

    public StandInQueue? QueueSnapshot(string entity, string name) => Locked(() =>
    {
        var q = _queues.FirstOrDefault(x => x.Entity == entity && x.Project == LaunchProject && x.Name == name);
        if (q is null) return null;
        var c = q.ConfigId is null ? null : _configs.GetValueOrDefault(q.ConfigId);
        return new StandInQueue(q.Id, q.Entity, q.Project, q.Name, q.Access, q.PrioritizationMode, q.CreatedBy, c?.Resource,
            q.ConfigId, c?.Config.ToJsonString(), c?.TemplateVariables.ToJsonString(), q.ExternalLinks);
    });

    public IReadOnlyList<StandInItem> ItemSnapshots(string entity, string queue) => Locked(() =>
    {
        var q = _queues.FirstOrDefault(x => x.Entity == entity && x.Project == LaunchProject && x.Name == queue);
        if (q is null) return [];
        static StandInItemInfo? Info(ItemInfo? i) => i is null ? null : new StandInItemInfo(i.Message, i.Stage, i.FilePaths, i.At);
        return _items.Where(i => i.QueueId == q.Id).OrderBy(i => i.Sequence).Select(i => new StandInItem(
            i.Id, entity, queue, i.State, i.Priority, i.RunSpec.ToJsonString(), i.AssociatedRunId, i.LaunchAgentId, i.CreatedAt,
            i.LeasedAt, Info(i.Error), i.Warnings.Select(w => Info(w)!).ToList())).ToList();
    });

    public StandInRun? RunSnapshot(string entity, string project, string name) => Locked(() =>
    {
        var r = _runs.FirstOrDefault(x => x.Entity == entity && x.Project == project && x.Name == name);
        return r is null ? null : new StandInRun(r.Id, r.Entity, r.Project, r.Name, r.State, r.Stopped, r.Config, r.SweepName, r.JobType, r.Files.Keys.ToList());
    });

    public byte[]? RunFile(string entity, string project, string run, string path) => Locked(() =>
        _runs.FirstOrDefault(x => x.Entity == entity && x.Project == project && x.Name == run)?.Files.GetValueOrDefault(path)?.ToArray());

    public IReadOnlyList<StandInAgent> AgentSnapshots() => Locked(() => _agents.Select(a => new StandInAgent(
        a.Id, a.Name, a.Entity, a.Project, a.QueueIds, a.Hostname, a.Config, a.Version, a.Status, a.StopPolling, a.HeartbeatAt, a.StatusUpdates)).ToList());

    public StandInSweep? SweepSnapshot(string entity, string project, string name) => Locked(() =>
    {
        var s = _sweeps.FirstOrDefault(x => x.Entity == entity && x.Project == project && x.Name == name);
        return s is null ? null : new StandInSweep(s.Id, s.Entity, s.Project, s.Name, s.State);
    });

    // ---- helpers ----

    private static string? Text(JsonObject input, string name) =>
        input.TryGetPropertyValue(name, out var v) && v is JsonValue value && value.TryGetValue<string>(out var s) ? s : null;

    private static JsonObject JsonObjectOf(string json, string what)
    {
        try
        {
            return JsonNode.Parse(json) as JsonObject ?? throw StandInError.Invalid($"{what} must be a JSON object");
        }
        catch (JsonException)
        {
            throw StandInError.Invalid($"{what} is not valid JSON");
        }
    }
}
