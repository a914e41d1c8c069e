using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Services;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.WandbJobs;
using static WandbLaunch.TestSupport.LaunchAssertions;

namespace WandbLaunch.Engine.Tests.WandbJobs;

/// <summary>Submit with W&amp;B jobs: -Job and W&amp;B's launch flags, and -Uri made a job first on a backend that runs only jobs.</summary>
public sealed class JobSubmissionJobTests : IDisposable
{
    private readonly TempStore _store = new("ent");
    private readonly TempDirectory _code = new();

    public JobSubmissionJobTests()
    {
        _code.Write("train.py", "print('hi')\n");
        _code.Write("requirements.txt", "wandb\n");
    }

    public void Dispose()
    {
        _code.Dispose();
        _store.Dispose();
    }

    /// <summary>The local store, or (<paramref name="submitUriAsJob"/>) the local store as if it ran only jobs, as a W&amp;B server does.</summary>
    private ILaunchBackend Backend(bool submitUriAsJob) => submitUriAsJob ? BackendProxy.Wrap(_store.Backend, submitUriAsJob: true) : _store.Backend;

    private static JobSubmission Submission(ILaunchBackend backend) =>
        new(backend, n => n == "WANDB_PROJECT" ? "proj" : null);

    private async Task<JobCreateResult> ImageJobAsync(ILaunchBackend backend) =>
        await new JobCreator(backend, n => n == "WANDB_PROJECT" ? "proj" : null).CreateAsync(new JobCreateRequest { Source = JobCreateSource.Image, Path = "repo/img:1" }, default);

    [Fact]
    public async Task Submit_job_stores_a_job_spec_with_the_dockerfile_override()
    {
        var backend = Backend(submitUriAsJob: false);
        await TestQueues.CreateAsync(backend, "ent", "q", LaunchResource.LocalContainer);
        var created = await ImageJobAsync(backend);
        var job = await Submission(backend).SubmitAsync(new SubmitOptions { QueueName = "q", Job = "ent/proj/job-repo_img:1", Dockerfile = "docker/Dockerfile", EntryPoint = ["python", "x.py"] }, default);
        var spec = job.GetSpec();
        Assert.Equal("ent/proj/job-repo_img:1", spec.JobArtifactName);
        Assert.Null(spec.Uri);
        Assert.Equal("docker/Dockerfile", spec.Overrides.Dockerfile);
        Assert.Equal(["python", "x.py"], spec.Overrides.EntryPoint);
        Assert.Equal("1", created.Aliases[0]);
    }

    [Fact]
    public async Task Submit_job_refuses_a_missing_job_or_alias_before_anything_is_stored()
    {
        var backend = Backend(submitUriAsJob: false);
        var queue = await TestQueues.CreateAsync(backend, "ent", "q", LaunchResource.LocalContainer);
        await ImageJobAsync(backend);
        await ThrowsLaunchAsync("ArtifactNotFound", () => Submission(backend).SubmitAsync(new SubmitOptions { QueueName = "q", Job = "ent/proj/nope" }, default));
        await ThrowsLaunchAsync("ArtifactAliasNotFound", () => Submission(backend).SubmitAsync(new SubmitOptions { QueueName = "q", Job = "ent/proj/job-repo_img:v7" }, default));
        await ThrowsLaunchAsync("InvalidJobName", () => Submission(backend).SubmitAsync(new SubmitOptions { QueueName = "q", Job = "proj/job-repo_img" }, default));
        Assert.Empty(await backend.GetJobsAsync(new Jobs.JobQuery { Queue = queue }, default));
    }

    [Fact]
    public async Task On_a_backend_that_runs_jobs_a_uri_is_made_a_job_first_and_the_spec_names_its_version()
    {
        var backend = Backend(submitUriAsJob: true);
        await TestQueues.CreateAsync(backend, "ent", "q", LaunchResource.LocalContainer);
        var submission = Submission(backend);
        var job = await submission.SubmitAsync(new SubmitOptions
        {
            QueueName = "q", Uri = _code.Path, EntryPoint = ["python", "train.py"], Project = "proj", BuildContext = "sub", Dockerfile = "Dockerfile", JobName = "trainer",
        }, default);
        var created = Assert.IsType<JobCreateResult>(submission.CreatedJob);
        Assert.Equal("trainer", created.Job.Name);
        Assert.Equal("sub", created.Definition.BuildContext);
        Assert.Equal(["python", "train.py"], created.Definition.EntryPoint);
        var spec = job.GetSpec();
        Assert.Equal("ent/proj/trainer:v0", spec.JobArtifactName);
        Assert.Null(spec.Uri);
        Assert.Null(spec.BuildContext);
        Assert.Equal("Dockerfile", spec.Overrides.Dockerfile);
        Assert.Equal(["python", "train.py"], spec.Overrides.EntryPoint);

        await ThrowsLaunchAsync("UriNeedsEntryPoint", () => submission.SubmitAsync(new SubmitOptions { QueueName = "q", Uri = _code.Path }, default));
    }

    [Fact]
    public async Task The_local_store_keeps_uri_specs_and_refuses_what_only_a_job_can_hold()
    {
        var backend = Backend(submitUriAsJob: false);
        await TestQueues.CreateAsync(backend, "ent", "q", LaunchResource.LocalContainer);
        var submission = Submission(backend);
        var job = await submission.SubmitAsync(new SubmitOptions { QueueName = "q", Uri = _code.Path, EntryPoint = ["python", "train.py"], BuildContext = "." }, default);
        Assert.Equal(_code.Path, job.GetSpec().Uri);
        Assert.Null(submission.CreatedJob);
        Assert.Empty(await TestArtifacts.For(backend).AllVersionsAsync("ent", "proj"));
        await ThrowsLaunchAsync("UriJobNotSupported", () => submission.SubmitAsync(new SubmitOptions { QueueName = "q", Uri = _code.Path, BaseImage = "python:3.11" }, default));
    }
}
