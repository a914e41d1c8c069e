using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.FileSystem;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage.Sqlite;
using static WandbLaunch.Engine.Tests.Storage.Store;

namespace WandbLaunch.Engine.Tests.Storage;

/// <summary>
/// What only the local store's artifacts do (the behaviour both backends share is in the backend contract): the
/// files on disk in W&amp;B's cache layout beside the store, private, never rewritten when intact; a source that
/// changes while it is stored; missing and damaged objects; a store edited by hand; a store from before artifacts.
/// </summary>
public sealed class SqliteArtifactStoreTests : IDisposable
{
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly TempDirectory _dir = new();
    private readonly TempDirectory _sources = new();

    public void Dispose()
    {
        _dir.Dispose();
        _sources.Dispose();
    }

    private string DbPath => _dir.File("launch.db");

    private SqliteLaunchBackend OpenStore() => new(DbPath, Entity);

    private NewArtifact Code(string name, params (string Path, string Text)[] files) => new()
    {
        Entity = Entity,
        Project = Project,
        Name = name,
        Type = "code",
        Files = files.ToDictionary(f => f.Path, f => _sources.Write(Guid.NewGuid().ToString("N"), f.Text)),
    };

    private static string Hex(byte[] bytes) => Convert.ToHexString(MD5.HashData(bytes)).ToLowerInvariant();

    private static async Task<byte[]> ReadAsync(IArtifactStore store, ArtifactVersion version, ArtifactManifestEntry entry)
    {
        await using var stream = await store.OpenFileAsync(version, entry, None);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    [Fact]
    public async Task Files_are_stored_beside_the_store_in_WandBs_cache_layout_private_to_the_user_with_no_temp_file_left()
    {
        using var store = OpenStore();

        await store.Artifacts.CommitAsync(Code("code-layout", ("main.py", "print(1)\n"), ("lib/util.py", "X = 2\n")), None);

        var root = Path.Combine(_dir.Path, "artifacts");
        Assert.Equal(root, store.ArtifactDirectory);
        foreach (var content in new[] { "print(1)\n", "X = 2\n" })
        {
            var hex = Hex(Encoding.UTF8.GetBytes(content));
            var path = Path.Combine(root, "obj", "md5", hex[..2], hex[2..]);
            Assert.Equal(content, File.ReadAllText(path));
            Assert.Equal(path, store.LocalArtifacts.ObjectPath(ArtifactDigest.OfBytes(Encoding.UTF8.GetBytes(content))));
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(PrivateFiles.FileMode, File.GetUnixFileMode(path));
                Assert.Equal(PrivateFiles.DirectoryMode, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
            }
        }
        if (!OperatingSystem.IsWindows())
        {
            foreach (var folder in new[] { root, Path.Combine(root, "obj"), Path.Combine(root, "obj", "md5") })
            {
                Assert.Equal(PrivateFiles.DirectoryMode, File.GetUnixFileMode(folder));
            }
        }
        Assert.Equal(2, Directory.GetFiles(root, "*", SearchOption.AllDirectories).Length);
    }

    [Fact]
    public async Task An_intact_object_is_not_rewritten_when_the_same_content_is_logged_again()
    {
        using var store = OpenStore();
        await store.Artifacts.CommitAsync(Code("code-a", ("main.py", "same\n")), None);
        var path = store.LocalArtifacts.ObjectPath(ArtifactDigest.OfBytes(Encoding.UTF8.GetBytes("same\n")));
        var past = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        // Rewritten in place or replaced by a rename, the object would have a new modification time.
        File.SetLastWriteTimeUtc(path, past);

        await store.Artifacts.CommitAsync(Code("code-b", ("other/name.py", "same\n")), None);
        await store.Artifacts.CommitAsync(Code("code-a", ("main.py", "same\n"), ("more.py", "more\n")), None);

        Assert.Equal(past, File.GetLastWriteTimeUtc(path));
        Assert.Equal("same\n", File.ReadAllText(path));
    }

    [Fact]
    public async Task A_damaged_object_is_read_raw_and_replaced_when_its_content_is_logged_again()
    {
        using var store = OpenStore();
        var commit = await store.Artifacts.CommitAsync(Code("code-damaged", ("main.py", "good content\n")), None);
        var entry = Assert.Single((await store.Artifacts.GetManifestAsync(commit.Version, None)).Entries);
        var path = store.LocalArtifacts.ObjectPath(entry.Digest);
        File.WriteAllText(path, "evil content\n");

        // Raw and unchecked: the downloader (ArtifactFiles) checks the digest.
        Assert.Equal("evil content\n", Encoding.UTF8.GetString(await ReadAsync(store.Artifacts, commit.Version, entry)));

        var again = await store.Artifacts.CommitAsync(Code("code-damaged", ("main.py", "good content\n")), None);

        Assert.Equal(ArtifactCommitKind.Unchanged, again.Kind);
        Assert.Equal("good content\n", File.ReadAllText(path));
    }

    [Fact]
    public async Task A_missing_object_is_ArtifactFileMissing_naming_the_file_and_where_it_should_be()
    {
        using var store = OpenStore();
        var commit = await store.Artifacts.CommitAsync(Code("code-missing", ("src/main.py", "print(1)\n")), None);
        var entry = Assert.Single((await store.Artifacts.GetManifestAsync(commit.Version, None)).Entries);
        var path = store.LocalArtifacts.ObjectPath(entry.Digest);
        File.Delete(path);

        var e = await Assert.ThrowsAsync<LaunchException>(() => store.Artifacts.OpenFileAsync(commit.Version, entry, None));

        Assert.Equal(("ArtifactFileMissing", LaunchErrorCategory.ObjectNotFound), (e.ErrorId, e.Category));
        Assert.Contains(path, e.Message);
        Assert.Contains("src/main.py", e.Message);
        Assert.Contains($"{Entity}/{Project}/code-missing:v0", e.Message);
    }

    [Fact]
    public async Task A_manifest_entry_whose_digest_is_not_an_MD5_is_refused_before_any_path_is_made_from_it()
    {
        using var store = OpenStore();
        var commit = await store.Artifacts.CommitAsync(Code("code-x", ("a.py", "a\n")), None);

        var e = await Assert.ThrowsAsync<LaunchException>(() =>
            store.Artifacts.OpenFileAsync(commit.Version, new ArtifactManifestEntry("a.py", "../../../../etc/passwd", 1), None));

        Assert.Equal("InvalidArtifactManifest", e.ErrorId);
    }

    [Fact]
    public async Task A_source_that_changes_while_it_is_stored_is_recorded_as_what_was_stored()
    {
        using var store = OpenStore();
        var source = _sources.File("changing.bin");
        File.WriteAllBytes(source, new byte[1 << 20]);
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(() =>
        {
            var n = 0;
            while (!stop.IsCancellationRequested)
            {
                // Rewritten in place, with a length that varies, while the store reads it.
                using var stream = new FileStream(source, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
                stream.SetLength((1 << 20) + n % 4096);
                stream.Write(Encoding.UTF8.GetBytes($"round {n++} "));
            }
        });
        var versions = new List<ArtifactVersion>();
        try
        {
            for (var i = 0; i < 15; i++)
            {
                var artifact = new NewArtifact
                {
                    Entity = Entity, Project = Project, Name = "code-changing", Type = "code",
                    Files = new Dictionary<string, string> { ["data.bin"] = source },
                };
                versions.Add((await store.Artifacts.CommitAsync(artifact, None)).Version);
            }
        }
        finally
        {
            await stop.CancelAsync();
            await writer;
        }

        foreach (var version in versions)
        {
            var entry = Assert.Single((await store.Artifacts.GetManifestAsync(version, None)).Entries);
            var stored = await ReadAsync(store.Artifacts, version, entry);
            Assert.Equal(entry.Digest, ArtifactDigest.OfBytes(stored));
            Assert.Equal(entry.Size, stored.Length);
        }
        Assert.Empty(Directory.GetFiles(store.ArtifactDirectory, "*.tmp-*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_source_that_does_not_exist_is_refused_and_nothing_is_logged()
    {
        using var store = OpenStore();
        var artifact = new NewArtifact
        {
            Entity = Entity, Project = Project, Name = "code-nofile", Type = "code",
            Files = new Dictionary<string, string> { ["main.py"] = _sources.File("absent.py") },
        };

        var e = await Assert.ThrowsAsync<LaunchException>(() => store.Artifacts.CommitAsync(artifact, None));

        Assert.Equal(("ArtifactSourceNotFound", LaunchErrorCategory.ObjectNotFound), (e.ErrorId, e.Category));
        Assert.Contains("absent.py", e.Message);
        Assert.Contains("main.py", e.Message);
        Assert.Equal("ArtifactNotFound",
            (await Assert.ThrowsAsync<LaunchException>(() => store.Artifacts.GetAsync(new ArtifactPath(Entity, Project, "code-nofile", "latest"), None))).ErrorId);
    }

    [Fact]
    public async Task A_store_whose_artifacts_folder_cannot_be_made_refuses_the_commit_and_logs_nothing()
    {
        using var store = OpenStore();
        File.WriteAllText(store.ArtifactDirectory, "a file where the folder should be");

        var e = await Assert.ThrowsAsync<LaunchException>(() => store.Artifacts.CommitAsync(Code("code-blocked", ("a.py", "a\n")), None));

        Assert.Equal(("ArtifactStoreNotWritable", LaunchErrorCategory.WriteError), (e.ErrorId, e.Category));
        Assert.Contains(store.ArtifactDirectory, e.Message);
        Assert.Empty(await store.Artifacts.ListAsync(Entity, Project, "code", null, None));
    }

    [Theory]
    [InlineData("bad/name", "latest", "code", "InvalidArtifactName")]
    [InlineData("-dash", "latest", "code", "InvalidArtifactName")]
    [InlineData("ok", "v3", "code", "InvalidArtifactAlias")]
    [InlineData("ok", "has space", "code", "InvalidArtifactAlias")]
    [InlineData("ok", "latest", "a/b", "InvalidArtifactType")]
    [InlineData("ok", "latest", "", "InvalidArtifactType")]
    public async Task Names_aliases_and_types_that_could_not_be_named_again_are_refused(string name, string alias, string type, string errorId)
    {
        using var store = OpenStore();
        var artifact = Code("ok", ("a.py", "a\n")) with { Name = name, Aliases = [alias], Type = type };

        var e = await Assert.ThrowsAsync<LaunchException>(() => store.Artifacts.CommitAsync(artifact, None));

        Assert.Equal(errorId, e.ErrorId);
        Assert.False(Directory.Exists(store.ArtifactDirectory));
    }

    [Fact]
    public async Task A_manifest_edited_in_the_store_to_leave_the_download_folder_is_refused_when_read()
    {
        using var store = OpenStore();
        var commit = await store.Artifacts.CommitAsync(Code("code-edited", ("a.py", "a\n")), None);
        var digest = ArtifactDigest.OfBytes("a\n"u8);
        var manifest = new JsonObject { ["version"] = 1, ["contents"] = new JsonObject { ["../../outside.py"] = new JsonObject { ["digest"] = digest, ["size"] = 2 } } };
        Exec(DbPath, $"UPDATE artifact_versions SET manifest = '{manifest.ToJsonString()}'");

        var e = await Assert.ThrowsAsync<LaunchException>(() => store.Artifacts.GetManifestAsync(commit.Version, None));

        Assert.Equal("InvalidArtifactManifest", e.ErrorId);
    }

    [Fact]
    public async Task Sessions_committing_to_one_collection_at_once_each_get_their_own_version()
    {
        const int threads = 6, commitsEach = 5;
        using (var first = OpenStore()) first.EnsureOpen();
        var errors = new Exception?[threads];
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            try
            {
                using var store = OpenStore();
                start.SignalAndWait();
                for (var n = 0; n < commitsEach; n++)
                {
                    store.Artifacts.CommitAsync(Code("job-shared", ("req.txt", $"t{t} n{n}\n")) with { Type = "job" }, None).GetAwaiter().GetResult();
                }
            }
            catch (Exception e)
            {
                errors[t] = e;
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());

        Assert.True(errors.All(e => e is null), string.Join("\n\n", errors.Where(e => e is not null)));
        using var reader = OpenStore();
        var versions = await reader.Artifacts.ListAsync(Entity, Project, "job", "job-shared", None);
        Assert.Equal(Enumerable.Range(0, threads * commitsEach).Reverse(), versions.Select(v => v.VersionIndex));
        Assert.Equal(threads * commitsEach, versions.Select(v => v.Digest).Distinct().Count());
        Assert.Equal(["latest"], versions[0].Aliases);
        Assert.All(versions.Skip(1), v => Assert.Empty(v.Aliases));
    }

    [Fact]
    public async Task A_store_from_before_artifacts_is_migrated_and_keeps_its_queues_and_jobs()
    {
        // A store as schema version 2 left it: the same queues, items and agents tables (migrations are
        // append-only), written by the real code, without the artifact tables.
        string pendingId, finishedId;
        using (var old = OpenStore())
        {
            await old.CreateQueueAsync(Queue("legacy", configJson: """{"cpus": 2}"""), None);
            var pending = await old.PushAsync(Key("legacy"), new PushRequest { Spec = (JsonObject)JsonNode.Parse("""{"uri": "/tmp/code", "name": "waiting"}""")! }, None);
            var finished = await old.PushAsync(Key("legacy"), new PushRequest { Spec = (JsonObject)JsonNode.Parse("""{"uri": "/tmp/code", "name": "done"}""")! }, None);
            var popped = await old.PopAsync("agent-1", Key("legacy"), TimeSpan.FromMinutes(5), None);
            Assert.Equal(pending.Id, popped!.Id);
            await old.RequeueAsync(popped.Id, "agent-1", "test", None);
            var second = await old.PopAsync("agent-1", Key("legacy"), TimeSpan.FromMinutes(5), None);
            await old.AckAsync(second!.Id, "agent-1", _dir.File("x.log"), None);
            await old.FinishAsync(second.Id, "agent-1", JobOutcome.Finished(), None);
            (pendingId, finishedId) = (finished.Id, second.Id);
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Exec(DbPath, "DROP TABLE artifact_aliases; DROP TABLE artifact_versions; DROP TABLE artifact_collections; PRAGMA user_version = 2;");
        Assert.Equal(0L, Scalar(DbPath, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'artifact%';"));

        using var store = OpenStore();
        var queue = await store.GetQueueAsync(Key("legacy"), None);
        var jobs = await store.GetJobsAsync(new JobQuery { Queue = Key("legacy") }, None);

        Assert.Equal((long)SqliteSchema.Version, Scalar(DbPath, "PRAGMA user_version;"));
        Assert.Equal(2L, JsonTree.ToPlain(queue!.GetResourceConfig()["cpus"]));
        Assert.Equal(2, jobs.Count);
        Assert.Equal(LaunchJobState.Pending, jobs.Single(j => j.Id == pendingId).State);
        Assert.Equal(LaunchJobState.Finished, jobs.Single(j => j.Id == finishedId).State);
        var commit = await store.Artifacts.CommitAsync(Code("code-after", ("a.py", "a\n")), None);
        Assert.Equal(ArtifactCommitKind.Created, commit.Kind);
        Assert.Single(await store.Artifacts.ListAsync(Entity, Project, "code", null, None));
    }

    [Fact]
    public async Task Removing_a_finished_job_or_deleting_its_queue_leaves_artifacts_and_their_files()
    {
        using var store = OpenStore();
        await store.CreateQueueAsync(Queue("q"), None);
        var pushed = await store.PushAsync(Key("q"), new PushRequest { Spec = (JsonObject)JsonNode.Parse($$"""{"job": "{{Entity}}/{{Project}}/job-kept:latest"}""")! }, None);
        var commit = await store.Artifacts.CommitAsync(Code("job-kept", ("wandb-job.json", "{}")) with { Type = "job" }, None);
        await store.PopAsync("agent-1", Key("q"), TimeSpan.FromMinutes(5), None);
        await store.AckAsync(pushed.Id, "agent-1", Path.Combine(store.LogDirectory, "x.log"), None);
        await store.FinishAsync(pushed.Id, "agent-1", JobOutcome.Finished(), None);

        await store.RemoveJobAsync(pushed.Id, None);
        await store.DeleteQueueAsync(Key("q"), force: true, None);

        var version = await store.Artifacts.GetAsync(new ArtifactPath(Entity, Project, "job-kept", "latest"), None);
        Assert.Equal(commit.Version.Id, version.Id);
        var entry = Assert.Single((await store.Artifacts.GetManifestAsync(version, None)).Entries);
        Assert.Equal("{}", Encoding.UTF8.GetString(await ReadAsync(store.Artifacts, version, entry)));
    }
}
