using System.Text.Json;
using System.Text.Json.Nodes;
using GraphQL;
using GraphQL.Resolvers;
using GraphQL.Types;
using GraphQL.Utilities;

namespace WandbLaunch.Tests.WandbServer;

/// <summary>
/// The GraphQL schema (the embedded wandb-schema.graphql) with resolvers over <see cref="StandInState"/>. Objects are
/// handed to GraphQL.NET as dictionaries keyed by field name; fields with arguments have resolvers of their own,
/// which find their parent's record under <see cref="Record"/>. Each resolver runs under the state's lock, so what it
/// reads and writes is one consistent step.
/// </summary>
internal static partial class StandInSchema
{
    private const string Record = "__record";
    public const string CallerKey = "caller";

    public static string Sdl()
    {
        using var stream = typeof(StandInSchema).Assembly.GetManifestResourceStream("wandb-schema.graphql")!;
        return new StreamReader(stream).ReadToEnd();
    }

    public static ISchema Build(StandInState state, Func<string, string> uploadUrl, Func<string, string> fileUrl)
    {
        var schema = Schema.For(Sdl(), builder =>
        {
            void On(string type, string field, Func<IResolveFieldContext, Account, object?> resolve) =>
                builder.Types.For(type).FieldFor(field).Resolver =
                    new FuncFieldResolver<object?>(ctx => state.Locked(() => resolve(ctx, (Account)ctx.UserContext[CallerKey]!)));

            // ---- queries ----
            On("Query", "viewer", (_, caller) =>
            {
                var (viewer, teams) = state.Viewer(caller);
                return new Dictionary<string, object?>
                {
                    ["id"] = viewer.Id, ["entity"] = viewer.Entity, ["username"] = viewer.Username,
                    ["email"] = viewer.IsServiceAccount ? null : $"{viewer.Username}@example.com", ["flags"] = "{}",
                    ["teams"] = new Dictionary<string, object?>
                    {
                        ["edges"] = teams.Select(t => new Dictionary<string, object?> { ["node"] = Entity(t) }).ToList(),
                    },
                };
            });
            On("Query", "entity", (ctx, caller) => state.FindEntity(caller, ctx.GetArgument<string?>("name")) is { } e ? Entity(e) : null);
            On("Query", "project", (ctx, caller) =>
                state.FindProject(caller, ctx.GetArgument<string?>("entityName"), ctx.GetArgument<string?>("name")) is { } p ? Project(p, state) : null);
            On("Query", "launchAgent", (ctx, caller) => state.FindAgent(caller, Id(ctx, "id")) is { } a ? Agent(a) : null);
            On("Query", "serverInfo", (_, _) => new Dictionary<string, object?>
            {
                ["features"] = new List<object?>(), ["cliVersionInfo"] = "{}",
            });

            On("Entity", "defaultResourceConfig", (ctx, _) =>
                state.FindConfig(((EntityRecord)Parent(ctx)).Name, Id(ctx, "id")) is { } c ? Config(c) : null);
            On("Project", "runQueues", (ctx, _) => state.QueuesOf((ProjectRecord)Parent(ctx)).Select(Queue).ToList());
            On("Project", "runQueue", (ctx, _) =>
            {
                var p = (ProjectRecord)Parent(ctx);
                return state.FindQueue(p.Entity, p.Name, ctx.GetArgument<string>("name")) is { } q ? Queue(q) : null;
            });
            On("Project", "run", (ctx, _) =>
            {
                var p = (ProjectRecord)Parent(ctx);
                return state.FindRun(p.Entity, p.Name, ctx.GetArgument<string>("name")) is { } r ? Run(r, state) : null;
            });
            On("Project", "sweep", (ctx, _) =>
            {
                var p = (ProjectRecord)Parent(ctx);
                return state.FindSweep(p.Entity, p.Name, ctx.GetArgument<string>("sweepName")) is { } s ? Sweep(s) : null;
            });
            On("Run", "project", (ctx, caller) =>
            {
                var r = (RunRecord)Parent(ctx);
                return state.FindProject(caller, r.Entity, r.Project) is { } p ? Project(p, state) : null;
            });
            On("RunQueue", "runQueueItems", (ctx, _) =>
            {
                var items = state.ItemsOf((QueueRecord)Parent(ctx)).AsEnumerable();
                if (ctx.GetArgument<int?>("first") is { } first) items = items.Take(first);
                return new Dictionary<string, object?>
                {
                    ["edges"] = items.Select(i => new Dictionary<string, object?> { ["node"] = Item(i) }).ToList(),
                };
            });
            On("RunQueue", "runQueueItem", (ctx, _) =>
                state.ItemsOf((QueueRecord)Parent(ctx)).FirstOrDefault(i => i.Id == Id(ctx, "id")) is { } i ? Item(i) : null);

            AddArtifacts(On, state, fileUrl);

            // ---- mutations ----
            On("Mutation", "upsertModel", (ctx, caller) =>
            {
                var input = Input(ctx);
                var name = Text(input, "name") ?? throw StandInError.Invalid("name is required");
                var (project, inserted) = state.UpsertProject(caller, Text(input, "entityName"), name);
                var p = Project(project, state);
                return new Dictionary<string, object?> { ["project"] = p, ["model"] = p, ["inserted"] = inserted };
            });
            On("Mutation", "upsertBucket", (ctx, caller) =>
            {
                var (run, inserted) = state.UpsertRun(caller, Input(ctx));
                return new Dictionary<string, object?> { ["bucket"] = Run(run, state), ["inserted"] = inserted };
            });
            On("Mutation", "createRunFiles", (ctx, caller) =>
            {
                var input = Input(ctx);
                var (run, files) = state.CreateRunFiles(caller, Text(input, "entityName")!, Text(input, "projectName")!,
                    Text(input, "runName")!, Strings(input, "files")!);
                return new Dictionary<string, object?>
                {
                    ["runID"] = run.Id, ["uploadHeaders"] = new List<string>(),
                    ["files"] = files.Select(f => new Dictionary<string, object?> { ["name"] = f.Name, ["uploadUrl"] = uploadUrl(f.Token) }).ToList(),
                };
            });
            On("Mutation", "stopRun", (ctx, caller) => Success(state.StopRun(caller, Text(Input(ctx), "id")!)));
            On("Mutation", "upsertSweep", (ctx, caller) =>
                new Dictionary<string, object?> { ["sweep"] = Sweep(state.UpsertSweep(caller, Input(ctx))), ["inserted"] = false });
            On("Mutation", "createDefaultResourceConfig", (ctx, caller) =>
            {
                var input = Input(ctx);
                var id = state.CreateDefaultResourceConfig(caller, Text(input, "entityName")!, Text(input, "resource")!,
                    Text(input, "config")!, Text(input, "templateVariables"));
                return new Dictionary<string, object?> { ["defaultResourceConfigID"] = id, ["success"] = true };
            });
            On("Mutation", "createRunQueue", (ctx, caller) =>
            {
                var input = Input(ctx);
                var id = state.CreateRunQueue(caller, Text(input, "entityName")!, Text(input, "projectName")!, Text(input, "queueName")!,
                    Text(input, "access")!, Text(input, "prioritizationMode"), Text(input, "defaultResourceConfigID"));
                return new Dictionary<string, object?> { ["success"] = true, ["queueID"] = id };
            });
            On("Mutation", "upsertRunQueue", (ctx, caller) =>
            {
                state.UpsertRunQueue(caller, Input(ctx));
                return new Dictionary<string, object?> { ["success"] = true, ["configSchemaValidationErrors"] = new List<string>() };
            });
            On("Mutation", "deleteRunQueues", (ctx, caller) => Success(state.DeleteRunQueues(caller, Strings(Input(ctx), "queueIDs")!)));
            On("Mutation", "pushToRunQueueByName", (ctx, caller) =>
            {
                var input = Input(ctx);
                var queue = state.FindQueue(Text(input, "entityName")!, Text(input, "projectName")!, Text(input, "queueName")!);
                return Pushed(state.Push(caller, queue, Text(input, "runSpec")!, Int(input, "priority"), Text(input, "templateVariableValues")));
            });
            On("Mutation", "pushToRunQueue", (ctx, caller) =>
            {
                var input = Input(ctx);
                var queue = state.QueueById(Text(input, "queueID")!);
                return Pushed(state.Push(caller, queue, Text(input, "runSpec")!, Int(input, "priority"), Text(input, "templateVariableValues")));
            });
            On("Mutation", "popFromRunQueue", (ctx, caller) =>
            {
                var input = Input(ctx);
                var item = state.Pop(caller, Text(input, "entityName")!, Text(input, "projectName")!, Text(input, "queueName")!, Text(input, "launchAgentId"));
                return item is null ? null : new Dictionary<string, object?>
                {
                    ["runQueueItemId"] = item.Id, ["runSpec"] = item.RunSpec.DeepClone(),
                };
            });
            On("Mutation", "ackRunQueueItem", (ctx, caller) =>
            {
                var input = Input(ctx);
                return Success(state.Ack(caller, Text(input, "runQueueItemId")!, Text(input, "runName")!));
            });
            On("Mutation", "failRunQueueItem", (ctx, caller) =>
            {
                var input = Input(ctx);
                return Success(state.Fail(caller, Text(input, "runQueueItemId")!, Text(input, "message")!, Text(input, "stage")!, Strings(input, "filePaths")));
            });
            On("Mutation", "updateRunQueueItemWarning", (ctx, caller) =>
            {
                var input = Input(ctx);
                return Success(state.Warn(caller, Text(input, "runQueueItemId")!, Text(input, "message")!, Text(input, "stage")!, Strings(input, "filePaths")));
            });
            On("Mutation", "deleteFromRunQueue", (ctx, caller) =>
            {
                var input = Input(ctx);
                return Success(state.DeleteItem(caller, Text(input, "queueID")!, Text(input, "runQueueItemId")!));
            });
            On("Mutation", "createLaunchAgent", (ctx, caller) =>
            {
                var input = Input(ctx);
                var agent = state.CreateAgent(caller, Text(input, "entityName")!, Text(input, "projectName")!, Strings(input, "runQueues")!,
                    Text(input, "hostname")!, Text(input, "agentConfig"), Text(input, "version"));
                return new Dictionary<string, object?> { ["launchAgentId"] = agent.Id };
            });
            On("Mutation", "updateLaunchAgent", (ctx, caller) =>
            {
                var input = Input(ctx);
                bool? stop = input["stopPolling"] is JsonValue v && v.TryGetValue<bool>(out var b) ? b : null;
                return Success(state.UpdateAgent(caller, Text(input, "launchAgentId")!, Text(input, "agentStatus"), stop));
            });
        });
        schema.RegisterVisitor(new SequencesOnly());
        schema.RegisterType(new JsonStringScalar());
        schema.RegisterType(new DateTimeScalar());
        schema.RegisterType(new LongGraphType { Name = "Int64" });
        schema.Initialize();
        foreach (var type in schema.AllTypes.OfType<IObjectGraphType>().Where(t => !t.Name.StartsWith("__", StringComparison.Ordinal)))
        {
            foreach (var field in type.Fields.Where(f => f.Resolver is null or NameFieldResolver))
                field.Resolver = DictionaryField;
        }
        return schema;
    }

    /// <summary>Every artifact collection the stand-in holds is a sequence (W&B's other kind, a portfolio, is made by linking).</summary>
    private sealed class SequencesOnly : BaseSchemaNodeVisitor
    {
        public override void VisitObject(IObjectGraphType type, ISchema schema)
        {
            if (type.Name == "ArtifactSequence") type.IsTypeOf = _ => true;
        }
    }

    /// <summary>A field without a resolver of its own reads its parent's dictionary.</summary>
    private static readonly IFieldResolver DictionaryField = new FuncFieldResolver<object?>(ctx =>
        ctx.Source is IDictionary<string, object?> d && d.TryGetValue(ctx.FieldDefinition.Name, out var value) ? value : null);

    private static object Parent(IResolveFieldContext ctx) => ((IDictionary<string, object?>)ctx.Source!)[Record]!;

    private static string Id(IResolveFieldContext ctx, string name) => Convert.ToString(ctx.GetArgument<object>(name))!;

    private static JsonObject Input(IResolveFieldContext ctx) =>
        JsonSerializer.SerializeToNode(ctx.GetArgument<Dictionary<string, object?>>("input")) as JsonObject ?? [];

    private static string? Text(JsonObject input, string name) =>
        input[name] is JsonValue v ? v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : v.ToJsonString() : null;

    private static int? Int(JsonObject input, string name) => input[name] is JsonValue v ? v.GetValue<int>() : null;

    private static List<string>? Strings(JsonObject input, string name) =>
        input[name] is JsonArray a ? a.Select(e => e is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : e!.ToJsonString()).ToList() : null;

    private static Dictionary<string, object?> Success(bool success) => new() { ["success"] = success };

    private static Dictionary<string, object?> Pushed(ItemRecord item) => new()
    {
        ["runQueueItemId"] = item.Id, ["runSpec"] = item.RunSpec.ToJsonString(),
    };

    private static Dictionary<string, object?> Entity(EntityRecord e) => new()
    {
        ["id"] = e.Id, ["name"] = e.Name, ["isTeam"] = e.IsTeam, [Record] = e,
    };

    private static Dictionary<string, object?> Project(ProjectRecord p, StandInState state) => new()
    {
        ["id"] = p.Id, ["internalId"] = p.InternalId, ["name"] = p.Name, ["entityName"] = p.Entity, ["description"] = null, ["access"] = "PRIVATE",
        ["views"] = "{}", ["entity"] = Entity(state.EntityByName(p.Entity)), [Record] = p,
    };

    private static Dictionary<string, object?> Config(ResourceConfigRecord c) => new()
    {
        ["id"] = c.Id, ["config"] = c.Config.DeepClone(), ["resource"] = c.Resource,
        ["templateVariables"] = c.TemplateVariables.Select(v => new Dictionary<string, object?>
        {
            ["name"] = v.Key, ["schema"] = (v.Value?["schema"] ?? new JsonObject()).ToJsonString(),
        }).ToList(),
    };

    private static Dictionary<string, object?> Queue(QueueRecord q) => new()
    {
        ["id"] = q.Id, ["name"] = q.Name, ["createdBy"] = q.CreatedBy, ["access"] = q.Access,
        ["defaultResourceConfigID"] = q.ConfigId, ["prioritizationMode"] = q.PrioritizationMode,
        ["externalLinks"] = q.ExternalLinks, [Record] = q,
    };

    private static Dictionary<string, object?>? Info(ItemInfo? i) => i is null ? null : new()
    {
        ["message"] = i.Message, ["stage"] = i.Stage, ["filePaths"] = i.FilePaths, ["createdAt"] = i.At,
    };

    private static Dictionary<string, object?> Item(ItemRecord i) => new()
    {
        ["id"] = i.Id, ["state"] = i.State, ["associatedRunId"] = i.AssociatedRunId, ["runSpec"] = i.RunSpec.ToJsonString(),
        ["priority"] = i.Priority, ["createdAt"] = i.CreatedAt, ["updatedAt"] = i.UpdatedAt, ["launchAgentId"] = i.LaunchAgentId,
        ["error"] = Info(i.Error), ["warnings"] = i.Warnings.Select(Info).ToList(),
    };

    private static Dictionary<string, object?> Run(RunRecord r, StandInState state) => state.Locked(() => new Dictionary<string, object?>
    {
        ["id"] = r.Id, ["name"] = r.Name, ["displayName"] = r.DisplayName ?? r.Name, ["description"] = r.Description,
        ["config"] = r.Config ?? "{}", ["sweepName"] = r.SweepName, ["historyLineCount"] = 0, ["state"] = r.State,
        ["stopped"] = r.Stopped, [Record] = r,
    });

    private static Dictionary<string, object?> Sweep(SweepRecord s) => new() { ["id"] = s.Id, ["name"] = s.Name, ["state"] = s.State };

    private static Dictionary<string, object?> Agent(AgentRecord a) => new()
    {
        ["id"] = a.Id, ["name"] = a.Name, ["runQueues"] = a.QueueIds.ToList(), ["hostname"] = a.Hostname,
        ["agentStatus"] = a.Status, ["stopPolling"] = a.StopPolling, ["heartbeatAt"] = a.HeartbeatAt,
    };
}
