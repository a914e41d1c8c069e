using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.WandbJobs;
using static WandbLaunch.TestSupport.LaunchAssertions;

namespace WandbLaunch.Engine.Tests.WandbJobs;

public sealed class JobArtifactQueryTests : IDisposable
{
    private readonly TempStore _store = new("ent");
    private readonly Func<string, string?> _env = n => n == "WANDB_PROJECT" ? "proj" : null;

    public void Dispose() => _store.Dispose();

    private Engine.Storage.ILaunchBackend Backend => _store.Backend;

    private Task<JobCreateResult> ImageAsync(string image, string? name = null) =>
        new JobCreator(Backend, _env).CreateAsync(new JobCreateRequest { Source = JobCreateSource.Image, Path = image, Name = name }, default);

    [Fact]
    public async Task A_listing_has_each_job_at_its_latest_version_and_name_or_all_lists_every_version()
    {
        await ImageAsync("repo/a:1", "a");
        await ImageAsync("repo/a:2", "a");
        await ImageAsync("repo/b:1", "b");
        var query = new JobArtifactQuery(Backend, _env);

        var latest = await query.ListAsync(null, null, null, allVersions: false, default);
        Assert.Equal(["a:v1", "b:v0"], latest.Select(v => $"{v.Name}:{v.Version}").Order());
        var versions = await query.ListAsync(null, null, "a", allVersions: false, default);
        Assert.Equal(["v1", "v0"], versions.Select(v => v.Version));
        Assert.Equal(3, (await query.ListAsync(null, "proj", null, allVersions: true, default)).Count);
        Assert.Empty(await query.ListAsync("ent", "other", null, allVersions: true, default));
    }

    [Fact]
    public async Task Inspecting_a_version_reads_its_wandb_job_json_and_refuses_one_that_does_not_match_its_digest()
    {
        var created = await ImageAsync("repo/a:1", "a");
        var query = new JobArtifactQuery(Backend, _env);
        var details = await query.InspectAsync(ArtifactPath.Parse("ent/proj/a:1"), default);
        Assert.Equal(JobSourceType.Image, details.Definition.SourceType);
        Assert.Equal("repo/a:1", details.Definition.Image);
        Assert.Contains(details.Manifest.Entries, e => e.Path == "requirements.frozen.txt");

        await ThrowsLaunchAsync("ArtifactNotFound", () => query.InspectAsync(ArtifactPath.Parse("ent/proj/nope"), default));
        await ThrowsLaunchAsync("ArtifactAliasNotFound", () => query.InspectAsync(ArtifactPath.Parse("ent/proj/a:v4"), default));

        // The local store's object file changed on disk: its manifest still has the old digest.
        var objectFile = await TestArtifacts.ObjectFileAsync(_store.Backend, created.Job, "wandb-job.json");
        var bytes = await File.ReadAllBytesAsync(objectFile);
        bytes[0] ^= 0x20;
        await File.WriteAllBytesAsync(objectFile, bytes);
        await ThrowsLaunchAsync("ArtifactDigestMismatch", () => query.InspectAsync(ArtifactPath.Parse("ent/proj/a:latest"), default));
    }
}
