using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Queues;

namespace WandbLaunch.Backends.ContractTests;

/// <summary>Queues: create, read, list, update (rename), delete, and what each refuses.</summary>
public abstract partial class LaunchBackendContract<TFactory>
{
    [Fact]
    public async Task A_created_queue_is_returned_and_stored_with_everything_given()
    {
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        var created = await Backend.CreateQueueAsync(Queue("gpu", resource: "Kubernetes",
            configJson: """{"resource_args": {"kubernetes": {"spec": {"cpus": "{{cpus}}"}}}}""",
            variablesJson: """{"cpus": {"type": "integer", "minimum": 1, "maximum": 8, "default": 2}}""",
            prioritization: true), None);

        Assert.False(string.IsNullOrEmpty(created.QueueId));
        Assert.Equal("gpu", created.Name);
        Assert.Equal(Entity, created.Entity);
        Assert.Equal(Project, created.Project);
        Assert.Equal("kubernetes", created.Resource);
        Assert.True(created.Prioritization);
        Assert.Equal("V0", created.PrioritizationMode);
        Assert.Equal(QueueAccess.Project, created.Access);
        Assert.Equal("tester", created.CreatedBy);
        if (Has(BackendCapability.QueueTimes)) Assert.InRange(created.CreatedAt, before, DateTimeOffset.UtcNow.AddSeconds(1));
        Assert.Equal(Backend.Location, created.Store);
        Assert.Equal(0, created.PendingCount);
        Assert.Equal("""{"spec":{"cpus":"{{cpus}}"}}""", created.GetResourceConfig().ToJsonString());
        Assert.Equal("""{"resource_args":{"kubernetes":{"spec":{"cpus":"{{cpus}}"}}}}""", created.ConfigurationJson);

        var read = await Backend.GetQueueAsync(Key("gpu"), None);
        Assert.NotNull(read);
        Assert.Equal(created.QueueId, read.QueueId);
        Assert.Equal("""{"spec":{"cpus":"{{cpus}}"}}""", read.GetResourceConfig().ToJsonString());
        var variable = Assert.Single(read.TemplateVariables);
        Assert.Equal(("cpus", "integer", 1.0, 8.0, (object?)2L), (variable.Name, variable.Type, variable.Minimum, variable.Maximum, variable.Default));
        Assert.True(read.Prioritization);
        Assert.Equal(created.CreatedAt, read.CreatedAt);
    }

    [Fact]
    public async Task Queues_are_seen_through_a_second_handle()
    {
        await Backend.CreateQueueAsync(Queue("persisted", configJson: """{"cpus": 2}"""), None);

        var read = await Factory.Open().GetQueueAsync(Key("persisted"), None);

        Assert.NotNull(read);
        Assert.Equal(2L, JsonTree.ToPlain(read.GetResourceConfig()["cpus"]));
    }

    [Fact]
    public async Task A_missing_queue_reads_as_null()
    {
        Assert.Null(await Backend.GetQueueAsync(Key("nothing"), None));
    }

    [Fact]
    public async Task Listing_filters_by_entity_and_project_and_sorts_by_name()
    {
        await Backend.CreateQueueAsync(Queue("b"), None);
        await Backend.CreateQueueAsync(Queue("a"), None);
        await Backend.CreateQueueAsync(Queue("c", project: "other"), None);
        await Backend.CreateQueueAsync(Queue("d", entity: "someone-else"), None);

        Assert.Equal(["a", "b"], (await Backend.GetQueuesAsync(Entity, Project, None)).Select(q => q.Name));
        Assert.Equal(["c"], (await Backend.GetQueuesAsync(Entity, "other", None)).Select(q => q.Name));
        Assert.Equal(["d"], (await Backend.GetQueuesAsync("someone-else", Project, None)).Select(q => q.Name));
        if (!Has(BackendCapability.ListQueuesAcrossProjects)) return;
        Assert.Equal(["a", "b", "c"], (await Backend.GetQueuesAsync(Entity, null, None)).Select(q => q.Name));
        Assert.Equal(["c"], (await Backend.GetQueuesAsync(null, "other", None)).Select(q => q.Name));
        Assert.Equal(4, (await Backend.GetQueuesAsync(null, null, None)).Count);
    }

    [Fact]
    public async Task A_duplicate_name_in_the_same_project_is_refused()
    {
        var first = await Backend.CreateQueueAsync(Queue("dup", configJson: """{"a": 1}"""), None);

        var e = await Assert.ThrowsAnyAsync<LaunchException>(() => Backend.CreateQueueAsync(Queue("dup", configJson: """{"a": 2}"""), None));

        Assert.Equal("QueueExists", e.ErrorId);
        Assert.Equal(LaunchErrorCategory.ResourceExists, e.Category);
        Assert.Equal("dup", e.Target);
        var stored = Assert.Single(await Backend.GetQueuesAsync(null, null, None));
        Assert.Equal(first.QueueId, stored.QueueId);
        Assert.Equal("""{"a":1}""", stored.GetResourceConfig().ToJsonString());
    }

    [Fact]
    public async Task The_same_name_in_another_project_or_entity_is_fine()
    {
        var created = new[]
        {
            await Backend.CreateQueueAsync(Queue("shared"), None),
            await Backend.CreateQueueAsync(Queue("shared", project: "other"), None),
            await Backend.CreateQueueAsync(Queue("shared", entity: "other-team"), None),
        };

        Assert.Equal(3, created.Select(q => q.QueueId).Distinct().Count());
        Assert.Equal(created[1].QueueId, (await Backend.GetQueueAsync(Key("shared", project: "other"), None))!.QueueId);
        Assert.Equal(created[2].QueueId, (await Backend.GetQueueAsync(Key("shared", entity: "other-team"), None))!.QueueId);
        if (Has(BackendCapability.ListQueuesAcrossProjects)) Assert.Equal(3, (await Backend.GetQueuesAsync(null, null, None)).Count);
    }

    [Fact]
    public async Task Queue_names_differing_only_in_case_are_different_queues()
    {
        await Backend.CreateQueueAsync(Queue("Gpu"), None);
        await Backend.CreateQueueAsync(Queue("gpu"), None);
        Assert.Equal(2, (await Backend.GetQueuesAsync(null, null, None)).Count);
    }

    [Fact]
    public async Task An_invalid_definition_stores_nothing()
    {
        var e = await Assert.ThrowsAnyAsync<LaunchException>(() => Backend.CreateQueueAsync(Queue("q", configJson: """{"cpus": "{{cpus}}"}"""), None));
        Assert.Equal("TemplateVariableMissing", e.ErrorId);
        var bad = await Assert.ThrowsAnyAsync<LaunchException>(() => Backend.CreateQueueAsync(Queue(new string('x', 65)), None));
        Assert.Equal("InvalidQueueName", bad.ErrorId);
        Assert.Empty(await Backend.GetQueuesAsync(null, null, None));
    }

    [SkippableFact]
    public async Task Update_changes_the_given_parts_and_keeps_the_rest()
    {
        Needs(BackendCapability.ChangeQueueAccess);
        Needs(BackendCapability.QueueTimes);
        var created = await Backend.CreateQueueAsync(Queue("q", configJson: """{"cpus": "{{cpus}}"}""",
            variablesJson: """{"cpus": {"type": "integer", "default": 1}}"""), None);
        await Task.Delay(5);

        var updated = await Backend.UpdateQueueAsync(Key("q"), new QueueUpdate { Prioritization = true, Access = QueueAccess.User }, None);

        Assert.Equal(created.QueueId, updated.QueueId);
        Assert.True(updated.Prioritization);
        Assert.Equal(QueueAccess.User, updated.Access);
        Assert.Equal("""{"cpus":"{{cpus}}"}""", updated.GetResourceConfig().ToJsonString());
        Assert.Equal("cpus", Assert.Single(updated.TemplateVariables).Name);
        Assert.Equal(created.CreatedAt, updated.CreatedAt);
        Assert.True(updated.UpdatedAt > created.UpdatedAt);
    }

    [Fact]
    public async Task Update_replaces_configuration_and_variables_together()
    {
        await Backend.CreateQueueAsync(Queue("q", configJson: """{"cpus": "{{cpus}}"}""", variablesJson: """{"cpus": {"type": "integer", "default": 1}}"""), None);

        var updated = await Backend.UpdateQueueAsync(Key("q"), new QueueUpdate
        {
            ConfigurationGiven = true,
            Configuration = JsonNode.Parse("""{"resource_args": {"local-process": {"memory": "{{mem}}"}}}"""),
            TemplateVariables = (JsonObject)JsonNode.Parse("""{"mem": {"type": "string", "enum": ["1g", "2g"], "default": "1g"}}""")!,
        }, None);

        Assert.Equal("""{"memory":"{{mem}}"}""", updated.GetResourceConfig().ToJsonString());
        Assert.Equal("mem", Assert.Single(updated.TemplateVariables).Name);
        Assert.Equal("""{"memory":"{{mem}}"}""", (await Backend.GetQueueAsync(Key("q"), None))!.GetResourceConfig().ToJsonString());
    }

    [Fact]
    public async Task An_invalid_update_is_refused_and_leaves_the_stored_queue_unchanged()
    {
        var created = await Backend.CreateQueueAsync(Queue("q", configJson: """{"cpus": "{{cpus}}"}""",
            variablesJson: """{"cpus": {"type": "integer", "default": 1}}"""), None);

        // The new configuration no longer uses {{cpus}}, while the variable is kept.
        var unused = await Assert.ThrowsAnyAsync<LaunchException>(() => Backend.UpdateQueueAsync(Key("q"),
            new QueueUpdate { ConfigurationGiven = true, Configuration = JsonNode.Parse("""{"cpus": 4}"""), Prioritization = true }, None));
        Assert.Equal("TemplateVariableUnused", unused.ErrorId);

        var badName = await Assert.ThrowsAnyAsync<LaunchException>(() => Backend.UpdateQueueAsync(Key("q"), new QueueUpdate { NewName = "bad*" }, None));
        Assert.Equal("InvalidQueueName", badName.ErrorId);

        var badVariables = await Assert.ThrowsAnyAsync<LaunchException>(() => Backend.UpdateQueueAsync(Key("q"),
            new QueueUpdate { TemplateVariables = (JsonObject)JsonNode.Parse("""{"cpus": {"type": "boolean"}}""")! }, None));
        Assert.Equal("InvalidTemplateVariable", badVariables.ErrorId);

        var stored = await Backend.GetQueueAsync(Key("q"), None);
        Assert.NotNull(stored);
        Assert.Equal("""{"cpus":"{{cpus}}"}""", stored.GetResourceConfig().ToJsonString());
        Assert.False(stored.Prioritization);
        Assert.Equal(created.UpdatedAt, stored.UpdatedAt);
        Assert.Equal(1L, Assert.Single(stored.TemplateVariables).Default);
    }

    [SkippableFact]
    public async Task Rename_moves_the_queue_to_the_new_name()
    {
        Needs(BackendCapability.RenameQueues);
        var created = await Backend.CreateQueueAsync(Queue("old"), None);

        var renamed = await Backend.UpdateQueueAsync(Key("old"), new QueueUpdate { NewName = "new" }, None);

        Assert.Equal(created.QueueId, renamed.QueueId);
        Assert.Equal("new", renamed.Name);
        Assert.Null(await Backend.GetQueueAsync(Key("old"), None));
        Assert.Equal(created.QueueId, (await Backend.GetQueueAsync(Key("new"), None))!.QueueId);
    }

    [SkippableFact]
    public async Task Renaming_onto_an_existing_queue_is_refused_and_changes_nothing()
    {
        Needs(BackendCapability.RenameQueues);
        var a = await Backend.CreateQueueAsync(Queue("a"), None);
        var b = await Backend.CreateQueueAsync(Queue("b"), None);

        var e = await Assert.ThrowsAnyAsync<LaunchException>(() => Backend.UpdateQueueAsync(Key("a"), new QueueUpdate { NewName = "b", Prioritization = true }, None));

        Assert.Equal("QueueExists", e.ErrorId);
        Assert.Equal("b", e.Target);
        Assert.Equal(a.QueueId, (await Backend.GetQueueAsync(Key("a"), None))!.QueueId);
        Assert.False((await Backend.GetQueueAsync(Key("a"), None))!.Prioritization);
        Assert.Equal(b.QueueId, (await Backend.GetQueueAsync(Key("b"), None))!.QueueId);
    }

    [Fact]
    public async Task Renaming_to_the_same_name_is_fine()
    {
        await Backend.CreateQueueAsync(Queue("same"), None);
        var updated = await Backend.UpdateQueueAsync(Key("same"), new QueueUpdate { NewName = "same" }, None);
        Assert.Equal("same", updated.Name);
    }

    [SkippableFact]
    public async Task Renaming_to_a_name_used_in_another_project_is_fine()
    {
        Needs(BackendCapability.RenameQueues);
        await Backend.CreateQueueAsync(Queue("a"), None);
        await Backend.CreateQueueAsync(Queue("b", project: "other"), None);
        Assert.Equal("b", (await Backend.UpdateQueueAsync(Key("a"), new QueueUpdate { NewName = "b" }, None)).Name);
    }

    [Fact]
    public async Task Updating_or_deleting_a_missing_queue_is_QueueNotFound()
    {
        await Backend.CreateQueueAsync(Queue("exists", project: "other"), None);

        var update = await Assert.ThrowsAnyAsync<LaunchException>(() => Backend.UpdateQueueAsync(Key("exists"), new QueueUpdate { Prioritization = true }, None));
        Assert.Equal("QueueNotFound", update.ErrorId);
        Assert.Equal(LaunchErrorCategory.ObjectNotFound, update.Category);
        Assert.Equal("exists", update.Target);

        var delete = await Assert.ThrowsAnyAsync<LaunchException>(() => Backend.DeleteQueueAsync(Key("ghost"), false, None));
        Assert.Equal("QueueNotFound", delete.ErrorId);
        Assert.Contains($"{Entity}/{Project}", delete.Message);
    }

    [Fact]
    public async Task Delete_removes_only_that_queue()
    {
        await Backend.CreateQueueAsync(Queue("keep"), None);
        await Backend.CreateQueueAsync(Queue("drop"), None);
        await Backend.CreateQueueAsync(Queue("drop", project: "other"), None);

        await Backend.DeleteQueueAsync(Key("drop"), false, None);

        Assert.Null(await Backend.GetQueueAsync(Key("drop"), None));
        Assert.NotNull(await Backend.GetQueueAsync(Key("keep"), None));
        Assert.NotNull(await Backend.GetQueueAsync(Key("drop", project: "other"), None));
        // The name is free again.
        await Backend.CreateQueueAsync(Queue("drop"), None);
    }

    [Fact]
    public async Task A_cancelled_write_stores_nothing()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Backend.CreateQueueAsync(Queue("never"), cts.Token));
        Assert.Empty(await Backend.GetQueuesAsync(null, null, None));
    }

    [Fact]
    public async Task When_many_handles_create_the_same_queue_at_once_exactly_one_wins_and_the_rest_get_QueueExists()
    {
        const int Writers = 6;
        var handles = Enumerable.Range(0, Writers).Select(_ => Factory.Open()).ToList();
        using var start = new Barrier(Writers);
        // A thread each (not the pool, which may have fewer), all released at once.
        var results = await Task.WhenAll(handles.Select((handle, i) => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            try
            {
                handle.CreateQueueAsync(Queue("contested", configJson: $$"""{"by": {{i}}}"""), None).GetAwaiter().GetResult();
                return (LaunchException?)null;
            }
            catch (LaunchException e)
            {
                return e;
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)));

        Assert.Single(results, e => e is null);
        Assert.All(results.Where(e => e is not null), e => Assert.Equal("QueueExists", e!.ErrorId));
        Assert.Single(await Backend.GetQueuesAsync(null, null, None));
    }
}
