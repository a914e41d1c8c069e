using System.Text.Json.Nodes;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Services;
using static WandbLaunch.TestSupport.LaunchAssertions;

namespace WandbLaunch.Engine.JobTests;

public sealed class JobSubmissionTests : IDisposable
{
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly Store _store = new();
    private readonly TempDirectory _code = new();

    public JobSubmissionTests() => _code.Write("train.py", "print('hi')\n");

    public void Dispose()
    {
        _code.Dispose();
        _store.Dispose();
    }

    private JobSubmission Submission => new(_store.Backend, _ => null);

    private SubmitOptions Code(string queue = "q") => new() { QueueName = queue, Uri = _code.Path, EntryPoint = ["python", "train.py"] };

    [Fact]
    public async Task Flags_become_the_launch_spec_of_the_stored_job()
    {
        await _store.QueueAsync("q", prioritization: true);
        var job = await Submission.SubmitAsync(Code() with
        {
            Arguments = ["--lr", "0.1"],
            RunConfig = JsonNode.Parse("""{"epochs": 3}"""),
            ResourceArgs = JsonNode.Parse("""{"env": {"A": "1"}}"""),
            Name = "run-1",
            Project = "proj",
            Priority = LaunchPriority.High,
            Author = "alice",
        }, None);
        Assert.Equal(LaunchJobState.Pending, job.State);
        Assert.Equal(LaunchPriority.High, job.Priority);
        var spec = (await _store.JobAsync(job.Id)).GetSpec().ToJsonObject();
        Assert.Equal(_code.Path, (string?)spec["uri"]);
        Assert.Equal("""["python","train.py"]""", spec["overrides"]!["entry_point"]!.ToJsonString());
        Assert.Equal("""["--lr","0.1"]""", spec["overrides"]!["args"]!.ToJsonString());
        Assert.Equal(3, (int)spec["overrides"]!["run_config"]!["epochs"]!);
        // Bare resource arguments are the queue's resource's.
        Assert.Equal("1", (string?)spec["resource_args"]![LaunchResource.LocalProcess]!["env"]!["A"]);
        Assert.Equal("run-1", (string?)spec["name"]);
        Assert.Equal("proj", (string?)spec["project"]);
        Assert.Equal(Store.Entity, (string?)spec["entity"]);
        Assert.Equal("alice", (string?)spec["author"]);
    }

    [Fact]
    public async Task Options_override_the_keys_of_a_given_spec_and_keep_the_others()
    {
        await _store.QueueAsync("q");
        var spec = JsonNode.Parse("""{"name": "old", "custom_key": {"kept": true}, "author": "bob", "overrides": {"entry_point": ["python", "train.py"]}}""")!;
        spec["uri"] = _code.Path;
        var job = await Submission.SubmitAsync(new SubmitOptions { QueueName = "q", Spec = spec, Name = "new" }, None);
        var stored = (await _store.JobAsync(job.Id)).GetSpec().ToJsonObject();
        Assert.Equal("new", (string?)stored["name"]);
        Assert.True((bool)stored["custom_key"]!["kept"]!);
        Assert.Equal("bob", (string?)stored["author"]);
        Assert.Equal("old", (string?)spec["name"]); // the caller's document is not changed
    }

    [Fact]
    public async Task A_spec_file_is_read_as_json_or_yaml()
    {
        await _store.QueueAsync("q");
        var file = _code.Write("spec.yaml", $"uri: '{_code.Path}'\noverrides:\n  entry_point: [python, train.py]\nname: from-file\n");
        var job = await Submission.SubmitAsync(new SubmitOptions { QueueName = "q", SpecFile = file }, None);
        Assert.Equal("from-file", job.Name);
    }

    [Fact]
    public async Task A_queue_key_names_the_queue_in_its_own_entity()
    {
        await _store.QueueAsync("q");
        var job = await Submission.SubmitAsync(Code() with { QueueName = null, Queue = Store.Key("q") }, None);
        Assert.Equal("q", job.Queue);
    }

    [Fact]
    public async Task Every_caller_is_refused_a_job_the_queues_runner_could_never_run_before_anything_is_stored()
    {
        var queue = await _store.QueueAsync("q");
        await ThrowsLaunchAsync("JobCannotRun", () => Submission.SubmitAsync(new SubmitOptions { QueueName = "q", Uri = _code.Path }, None));
        await ThrowsLaunchAsync("JobCannotRun", () => Submission.SubmitAsync(new SubmitOptions { QueueName = "q", DockerImage = "python:3.12" }, None));
        await ThrowsLaunchAsync("JobCannotRun", () => Submission.CheckAsync(new SubmitOptions { QueueName = "q", DockerImage = "python:3.12" }, None));
        await ThrowsLaunchAsync("JobCannotRun", () => Submission.PreviewAsync(new SubmitOptions { QueueName = "q", DockerImage = "python:3.12" }, null, None));
        Assert.Empty(await _store.Backend.GetJobsAsync(new JobQuery { Queue = queue }, None));
    }

    [Fact]
    public async Task A_checked_request_shows_what_an_agent_would_run_and_stores_nothing_until_submitted()
    {
        var queue = await _store.QueueAsync("q");
        var preview = await Submission.CheckAsync(Code(), None);
        Assert.Equal(LaunchResource.LocalProcess, preview.Rendered.Resource);
        Assert.Contains("train.py", preview.Rendered.Text);
        Assert.Contains(_code.Path, preview.Describe());
        Assert.Empty(await _store.Backend.GetJobsAsync(new JobQuery { Queue = queue }, None));
        var job = await Submission.SubmitAsync(preview, None);
        Assert.Equal(preview.Job.Source, job.Source);
        Assert.Equal(preview.Job.GetSpec().ToJsonObject()["overrides"]!.ToJsonString(), job.GetSpec().ToJsonObject()["overrides"]!.ToJsonString());
    }

    [Fact]
    public async Task Refuses_a_missing_queue_a_missing_directory_and_arguments_that_are_not_mappings()
    {
        await _store.QueueAsync("q");
        await ThrowsLaunchAsync("QueueNotFound", () => Submission.SubmitAsync(Code("nope"), None));
        await ThrowsLaunchAsync("SourceDirectoryNotFound", () => Submission.SubmitAsync(Code() with { Uri = _code.File("missing") }, None));
        await ThrowsLaunchAsync("InvalidResourceArgs", () => Submission.SubmitAsync(Code() with { ResourceArgs = JsonValue.Create("text") }, None));
        await ThrowsLaunchAsync("InvalidLaunchSpec", () => Submission.SubmitAsync(new SubmitOptions { QueueName = "q", Spec = new JsonArray() }, None));
    }

    // W&B's wandb launch -E (cli/cli.py) takes the entry point as one string and runs shlex.split on it.
    [Theory]
    [InlineData("python train.py --lr 0.1", """["python","train.py","--lr","0.1"]""")]
    [InlineData("  python\ttrain.py  ", """["python","train.py"]""")]
    [InlineData("python 'my script.py' \"a \\\"b\\\" c\"", """["python","my script.py","a \"b\" c"]""")]
    [InlineData("sh -c 'echo $HOME' x\\ y '' \"\\n\"", """["sh","-c","echo $HOME","x y","","\\n"]""")]
    [InlineData("train.py", """["train.py"]""")]
    public async Task An_entry_point_given_as_one_string_is_split_as_wandb_cli_splits_E_with_shlex(string line, string expected)
    {
        await _store.QueueAsync("q");
        var job = await Submission.SubmitAsync(Code() with { EntryPoint = [line] }, None);
        var spec = (await _store.JobAsync(job.Id)).GetSpec().ToJsonObject();
        Assert.Equal(expected, spec["overrides"]!["entry_point"]!.ToJsonString(new System.Text.Json.JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
    }

    [Fact]
    public async Task An_entry_point_given_as_words_keeps_each_word_whole()
    {
        await _store.QueueAsync("q");
        var job = await Submission.SubmitAsync(Code() with { EntryPoint = ["python", "my script.py"] }, None);
        var spec = (await _store.JobAsync(job.Id)).GetSpec().ToJsonObject();
        Assert.Equal("""["python","my script.py"]""", spec["overrides"]!["entry_point"]!.ToJsonString());
    }

    [Theory]
    [InlineData("python 'train.py", "No closing quotation")]
    [InlineData("python \"train.py\\\"", "No closing quotation")]
    [InlineData("python train.py \\", "No escaped character")]
    public async Task An_entry_point_line_shlex_cannot_split_is_refused_before_anything_is_stored(string line, string reason)
    {
        await _store.QueueAsync("q");
        var e = await ThrowsLaunchAsync("InvalidEntryPoint", () => Submission.SubmitAsync(Code() with { EntryPoint = [line] }, None));
        Assert.Contains(reason, e.Message);
        Assert.Empty(await _store.Backend.GetJobsAsync(new(), None));
    }

    // W&B's set_project_entity_defaults (utils.py): the project is -p, else the spec's, else the middle of the job's
    // path (get_project_from_job), kept as written (lower-casing happens only where the agent uses it).
    [Fact]
    public async Task A_job_without_a_project_goes_to_the_project_of_its_job_path_as_wandb_set_project_entity_defaults()
    {
        await _store.QueueAsync("q");
        await TestJobs.LogJobAsync(TestArtifacts.For(_store.Backend), _code.Path, Store.Entity, "Vision-Models", "job-img", TestJobs.ImageDefinition("python:3.12"));
        var job = await Submission.SubmitAsync(new SubmitOptions { QueueName = "q", Job = $"{Store.Entity}/Vision-Models/job-img:latest" }, None);
        Assert.Equal("Vision-Models", (await _store.JobAsync(job.Id)).GetSpec().Project);

        var given = await Submission.SubmitAsync(new SubmitOptions { QueueName = "q", Job = $"{Store.Entity}/Vision-Models/job-img:latest", Project = "other" }, None);
        Assert.Equal("other", (await _store.JobAsync(given.Id)).GetSpec().Project);
    }

    // W&B's set_project_entity_defaults (utils.py): a git URI (_GIT_URI_REGEX) without -p runs in the project named
    // after its repository, os.path.splitext(os.path.basename(uri))[0], as written; a local directory gets none.
    [Theory]
    [InlineData("https://github.com/acme/Vision-Trainer.git", "Vision-Trainer")]
    [InlineData("git@gitlab.com:acme/trainer.git", "trainer")]
    [InlineData("https://dev.azure.com/acme/proj/_git/trainer", "trainer")]
    public async Task A_git_uri_without_a_project_goes_to_the_project_named_after_its_repository_as_wandb_set_project_entity_defaults(string uri, string project)
    {
        await _store.QueueAsync("q");
        var job = await Submission.SubmitAsync(new SubmitOptions { QueueName = "q", Uri = uri, EntryPoint = ["python", "train.py"] }, None);
        Assert.Equal(project, (await _store.JobAsync(job.Id)).GetSpec().Project);

        var given = await Submission.SubmitAsync(new SubmitOptions { QueueName = "q", Uri = uri, EntryPoint = ["python", "train.py"], Project = "other" }, None);
        Assert.Equal("other", (await _store.JobAsync(given.Id)).GetSpec().Project);

        var local = await Submission.SubmitAsync(Code(), None);
        Assert.Null((await _store.JobAsync(local.Id)).GetSpec().Project);
    }

    [Fact]
    public async Task Without_a_server_the_author_is_the_local_user_unless_given()
    {
        await _store.QueueAsync("q");
        var job = await Submission.SubmitAsync(Code(), None);
        Assert.Equal(Environment.UserName, (await _store.JobAsync(job.Id)).GetSpec().Author);
    }
}
