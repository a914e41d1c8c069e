using System.Text;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Tests.WandbServer;

namespace WandbLaunch.Engine.JobTests.Wandb;

/// <summary>
/// Jobs and code as artifacts on a W&amp;B server (the stand-in): logged with wandb-core's operations, read back by
/// alias, version and id, listed; equal contents log no new version; a missing project, collection or alias is
/// the error the store promises; the API key never reaches the host of the signed file URLs; a download that sends
/// more bytes than the manifest says is refused.
/// </summary>
public sealed class WandbArtifactStoreTests : IAsyncLifetime
{
    private const string Entity = WandbTestBed.Entity;
    private const string Project = "proj";
    private const string JobName = "job-github.com_o_r_train.py";
    private static readonly CancellationToken None = CancellationToken.None;
    private WandbTestBed _bed = null!;

    private WandbStandIn Server => _bed.Server;

    private IArtifactStore Store => _bed.Backend.Artifacts;

    public async Task InitializeAsync() => _bed = await WandbTestBed.StartAsync();

    public async Task DisposeAsync() => await _bed.DisposeAsync();

    private NewArtifact Job(string jobJson, string requirements = "numpy==2.1.0\n", params string[] aliases)
    {
        var dir = _bed.Directory.File($"job-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "wandb-job.json"), jobJson);
        File.WriteAllText(Path.Combine(dir, "requirements.frozen.txt"), requirements);
        return new NewArtifact
        {
            Entity = Entity, Project = Project, Name = JobName, Type = "job",
            Files = new Dictionary<string, string>
            {
                ["wandb-job.json"] = Path.Combine(dir, "wandb-job.json"),
                ["requirements.frozen.txt"] = Path.Combine(dir, "requirements.frozen.txt"),
            },
            Aliases = aliases,
            Metadata = new JsonObject { ["_partial"] = true },
        };
    }

    private const string RepoJob = """{"_version": "v0", "source_type": "repo", "source": {"git": {"remote": "https://github.com/o/r.git", "commit": "abc"}, "entrypoint": ["python3.10", "train.py"]}, "input_types": {}, "output_types": {}, "runtime": "3.10.12"}""";

    private async Task<string> ReadAsync(ArtifactVersion version, string path)
    {
        var manifest = await Store.GetManifestAsync(version, None);
        await using var stream = await Store.OpenFileAsync(version, manifest.Find(path)!, None);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await reader.ReadToEndAsync();
    }

    [Fact]
    public async Task A_logged_job_reads_back_by_alias_version_and_id_with_its_files_and_manifest()
    {
        var commit = await Store.CommitAsync(Job(RepoJob, aliases: "prod"), None);

        Assert.Equal(ArtifactCommitKind.Created, commit.Kind);
        var logged = commit.Version;
        Assert.Equal((Entity, Project, JobName, "job", 0), (logged.Entity, logged.Project, logged.Name, logged.Type, logged.VersionIndex));
        Assert.Equal(["latest", "prod"], logged.Aliases.Order());
        Assert.Equal(true, logged.Metadata?["_partial"]?.GetValue<bool>());
        var onServer = Server.Artifact(Entity, Project, JobName)!;
        Assert.Equal((onServer.Id, onServer.Digest), (logged.Id, logged.Digest));
        Assert.Equal(["requirements.frozen.txt", "wandb-job.json"], onServer.Files);

        foreach (var alias in new[] { "latest", "prod", "v0" })
        {
            var found = await Store.GetAsync(new ArtifactPath(Entity, Project, JobName, alias), None);
            Assert.Equal((logged.Id, 0, logged.Digest), (found.Id, found.VersionIndex, found.Digest));
        }
        var byId = await Store.GetByIdAsync(logged.Id, None);
        Assert.Equal((logged.Id, JobName, 0), (byId!.Id, byId.Name, byId.VersionIndex));

        var manifest = await Store.GetManifestAsync(logged, None);
        Assert.Equal(logged.Digest, ArtifactDigest.OfManifest(manifest));
        Assert.Equal(ArtifactDigest.OfBytes(Encoding.UTF8.GetBytes(RepoJob)), manifest.Find("wandb-job.json")!.Digest);
        Assert.Equal(RepoJob, await ReadAsync(logged, "wandb-job.json"));
        Assert.Equal("numpy==2.1.0\n", await ReadAsync(logged, "requirements.frozen.txt"));

        // Logged through a hidden run, which is deleted after, as `wandb job create` does.
        string[] writes = ["UpsertBucket", "CreateArtifact", "CreateArtifactManifest", "CreateArtifactFiles", "CommitArtifact", "DeleteRun"];
        Assert.Equal(["UpsertBucket", "CreateArtifact", "CreateArtifactManifest", "CreateArtifactFiles", "CreateArtifactManifest", "CommitArtifact", "DeleteRun"],
            Server.Calls.Select(c => c.OperationName).Where(writes.Contains));
        Assert.All(Server.Calls, c => Assert.Equal(200, c.Status));
    }

    [Fact]
    public async Task A_new_version_moves_latest_and_lists_newest_first_and_equal_contents_are_unchanged_with_the_aliases_added()
    {
        var first = await Store.CommitAsync(Job(RepoJob), None);
        var second = await Store.CommitAsync(Job(RepoJob, "numpy==2.2.0\n"), None);
        var uploads = Server.FileRequests.Count(r => r.Method == "PUT");

        Assert.Equal((ArtifactCommitKind.Updated, 1), (second.Kind, second.Version.VersionIndex));
        Assert.Equal(["latest"], second.Version.Aliases);
        Assert.Equal(second.Version.Id, (await Store.GetAsync(ArtifactPath.Parse($"{Entity}/{Project}/{JobName}"), None)).Id);
        Assert.Empty((await Store.GetAsync(new ArtifactPath(Entity, Project, JobName, "v0"), None)).Aliases);

        var again = await Store.CommitAsync(Job(RepoJob, "numpy==2.2.0\n", "prod"), None);
        Assert.Equal((ArtifactCommitKind.Unchanged, second.Version.Id), (again.Kind, again.Version.Id));
        Assert.Contains("prod", again.Version.Aliases);
        Assert.Equal(uploads, Server.FileRequests.Count(r => r.Method == "PUT"));
        Assert.Equal(2, Server.ArtifactVersions(Entity, Project, JobName).Count);

        Server.SeedArtifact(Entity, Project, "job-other", "job", new Dictionary<string, byte[]> { ["wandb-job.json"] = "{}"u8.ToArray() });
        Server.SeedArtifact(Entity, Project, "code-train.py", "code", new Dictionary<string, byte[]> { ["train.py"] = "print(1)"u8.ToArray() });

        var versions = await Store.ListAsync(Entity, Project, "job", JobName, None);
        Assert.Equal([1, 0], versions.Select(v => v.VersionIndex));
        Assert.Equal(first.Version.Id, versions[1].Id);
        var jobs = await Store.ListAsync(Entity, Project, "job", null, None);
        Assert.Equal(["job-other:v0", $"{JobName}:v1", $"{JobName}:v0"], jobs.Select(v => $"{v.Name}:{v.Version}"));
        Assert.Empty(await Store.ListAsync(Entity, "no-such-project", "job", null, None));
        Assert.Empty(await Store.ListAsync(Entity, Project, "dataset", null, None));
    }

    [Fact]
    public async Task A_job_another_client_logged_reads_through_the_store()
    {
        var seeded = Server.SeedArtifact(Entity, Project, JobName, "job", new Dictionary<string, byte[]>
        {
            ["wandb-job.json"] = Encoding.UTF8.GetBytes(RepoJob),
            ["diff.patch"] = "--- a\n+++ b\n"u8.ToArray(),
        }, aliases: ["stable"]);

        var version = await Store.GetAsync(new ArtifactPath(Entity, Project, JobName, "stable"), None);

        Assert.Equal((seeded.Id, seeded.Digest, "job"), (version.Id, version.Digest, version.Type));
        Assert.Equal("--- a\n+++ b\n", await ReadAsync(version, "diff.patch"));
    }

    [Fact]
    public async Task A_missing_project_collection_alias_or_version_is_the_error_the_store_promises()
    {
        await Store.CommitAsync(Job(RepoJob, aliases: "prod"), None);

        var noProject = await Assert.ThrowsAsync<LaunchException>(() => Store.GetAsync(new ArtifactPath(Entity, "nope", JobName, "latest"), None));
        Assert.Equal(("ArtifactNotFound", LaunchErrorCategory.ObjectNotFound), (noProject.ErrorId, noProject.Category));
        Assert.Contains("project 'nope' not found", noProject.Message);

        var noCollection = await Assert.ThrowsAsync<LaunchException>(() => Store.GetAsync(new ArtifactPath(Entity, Project, "job-nope", "latest"), None));
        Assert.Equal("ArtifactNotFound", noCollection.ErrorId);
        var noCollectionAlias = await Assert.ThrowsAsync<LaunchException>(() => Store.GetAsync(new ArtifactPath(Entity, Project, "job-nope", "prod"), None));
        Assert.Equal("ArtifactNotFound", noCollectionAlias.ErrorId);

        var noAlias = await Assert.ThrowsAsync<LaunchException>(() => Store.GetAsync(new ArtifactPath(Entity, Project, JobName, "staging"), None));
        Assert.Equal(("ArtifactAliasNotFound", LaunchErrorCategory.ObjectNotFound), (noAlias.ErrorId, noAlias.Category));
        Assert.Contains("'latest', 'prod', 'v0'", noAlias.Message);
        var noVersion = await Assert.ThrowsAsync<LaunchException>(() => Store.GetAsync(new ArtifactPath(Entity, Project, JobName, "v7"), None));
        Assert.Equal("ArtifactAliasNotFound", noVersion.ErrorId);

        Assert.Null(await Store.GetByIdAsync("QXJ0aWZhY3Q6OTk5OTk5", None));
        Assert.DoesNotContain(_bed.ApiKey, noProject.Message + noCollection.Message + noAlias.Message);
    }

    [Fact]
    public async Task The_api_key_never_reaches_the_file_host()
    {
        var logged = (await Store.CommitAsync(Job(RepoJob), None)).Version;
        await ReadAsync(logged, "wandb-job.json");

        var requests = Server.FileRequests;
        Assert.Contains(requests, r => r.Method == "PUT" && r.Status == 200);
        Assert.Contains(requests, r => r.Method == "GET" && r.Status == 200);
        var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes("api:" + _bed.ApiKey));
        foreach (var request in requests)
        {
            Assert.False(request.Headers.ContainsKey("Authorization"), $"{request.Method} {request.Path} carried an Authorization header");
            Assert.DoesNotContain(request.Headers.Values, v => v.Contains(_bed.ApiKey) || v.Contains(basic));
            Assert.DoesNotContain(_bed.ApiKey, request.Path);
        }
        // Uploads carry the Content-MD5 the server asked for, which the file host checks.
        Assert.All(requests.Where(r => r.Method == "PUT"), r => Assert.True(r.Headers.ContainsKey("Content-MD5")));
    }

    [Fact]
    public async Task A_download_longer_than_the_manifest_promises_is_refused_and_a_same_size_corruption_is_passed_on_raw()
    {
        var logged = (await Store.CommitAsync(Job(RepoJob), None)).Version;
        var manifest = await Store.GetManifestAsync(logged, None);
        var entry = manifest.Find("requirements.frozen.txt")!;

        Server.CorruptArtifactFile(Entity, Project, JobName, "v0", entry.Path, Encoding.UTF8.GetBytes("numpy==2.1.0\nevil==1.0\n"));
        var tooLong = await Assert.ThrowsAsync<LaunchException>(async () =>
        {
            await using var stream = await Store.OpenFileAsync(logged, entry, None);
            await stream.CopyToAsync(Stream.Null);
        });
        Assert.Equal("ArtifactDownloadTooLarge", tooLong.ErrorId);

        // Same size, other bytes: the store hands them on unchecked; the digest check is ArtifactFiles' (and fails there).
        Server.CorruptArtifactFile(Entity, Project, JobName, "v0", entry.Path, Encoding.UTF8.GetBytes("numpy==6.6.6\n"));
        await using var raw = await Store.OpenFileAsync(logged, entry, None);
        using var buffer = new MemoryStream();
        await raw.CopyToAsync(buffer);
        Assert.NotEqual(entry.Digest, ArtifactDigest.OfBytes(buffer.ToArray()));
    }

    [Fact]
    public async Task A_hostile_answer_cannot_lead_the_store_outside_http_or_out_of_the_download_directory()
    {
        var logged = (await Store.CommitAsync(Job(RepoJob), None)).Version;
        string Manifest(string url) => new JsonObject
        {
            ["data"] = new JsonObject { ["artifact"] = new JsonObject { ["currentManifest"] = new JsonObject { ["file"] = new JsonObject { ["directUrl"] = url } } } },
        }.ToJsonString();

        Server.Faults.FailNext(200, operation: "FetchArtifactManifest", body: Manifest("file:///etc/passwd"));
        var notHttp = await Assert.ThrowsAsync<Storage.Wandb.WandbServerException>(() => Store.GetManifestAsync(logged, None));
        Assert.Contains("not an http(s) URL", notHttp.Message);

        var seen = new System.Collections.Concurrent.ConcurrentBag<string?>();
        using var hostile = new LoopbackHttpListener(async context =>
        {
            seen.Add(context.Request.Headers["Authorization"]);
            var body = Encoding.UTF8.GetBytes("""{"version": 1, "storagePolicy": "wandb-storage-policy-v1", "contents": {"../../.bashrc": {"digest": "1B2M2Y8AsgTpgAmY7PhCfg==", "size": 0}}}""");
            context.Response.ContentLength64 = body.Length;
            await context.Response.OutputStream.WriteAsync(body);
            context.Response.Close();
        });
        Server.Faults.FailNext(200, operation: "FetchArtifactManifest", body: Manifest(new Uri(hostile.Url, "/manifest.json").ToString()));
        var outside = await Assert.ThrowsAsync<LaunchException>(() => Store.GetManifestAsync(logged, None));
        Assert.Equal("InvalidArtifactManifest", outside.ErrorId);
        Assert.Equal([null], seen);
    }
}
