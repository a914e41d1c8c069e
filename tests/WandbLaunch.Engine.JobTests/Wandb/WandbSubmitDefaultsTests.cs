using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Services;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage.Wandb;
using WandbLaunch.Tests.WandbServer;

namespace WandbLaunch.Engine.JobTests.Wandb;

/// <summary>
/// What Submit fills in on a W&amp;B server when the user names nothing: the entity the key's viewer has, and the key's
/// user as the author (<c>cli/cli.py</c>: <c>author = api.viewer().get("username") or entity</c>), never the name of the
/// operating-system user who runs pwsh.
/// </summary>
public sealed class WandbSubmitDefaultsTests : IAsyncLifetime
{
    private static readonly CancellationToken None = CancellationToken.None;
    private WandbTestBed _bed = null!;

    public async Task InitializeAsync() => _bed = await WandbTestBed.StartAsync();

    public async Task DisposeAsync() => await _bed.DisposeAsync();

    private static SubmitOptions Image(QueueKey queue) => new() { Queue = queue, DockerImage = "example/train:1", Project = "proj" };

    [Fact]
    public async Task The_author_is_the_api_keys_user_on_a_team_entity_as_wandb_cli_launch()
    {
        _bed.Server.AddTeam("acme", WandbTestBed.Entity);
        using var team = _bed.Open(c => c with { Entity = "acme" });
        var queue = await TestQueues.CreateAsync(team, "acme", "team-q", LaunchResource.LocalContainer);

        var job = await new JobSubmission(team, _ => null).SubmitAsync(Image(queue), None);

        var spec = (await team.GetJobAsync(job.Id, None))!.GetSpec();
        Assert.Equal("acme", spec.Entity);
        Assert.Equal(WandbTestBed.Entity, spec.Author);
        Assert.NotEqual(Environment.UserName, spec.Author);
    }

    [Fact]
    public async Task A_given_author_or_a_specs_own_author_is_kept()
    {
        var queue = await TestQueues.CreateAsync(_bed.Backend, WandbTestBed.Entity, "images", LaunchResource.LocalContainer);
        var submission = new JobSubmission(_bed.Backend, _ => null);
        var given = await submission.SubmitAsync(Image(queue) with { Author = "carol" }, None);
        Assert.Equal("carol", (await _bed.Backend.GetJobAsync(given.Id, None))!.GetSpec().Author);

        var fromSpec = await submission.SubmitAsync(Image(queue) with { Spec = System.Text.Json.Nodes.JsonNode.Parse("""{"author": "dave"}""") }, None);
        Assert.Equal("dave", (await _bed.Backend.GetJobAsync(fromSpec.Id, None))!.GetSpec().Author);

        // W&B's `wandb launch` (cli/cli.py launch) passes no author: an empty one asks for that.
        var none = await submission.SubmitAsync(Image(queue) with { Spec = System.Text.Json.Nodes.JsonNode.Parse("""{"author": ""}""") }, None);
        Assert.False((await _bed.Backend.GetJobAsync(none.Id, None))!.GetSpec().ToJsonObject().ContainsKey("author"));
    }

    [Fact]
    public async Task The_viewer_is_asked_once_per_connection()
    {
        var queue = await TestQueues.CreateAsync(_bed.Backend, WandbTestBed.Entity, "images", LaunchResource.LocalContainer);
        _bed.Server.ClearCalls();
        var submission = new JobSubmission(_bed.Open(), _ => null);
        await submission.SubmitAsync(Image(queue), None);
        await submission.SubmitAsync(Image(queue), None);
        Assert.True(_bed.Server.Calls.Count(c => c.Fields.Contains("viewer")) == 1, string.Join(", ", _bed.Server.Calls.Select(c => c.OperationName)));
    }
}
