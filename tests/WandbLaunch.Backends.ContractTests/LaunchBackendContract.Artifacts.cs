using System.Text;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Backends.ContractTests;

/// <summary>
/// Artifacts (W&amp;B jobs and their code), through <see cref="Engine.Storage.ILaunchBackend.Artifacts"/>: logging
/// versions, reading them by alias, version and id, aliases that move, unchanged contents, one type per collection,
/// the errors for what is missing, concurrent logging, and files read back as they were logged.
/// </summary>
public abstract partial class LaunchBackendContract<TFactory>
{
    private const string JobJson = """{"_version": "v0", "source_type": "artifact", "source": {"artifact": "wandb-artifact://_id/x", "entrypoint": ["python3", "main.py"]}}""";

    private IArtifactStore Artifacts => Backend.Artifacts;

    /// <summary>Writes each (path in the artifact, content) to its own file under <see cref="Sources"/> and maps the path to it.</summary>
    private Dictionary<string, string> SourceFiles(params (string Path, byte[] Content)[] files)
    {
        var folder = Sources.File(Guid.NewGuid().ToString("N"));
        var map = new Dictionary<string, string>();
        var n = 0;
        foreach (var (path, content) in files)
        {
            var file = Path.Combine(folder, $"f{n++}");
            Directory.CreateDirectory(folder);
            File.WriteAllBytes(file, content);
            map[path] = file;
        }
        return map;
    }

    private static byte[] Text(string text) => Encoding.UTF8.GetBytes(text);

    private NewArtifact Job(string name, string job = JobJson, string requirements = "numpy==2.0.0\n", IReadOnlyList<string>? aliases = null,
        string type = "job", string? project = null) =>
        new()
        {
            Entity = Entity,
            Project = project ?? Project,
            Name = name,
            Type = type,
            Files = SourceFiles(("wandb-job.json", Text(job)), ("requirements.frozen.txt", Text(requirements))),
            Aliases = aliases ?? [],
        };

    private ArtifactPath PathOf(string name, string alias = ArtifactPath.Latest, string? project = null) => new(Entity, project ?? Project, name, alias);

    private async Task<byte[]> ReadAsync(ArtifactVersion version, ArtifactManifestEntry entry, IArtifactStore? through = null)
    {
        await using var stream = await (through ?? Artifacts).OpenFileAsync(version, entry, None);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    [SkippableFact]
    public async Task A_logged_artifact_is_read_back_by_latest_by_version_by_alias_and_by_id()
    {
        Needs(BackendCapability.Artifacts);
        var before = DateTimeOffset.UtcNow.AddSeconds(-5);
        var artifact = Job("job-train", aliases: ["prod"]) with
        {
            Description = "trains the model",
            Metadata = new JsonObject { ["_partial"] = true },
        };

        var commit = await Artifacts.CommitAsync(artifact, None);

        Assert.Equal(ArtifactCommitKind.Created, commit.Kind);
        var created = commit.Version;
        Assert.Equal((Entity, Project, "job-train", "job", 0, "v0"), (created.Entity, created.Project, created.Name, created.Type, created.VersionIndex, created.Version));
        Assert.Equal(["latest", "prod"], created.Aliases.Order());
        Assert.Equal("COMMITTED", created.State);
        Assert.Equal("trains the model", created.Description);
        Assert.Equal(true, created.Metadata?["_partial"]?.GetValue<bool>());
        Assert.InRange(created.CreatedAt, before, DateTimeOffset.UtcNow.AddSeconds(5));
        var expected = new ArtifactManifest([
            new ArtifactManifestEntry("requirements.frozen.txt", ArtifactDigest.OfBytes(Text("numpy==2.0.0\n")), 13),
            new ArtifactManifestEntry("wandb-job.json", ArtifactDigest.OfBytes(Text(JobJson)), Text(JobJson).Length),
        ]);
        Assert.Equal(ArtifactDigest.OfManifest(expected), created.Digest);
        Assert.Equal(13 + Text(JobJson).Length, created.Size);

        foreach (var alias in new[] { "latest", "v0", "prod" })
        {
            var read = await Artifacts.GetAsync(PathOf("job-train", alias), None);
            Assert.Equal(created.Id, read.Id);
            Assert.Equal(created.Digest, read.Digest);
            Assert.Equal(["latest", "prod"], read.Aliases.Order());
        }
        var byId = await Artifacts.GetByIdAsync(created.Id, None);
        Assert.Equal(created.ToString(), byId?.ToString());
        Assert.Equal("job", byId?.Type);
        Assert.Null(await Artifacts.GetByIdAsync("artifact-nosuchversion", None));

        // Another handle (another process) sees the same version and manifest.
        var other = Factory.Open().Artifacts;
        var seen = await other.GetAsync(PathOf("job-train"), None);
        Assert.Equal(created.Id, seen.Id);
        var manifest = await other.GetManifestAsync(seen, None);
        Assert.Equal(expected.Entries.OrderBy(e => e.Path, StringComparer.Ordinal), manifest.Entries.OrderBy(e => e.Path, StringComparer.Ordinal));
    }

    [SkippableFact]
    public async Task Files_are_read_back_byte_identical()
    {
        Needs(BackendCapability.Artifacts);
        var binary = new byte[300_000];
        new Random(13).NextBytes(binary);
        var files = new (string Path, byte[] Content)[]
        {
            ("main.py", Text("print('hello')\r\n")),
            ("src/pkg/deep/data.bin", binary),
            ("empty.txt", []),
            ("unicode é 名前.txt", Text("ünïcödé\n")),
            (".dotfile", Text("hidden\n")),
        };

        var commit = await Artifacts.CommitAsync(new NewArtifact
        {
            Entity = Entity, Project = Project, Name = "code-train", Type = "code", Files = SourceFiles(files),
        }, None);

        var version = await Factory.Open().Artifacts.GetAsync(PathOf("code-train"), None);
        var manifest = await Artifacts.GetManifestAsync(version, None);
        Assert.Equal(files.Select(f => f.Path).Order(StringComparer.Ordinal), manifest.Entries.Select(e => e.Path).Order(StringComparer.Ordinal));
        foreach (var (path, content) in files)
        {
            var entry = manifest.Find(path)!;
            Assert.Equal(ArtifactDigest.OfBytes(content), entry.Digest);
            Assert.Equal(content.Length, entry.Size);
            Assert.Equal(content, await ReadAsync(version, entry));
        }
        Assert.Equal(commit.Version.Digest, ArtifactDigest.OfManifest(manifest));
    }

    [SkippableFact]
    public async Task A_changed_artifact_is_a_new_version_and_latest_moves_to_it()
    {
        Needs(BackendCapability.Artifacts);
        var first = await Artifacts.CommitAsync(Job("job-x", requirements: "a==1\n"), None);

        var second = await Artifacts.CommitAsync(Job("job-x", requirements: "a==2\n"), None);

        Assert.Equal(ArtifactCommitKind.Updated, second.Kind);
        Assert.Equal(1, second.Version.VersionIndex);
        Assert.NotEqual(first.Version.Id, second.Version.Id);
        Assert.NotEqual(first.Version.Digest, second.Version.Digest);
        Assert.Equal(second.Version.Id, (await Artifacts.GetAsync(PathOf("job-x"), None)).Id);
        Assert.Equal(["latest"], (await Artifacts.GetAsync(PathOf("job-x", "v1"), None)).Aliases);
        var old = await Artifacts.GetAsync(PathOf("job-x", "v0"), None);
        Assert.Equal(first.Version.Id, old.Id);
        Assert.Empty(old.Aliases);
        var oldRequirements = (await Artifacts.GetManifestAsync(old, None)).Find("requirements.frozen.txt")!;
        Assert.Equal(Text("a==1\n"), await ReadAsync(old, oldRequirements));

        var third = await Artifacts.CommitAsync(Job("job-x", requirements: "a==3\n"), None);
        Assert.Equal((ArtifactCommitKind.Updated, 2), (third.Kind, third.Version.VersionIndex));
    }

    [SkippableFact]
    public async Task An_alias_names_one_version_per_collection_and_moves_when_set_again()
    {
        Needs(BackendCapability.Artifacts);
        var v0 = await Artifacts.CommitAsync(Job("job-a", requirements: "1\n", aliases: ["prod", "stable"]), None);
        var other = await Artifacts.CommitAsync(Job("job-b", aliases: ["prod"]), None);

        var v1 = await Artifacts.CommitAsync(Job("job-a", requirements: "2\n", aliases: ["prod"]), None);

        Assert.Equal(v1.Version.Id, (await Artifacts.GetAsync(PathOf("job-a", "prod"), None)).Id);
        Assert.Equal(v0.Version.Id, (await Artifacts.GetAsync(PathOf("job-a", "stable"), None)).Id);
        Assert.Equal(["stable"], (await Artifacts.GetAsync(PathOf("job-a", "v0"), None)).Aliases);
        Assert.Equal(["latest", "prod"], (await Artifacts.GetAsync(PathOf("job-a", "v1"), None)).Aliases.Order());
        // The same alias in another collection is that collection's own.
        Assert.Equal(other.Version.Id, (await Artifacts.GetAsync(PathOf("job-b", "prod"), None)).Id);
        Assert.Equal(0, other.Version.VersionIndex);
    }

    [SkippableFact]
    public async Task Logging_the_same_files_again_is_unchanged_and_that_version_gets_the_aliases()
    {
        Needs(BackendCapability.Artifacts);
        var v0 = await Artifacts.CommitAsync(Job("job-same", requirements: "same\n"), None);
        var v1 = await Artifacts.CommitAsync(Job("job-same", requirements: "other\n"), None);

        // The same contents from other source files: only the contents count.
        var again = await Artifacts.CommitAsync(Job("job-same", requirements: "same\n", aliases: ["prod"]), None);

        Assert.Equal(ArtifactCommitKind.Unchanged, again.Kind);
        Assert.Equal(v0.Version.Id, again.Version.Id);
        Assert.Equal(0, again.Version.VersionIndex);
        Assert.Equal(v0.Version.Digest, again.Version.Digest);
        Assert.Equal(["latest", "prod"], again.Version.Aliases.Order());
        Assert.Equal(v0.Version.Id, (await Artifacts.GetAsync(PathOf("job-same", "prod"), None)).Id);
        Assert.Equal(v0.Version.Id, (await Artifacts.GetAsync(PathOf("job-same"), None)).Id);
        Assert.Empty((await Artifacts.GetAsync(PathOf("job-same", "v1"), None)).Aliases);
        Assert.Equal(2, (await Artifacts.ListAsync(Entity, Project, "job", "job-same", None)).Count);
        Assert.Equal(v1.Version.Id, (await Artifacts.GetAsync(PathOf("job-same", "v1"), None)).Id);
    }

    [SkippableFact]
    public async Task Listing_gives_the_versions_of_a_type_in_a_project_newest_first()
    {
        Needs(BackendCapability.Artifacts);
        await Artifacts.CommitAsync(Job("job-one", requirements: "1\n"), None);
        await Artifacts.CommitAsync(Job("job-two", requirements: "1\n"), None);
        await Artifacts.CommitAsync(Job("job-one", requirements: "2\n"), None);
        await Artifacts.CommitAsync(Job("code-one", type: "code"), None);
        await Artifacts.CommitAsync(Job("job-elsewhere", project: "other-project"), None);

        var jobs = await Artifacts.ListAsync(Entity, Project, "job", null, None);
        var one = await Artifacts.ListAsync(Entity, Project, "job", "job-one", None);

        Assert.Equal(["job-one:v1", "job-two:v0", "job-one:v0"], jobs.Select(v => $"{v.Name}:{v.Version}"));
        Assert.All(jobs, v => Assert.Equal("job", v.Type));
        Assert.Equal(["latest"], jobs[0].Aliases);
        Assert.Equal(["v1", "v0"], one.Select(v => v.Version));
        Assert.Equal(["code-one"], (await Artifacts.ListAsync(Entity, Project, "code", null, None)).Select(v => v.Name));
        Assert.Equal(["job-elsewhere"], (await Artifacts.ListAsync(Entity, "other-project", "job", null, None)).Select(v => v.Name));
        Assert.Empty(await Artifacts.ListAsync(Entity, Project, "dataset", null, None));
        Assert.Empty(await Artifacts.ListAsync(Entity, Project, "job", "job-nothing", None));
    }

    [SkippableFact]
    public async Task A_collection_keeps_its_type_and_logging_another_type_into_it_is_refused_as_WandB_does()
    {
        Needs(BackendCapability.Artifacts);
        await Artifacts.CommitAsync(Job("job-typed"), None);

        var e = await Assert.ThrowsAsync<LaunchException>(() => Artifacts.CommitAsync(Job("job-typed", requirements: "changed\n", type: "code"), None));

        Assert.Equal("ArtifactTypeConflict", e.ErrorId);
        Assert.Contains("Artifact job-typed already exists with type 'job'; cannot create another with type 'code'", e.Message);
        var versions = await Artifacts.ListAsync(Entity, Project, "job", "job-typed", None);
        Assert.Equal(["v0"], versions.Select(v => v.Version));
        Assert.Empty(await Artifacts.ListAsync(Entity, Project, "code", null, None));
    }

    [SkippableFact]
    public async Task A_missing_artifact_alias_or_version_is_a_clear_not_found_error()
    {
        Needs(BackendCapability.Artifacts);
        await Artifacts.CommitAsync(Job("job-here", requirements: "1\n", aliases: ["prod"]), None);
        await Artifacts.CommitAsync(Job("job-here", requirements: "2\n"), None);

        var missing = await Assert.ThrowsAsync<LaunchException>(() => Artifacts.GetAsync(PathOf("job-nowhere"), None));
        var noAlias = await Assert.ThrowsAsync<LaunchException>(() => Artifacts.GetAsync(PathOf("job-here", "staging"), None));
        var noVersion = await Assert.ThrowsAsync<LaunchException>(() => Artifacts.GetAsync(PathOf("job-here", "v7"), None));
        var otherProject = await Assert.ThrowsAsync<LaunchException>(() => Artifacts.GetAsync(PathOf("job-here", project: "other-project"), None));

        Assert.Equal(("ArtifactNotFound", LaunchErrorCategory.ObjectNotFound), (missing.ErrorId, missing.Category));
        Assert.Contains($"{Entity}/{Project}/job-nowhere", missing.Message);
        Assert.Equal("ArtifactNotFound", otherProject.ErrorId);
        Assert.Equal(("ArtifactAliasNotFound", LaunchErrorCategory.ObjectNotFound), (noAlias.ErrorId, noAlias.Category));
        Assert.Contains("staging", noAlias.Message);
        foreach (var known in new[] { "latest", "prod", "v0", "v1" }) Assert.Contains(known, noAlias.Message);
        Assert.Equal("ArtifactAliasNotFound", noVersion.ErrorId);
        Assert.Contains("v7", noVersion.Message);
        Assert.Contains("v1", noVersion.Message);
    }

    [SkippableFact]
    public async Task Concurrent_commits_to_one_collection_all_land_with_distinct_versions()
    {
        Needs(BackendCapability.Artifacts);
        const int handles = 4, commitsEach = 3;
        var stores = Enumerable.Range(0, handles).Select(_ => Factory.Open().Artifacts).ToList();
        var artifacts = Enumerable.Range(0, handles).Select(h => Enumerable.Range(0, commitsEach).Select(n => Job("job-race", requirements: $"h{h} n{n}\n")).ToList()).ToList();

        var commits = await Task.WhenAll(Enumerable.Range(0, handles).Select(h => Task.Run(async () =>
        {
            var done = new List<ArtifactCommit>();
            foreach (var artifact in artifacts[h]) done.Add(await stores[h].CommitAsync(artifact, None));
            return done;
        })));

        var all = commits.SelectMany(c => c).ToList();
        Assert.Equal(Enumerable.Range(0, handles * commitsEach), all.Select(c => c.Version.VersionIndex).Order());
        Assert.Single(all, c => c.Kind == ArtifactCommitKind.Created);
        Assert.Equal(handles * commitsEach, all.Select(c => c.Version.Id).Distinct().Count());
        var listed = await Artifacts.ListAsync(Entity, Project, "job", "job-race", None);
        Assert.Equal(Enumerable.Range(0, handles * commitsEach).Reverse(), listed.Select(v => v.VersionIndex));
        var latest = await Artifacts.GetAsync(PathOf("job-race"), None);
        Assert.Equal(handles * commitsEach - 1, latest.VersionIndex);
        // Each version holds what its commit logged.
        foreach (var commit in all)
        {
            var version = await Artifacts.GetAsync(PathOf("job-race", commit.Version.Version), None);
            var entry = (await Artifacts.GetManifestAsync(version, None)).Find("requirements.frozen.txt")!;
            Assert.Equal(commit.Version.Digest, version.Digest);
            Assert.Matches(@"^h\d n\d\n$", Encoding.UTF8.GetString(await ReadAsync(version, entry)));
        }
    }

    [SkippableTheory]
    [InlineData("../escape.txt")]
    [InlineData("/etc/passwd")]
    [InlineData("a/../../b")]
    [InlineData("a\\b")]
    [InlineData("a//b")]
    [InlineData("./a")]
    [InlineData("C:/x")]
    [InlineData("")]
    [InlineData("a\nb")]
    public async Task A_file_path_that_could_leave_the_download_folder_is_refused_and_nothing_is_logged(string path)
    {
        Needs(BackendCapability.Artifacts);
        var artifact = new NewArtifact
        {
            Entity = Entity, Project = Project, Name = "code-hostile", Type = "code",
            Files = SourceFiles(("ok.txt", Text("fine")), (path, Text("hostile"))),
        };

        var e = await Assert.ThrowsAsync<LaunchException>(() => Artifacts.CommitAsync(artifact, None));

        Assert.Equal("InvalidArtifactManifest", e.ErrorId);
        Assert.Equal("ArtifactNotFound", (await Assert.ThrowsAsync<LaunchException>(() => Artifacts.GetAsync(PathOf("code-hostile"), None))).ErrorId);
    }

    [SkippableFact]
    public async Task Deleting_a_queue_leaves_artifacts_alone()
    {
        Needs(BackendCapability.Artifacts);
        var queue = await QueueAsync("with-jobs");
        await PushAsync(queue, $$"""{"job": "{{Entity}}/{{Project}}/job-kept:latest"}""");
        var commit = await Artifacts.CommitAsync(Job("job-kept"), None);

        await Backend.DeleteQueueAsync(queue, force: true, None);

        var version = await Artifacts.GetAsync(PathOf("job-kept"), None);
        Assert.Equal(commit.Version.Id, version.Id);
        var entry = (await Artifacts.GetManifestAsync(version, None)).Find("wandb-job.json")!;
        Assert.Equal(Text(JobJson), await ReadAsync(version, entry));
    }
}
