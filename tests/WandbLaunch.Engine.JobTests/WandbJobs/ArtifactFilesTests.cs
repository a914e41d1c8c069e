using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.JobTests.WandbJobs;

/// <summary>The digest-checked download and its cache, without an agent.</summary>
public sealed class ArtifactFilesTests : IDisposable
{
    private readonly TempStore _local = new("ent");
    private readonly FaultyArtifactStore _store;

    public ArtifactFilesTests() => _store = new FaultyArtifactStore(TestArtifacts.For(_local.Backend));

    private TempDirectory Dir => _local.Dir;

    public void Dispose() => _local.Dispose();

    private Task<ArtifactVersion> LogAsync(params (string Path, string Text)[] files) =>
        TestJobs.LogAsync(_store, Dir.Path, "ent", "proj", "code-x", "code", files.ToDictionary(f => f.Path, f => f.Text));

    [Fact]
    public async Task Two_downloads_of_the_same_objects_at_once_both_get_whole_checked_files()
    {
        var version = await LogAsync(("a.txt", new string('a', 300_000)), ("dir/b.txt", "bee\n"));
        _store.OpenDelay = TimeSpan.FromMilliseconds(50);
        var cache = Dir.File("cache");
        var downloads = Enumerable.Range(0, 6).Select(i => new ArtifactFiles(cache).DownloadAsync(_store, version, Dir.File($"out{i}"), CancellationToken.None)).ToList();

        await Task.WhenAll(downloads);

        for (var i = 0; i < 6; i++)
        {
            Assert.Equal(new string('a', 300_000), File.ReadAllText(Dir.File($"out{i}/a.txt")));
            Assert.Equal("bee\n", File.ReadAllText(Dir.File($"out{i}/dir/b.txt")));
        }
        Assert.Empty(Directory.EnumerateFiles(cache, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_second_download_is_served_from_the_cache_and_a_longer_body_than_the_manifest_is_refused()
    {
        var version = await LogAsync(("a.txt", "abc"));
        var files = new ArtifactFiles(Dir.File("cache"));
        await files.DownloadAsync(_store, version, Dir.File("one"), CancellationToken.None);
        var opened = _store.FilesOpened;
        await files.DownloadAsync(_store, version, Dir.File("two"), CancellationToken.None);
        Assert.Equal(opened, _store.FilesOpened);
        Assert.Equal(1, files.CacheHits);

        var other = await TestJobs.LogAsync(_store, Dir.Path, "ent", "proj", "code-y", "code", new Dictionary<string, string> { ["b.txt"] = "xyz" });
        _store.ServeInstead(other, "b.txt", "xyz and more"u8.ToArray());
        var e = await Assert.ThrowsAsync<LaunchException>(() => files.DownloadAsync(_store, other, Dir.File("three"), CancellationToken.None));
        Assert.Equal(ArtifactFiles.DigestMismatchErrorId, e.ErrorId);
        Assert.Contains("more than 3", e.Message);
        Assert.False(File.Exists(files.CachePathOf(ArtifactDigest.OfBytes("xyz"u8))));
    }

    [Fact]
    public void The_cache_is_at_WANDB_LAUNCH_CACHE_DIR_in_W_and_B_s_layout()
    {
        var files = ArtifactFiles.FromEnvironment(name => name == ArtifactFiles.CacheDirectoryVariable ? Dir.File("c") : null);
        var digest = ArtifactDigest.OfBytes("abc"u8);
        var hex = ArtifactDigest.ToHex(digest);
        Assert.Equal(Path.Combine(Dir.File("c"), "artifacts", "obj", "md5", hex[..2], hex[2..]), files.CachePathOf(digest));
        Assert.EndsWith(Path.Combine(".cache", "wandb-launch"), ArtifactFiles.FromEnvironment(_ => null).CacheDirectory);
    }
}
