using System.Security.Cryptography;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Artifacts;
using WandbLaunch.Engine.Code;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.WandbJobs;

namespace WandbLaunch.Engine.JobTests.WandbJobs;

/// <summary>
/// The cache of repo jobs' checkouts (<see cref="GitRepositoryCache"/>) through <see cref="JobResolver"/>, on real git
/// repositories: a hit needs no remote at all (the remote is moved away before it), and what it prepares is what an
/// uncached resolve prepares, diff.patch and the frozen requirements included.
/// </summary>
public sealed class GitRepositoryCacheTests : IDisposable
{
    private const string Patch = "diff --git a/notes.txt b/notes.txt\n--- a/notes.txt\n+++ b/notes.txt\n@@ -1 +1 @@\n-base\n+patched\n";
    private readonly TempStore _local = new("ent");
    private int _runs;

    public void Dispose() => _local.Dispose();

    private TempDirectory Dir => _local.Dir;

    private IArtifactStore Store => TestArtifacts.For(_local.Backend);

    private string Remote => Dir.File("remote");

    private string Cache => Dir.File("cache");

    private string Runs => Dir.File("runs");

    /// <summary>A repository with an executable script, a subdirectory, a link inside and links that lead out; returns its first commit.</summary>
    private string MakeRepository(out string second)
    {
        Directory.CreateDirectory(Remote);
        TestJobs.Git(Remote, "init", "--quiet", "--initial-branch=main");
        File.CreateSymbolicLink(Path.Combine(Remote, "inside-link"), "message.txt");
        File.CreateSymbolicLink(Path.Combine(Remote, "escape"), "/etc/passwd");
        File.CreateSymbolicLink(Path.Combine(Remote, "up"), "../../..");
        Directory.CreateDirectory(Path.Combine(Remote, "bin"));
        File.WriteAllText(Path.Combine(Remote, "bin/run.sh"), "#!/bin/sh\necho run\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(Path.Combine(Remote, "bin/run.sh"), (UnixFileMode)Convert.ToInt32("755", 8));
        var first = TestJobs.Commit(Remote, new Dictionary<string, string> { ["message.txt"] = "one\n", ["notes.txt"] = "base\n", ["pkg/deep/data.txt"] = new string('d', 100_000) }, "first");
        second = TestJobs.Commit(Remote, new Dictionary<string, string> { ["message.txt"] = "two\n" }, "second");
        return first;
    }

    private async Task<string> LogJobAsync(string name, string commit) =>
        (await TestJobs.LogJobAsync(Store, Dir.Path, "ent", "proj", name, TestJobs.RepoDefinition(Remote, commit, "sh", "bin/run.sh"),
            new Dictionary<string, string> { ["diff.patch"] = Patch }, frozenRequirements: "numpy==2.0.0\n")).ToString();

    private sealed record Resolution(string Code, string Log);

    /// <summary>Resolves <paramref name="job"/> into a new run directory; returns its code directory and its log's text.</summary>
    private async Task<Resolution> ResolveAsync(string job, GitRepositoryCache? cache, bool allowLocalGit = true)
    {
        var run = "r" + Interlocked.Increment(ref _runs);
        var logPath = Dir.File(run + ".log");
        string code;
        using (var log = new JobLog(logPath, Array.Empty<string?>()))
        {
            var resolver = new JobResolver(Store, new ArtifactFiles(Cache), allowLocalGit, cache);
            var resolved = await resolver.ResolveAsync(LaunchSpec.Parse(new JsonObject { ["job"] = $"ent/proj/{job}" }), Runs, run, run, log, CancellationToken.None);
            code = resolved.CodeDirectory!;
        }
        return new Resolution(code, File.ReadAllText(logPath));
    }

    private void MoveRemoteAway() => Directory.Move(Remote, Dir.File("remote-gone"));

    private static string[] Entries(GitRepositoryCache cache) =>
        Directory.Exists(cache.Root) ? [.. Directory.GetDirectories(cache.Root).Select(Path.GetFileName).Order(StringComparer.Ordinal)!] : [];

    [Fact]
    public async Task The_same_commit_resolved_again_is_copied_from_the_cache_without_the_remote_with_its_patch_and_frozen_requirements()
    {
        var first = MakeRepository(out _);
        await LogJobAsync("job-repo", first);
        var cache = new GitRepositoryCache(Cache);
        var miss = await ResolveAsync("job-repo", cache);
        Assert.Equal(0, cache.Hits);
        Assert.Contains("git fetch", miss.Log);
        MoveRemoteAway();

        var hit = await ResolveAsync("job-repo", cache);

        Assert.Equal(1, cache.Hits);
        Assert.Contains($"git fetch skipped: commit {first} copied from the repository cache", hit.Log);
        Assert.Equal("patched\n", File.ReadAllText(Path.Combine(hit.Code, "notes.txt")));
        Assert.Equal("one\n", File.ReadAllText(Path.Combine(hit.Code, "message.txt")));
        Assert.Equal("numpy==2.0.0\n", File.ReadAllText(Path.Combine(hit.Code, "requirements.frozen.txt")));
        Assert.Equal(first, TestJobs.Git(hit.Code, "rev-parse", "HEAD"));
        // Links are copied as links, never followed: /etc/passwd is not in the cache or the code.
        Assert.Equal("/etc/passwd", new FileInfo(Path.Combine(hit.Code, "escape")).LinkTarget);
        Assert.Equal("../../..", new FileInfo(Path.Combine(hit.Code, "up")).LinkTarget);
        var entry = cache.EntryOf(Remote, first)!;
        Assert.Equal("/etc/passwd", new FileInfo(Path.Combine(entry, "tree", "escape")).LinkTarget);
        // The remote is named nowhere in the cache's paths, nor in the hit's log.
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(Cache, "*", SearchOption.AllDirectories),
            p => p.Contains(Remote, StringComparison.Ordinal) || Path.GetRelativePath(Cache, p).Split('/').Contains(Path.GetFileName(Remote)));
        Assert.DoesNotContain(Remote, hit.Log);
    }

    [Fact]
    public async Task A_local_remote_is_refused_without_the_opt_in_even_when_its_commit_is_cached()
    {
        var first = MakeRepository(out _);
        await LogJobAsync("job-repo", first);
        var cache = new GitRepositoryCache(Cache);
        await ResolveAsync("job-repo", cache);

        var e = await Assert.ThrowsAsync<JobFailedException>(() => ResolveAsync("job-repo", cache, allowLocalGit: false));

        Assert.Contains(GitCheckout.AllowLocalVariable, e.Message);
        Assert.Equal(0, cache.Hits);
    }

    [Fact]
    public async Task A_hit_prepares_exactly_the_tree_an_uncached_resolve_prepares()
    {
        var first = MakeRepository(out _);
        await LogJobAsync("job-repo", first);
        var cache = new GitRepositoryCache(Cache);
        var uncached = await ResolveAsync("job-repo", cache: null);
        await ResolveAsync("job-repo", cache);
        var hit = await ResolveAsync("job-repo", cache);

        Assert.Equal(1, cache.Hits);
        var expected = Describe(uncached.Code);
        Assert.Equal(expected, Describe(hit.Code));
        Assert.Contains(expected, line => line.StartsWith("file bin/run.sh 755 ", StringComparison.Ordinal));
        Assert.Contains(expected, line => line.StartsWith("file requirements.frozen.txt ", StringComparison.Ordinal));
        // Its .git is a repository at the same commit with the same remote, and the patch shows as the only change.
        foreach (var command in new[] { new[] { "rev-parse", "HEAD" }, ["remote", "get-url", "origin"], ["status", "--porcelain"], ["symbolic-ref", "HEAD"] })
        {
            Assert.Equal(TestJobs.Git(uncached.Code, command), TestJobs.Git(hit.Code, command));
        }
        Assert.Equal("M notes.txt\n?? requirements.frozen.txt", TestJobs.Git(hit.Code, "status", "--porcelain"));
    }

    /// <summary>Every entry outside .git: kind, path, mode, and content digest or link target.</summary>
    private static List<string> Describe(string root)
    {
        var lines = new List<string>();
        foreach (var entry in FileSystem.DirectoryWalk.Enumerate(root, skip: [".git"]))
        {
            var mode = OperatingSystem.IsWindows() || entry.Kind == FileSystem.DirectoryWalk.EntryKind.SymbolicLink ? "" : Convert.ToString((int)File.GetUnixFileMode(entry.FullPath), 8);
            lines.Add(entry.Kind switch
            {
                FileSystem.DirectoryWalk.EntryKind.File => $"file {entry.RelativePath} {mode} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(entry.FullPath)))}",
                FileSystem.DirectoryWalk.EntryKind.Directory => $"dir {entry.RelativePath} {mode}",
                _ => $"link {entry.RelativePath} -> {entry.LinkTarget}",
            });
        }
        return lines;
    }

    [Fact]
    public async Task Another_commit_is_a_miss_fetched_from_the_remote_into_its_own_entry()
    {
        var first = MakeRepository(out var second);
        await LogJobAsync("job-one", first);
        await LogJobAsync("job-two", second);
        var cache = new GitRepositoryCache(Cache);
        await ResolveAsync("job-one", cache);

        var other = await ResolveAsync("job-two", cache);

        Assert.Equal(0, cache.Hits);
        Assert.Contains("git fetch", other.Log);
        Assert.Equal(second, TestJobs.Git(other.Code, "rev-parse", "HEAD"));
        Assert.Equal(new[] { cache.EntryOf(Remote, first)!, cache.EntryOf(Remote, second)! }.Select(Path.GetFileName).Order(StringComparer.Ordinal), Entries(cache));
        Assert.NotEqual(cache.EntryOf(Remote, first), cache.EntryOf(Remote + "/", first)); // the remote is part of the key
    }

    [Fact]
    public async Task A_branch_or_short_commit_is_never_cached_and_is_fetched_every_time()
    {
        var first = MakeRepository(out _);
        await LogJobAsync("job-branch", "main");
        await LogJobAsync("job-short", first[..12]);
        var cache = new GitRepositoryCache(Cache);
        await ResolveAsync("job-branch", cache);
        await ResolveAsync("job-short", cache);
        Assert.Empty(Entries(cache));
        MoveRemoteAway();

        var e = await Assert.ThrowsAsync<JobFailedException>(() => ResolveAsync("job-branch", cache));

        Assert.Equal(FailureStage.Agent, e.Stage);
        Assert.Contains("Unable to fetch", e.Message);
        Assert.Equal(0, cache.Hits);
    }

    [Fact]
    public async Task Concurrent_resolves_of_one_commit_each_prepare_the_whole_tree_and_leave_one_entry()
    {
        var first = MakeRepository(out _);
        await LogJobAsync("job-repo", first);
        var caches = Enumerable.Range(0, 4).Select(_ => new GitRepositoryCache(Cache)).ToList();

        var results = await Task.WhenAll(caches.Select(c => Task.Run(() => ResolveAsync("job-repo", c))));

        var expected = Describe(results[0].Code);
        Assert.All(results, r => Assert.Equal(expected, Describe(r.Code)));
        Assert.Equal([Path.GetFileName(caches[0].EntryOf(Remote, first)!)], Entries(caches[0])); // no temporary directory left
        MoveRemoteAway();
        var hits = await Task.WhenAll(caches.Select(c => Task.Run(() => ResolveAsync("job-repo", c))));
        Assert.All(hits, r => Assert.Equal(expected, Describe(r.Code)));
        Assert.All(caches, c => Assert.Equal(1, c.Hits));
    }

    [Theory]
    [InlineData("changed")]
    [InlineData("missing")]
    [InlineData("extra")]
    [InlineData("no-manifest")]
    [InlineData("file-made-link")]
    public async Task A_corrupt_or_partial_entry_is_discarded_and_the_repository_fetched_again(string damage)
    {
        var first = MakeRepository(out _);
        await LogJobAsync("job-repo", first);
        var cache = new GitRepositoryCache(Cache);
        var good = await ResolveAsync("job-repo", cache);
        var entry = cache.EntryOf(Remote, first)!;
        var tree = Path.Combine(entry, "tree");
        switch (damage)
        {
            case "changed": File.WriteAllText(Path.Combine(tree, "pkg/deep/data.txt"), new string('e', 100_000)); break;
            case "missing": File.Delete(Path.Combine(tree, "bin/run.sh")); break;
            case "extra": File.WriteAllText(Path.Combine(tree, "planted.py"), "import os"); break;
            case "no-manifest": File.Delete(Path.Combine(entry, "manifest.json")); break;
            case "file-made-link":
                File.Delete(Path.Combine(tree, "message.txt"));
                File.CreateSymbolicLink(Path.Combine(tree, "message.txt"), "/etc/hostname");
                break;
        }

        var again = await ResolveAsync("job-repo", cache);

        Assert.Equal(0, cache.Hits);
        Assert.Contains("warning: the cached repository", again.Log);
        Assert.Contains("is removed and fetched again", again.Log);
        Assert.Equal(Describe(good.Code), Describe(again.Code));
        // The refetch stored a good entry again: the next resolve is a hit without the remote.
        MoveRemoteAway();
        var hit = await ResolveAsync("job-repo", cache);
        Assert.Equal(1, cache.Hits);
        Assert.Equal(Describe(good.Code), Describe(hit.Code));
    }

    [Fact]
    public async Task A_half_built_entry_left_by_a_crash_is_never_used()
    {
        var first = MakeRepository(out _);
        await LogJobAsync("job-repo", first);
        var cache = new GitRepositoryCache(Cache);
        await ResolveAsync("job-repo", cache);
        var entry = cache.EntryOf(Remote, first)!;
        // A crash before the rename leaves only a temporary directory; make the real entry that one.
        var temporary = Path.Combine(cache.Root, ".tmp-crashed");
        Directory.Move(entry, temporary);

        var again = await ResolveAsync("job-repo", cache);

        Assert.Equal(0, cache.Hits);
        Assert.Contains("git fetch " + Remote, again.Log);
        Assert.True(Directory.Exists(entry));
    }

    [Fact]
    public async Task The_cache_keeps_under_its_bound_by_removing_the_least_recently_used_entry()
    {
        var first = MakeRepository(out var second);
        var third = TestJobs.Commit(Remote, new Dictionary<string, string> { ["message.txt"] = "three\n" }, "third");
        await LogJobAsync("job-1", first);
        await LogJobAsync("job-2", second);
        await LogJobAsync("job-3", third);
        var probe = new GitRepositoryCache(Dir.File("probe"));
        await ResolveAsync("job-1", probe);
        var entryBytes = JsonNode.Parse(File.ReadAllText(Path.Combine(probe.EntryOf(Remote, first)!, "manifest.json")))!["bytes"]!.GetValue<long>();
        // Room for two entries, not three.
        var cache = new GitRepositoryCache(Cache, entryBytes * 2 + entryBytes / 2);
        await ResolveAsync("job-1", cache);
        await ResolveAsync("job-2", cache);
        Directory.SetLastWriteTimeUtc(cache.EntryOf(Remote, first)!, DateTime.UtcNow.AddMinutes(-10));
        Directory.SetLastWriteTimeUtc(cache.EntryOf(Remote, second)!, DateTime.UtcNow.AddMinutes(-5));
        await ResolveAsync("job-1", cache); // a hit makes job-1's entry the most recently used
        Assert.Equal(1, cache.Hits);

        var log = (await ResolveAsync("job-3", cache)).Log;

        Assert.Contains("removed the least recently used cached repository", log);
        Assert.True(Directory.Exists(cache.EntryOf(Remote, first)));
        Assert.False(Directory.Exists(cache.EntryOf(Remote, second)));
        Assert.True(Directory.Exists(cache.EntryOf(Remote, third)));
    }

    [Fact]
    public async Task A_repository_larger_than_the_bound_or_a_bound_of_zero_is_not_cached()
    {
        var first = MakeRepository(out _);
        await LogJobAsync("job-repo", first);
        var small = new GitRepositoryCache(Cache, 10_000);
        var log = (await ResolveAsync("job-repo", small)).Log;
        Assert.Contains("larger than the cache's bound", log);
        Assert.Empty(Entries(small));

        var off = new GitRepositoryCache(Cache, 0);
        await ResolveAsync("job-repo", off);
        Assert.Empty(Entries(off));
    }

    [Fact]
    public async Task Entries_are_private_0700_and_0600_while_the_copy_keeps_the_checkout_s_modes()
    {
        if (OperatingSystem.IsWindows()) return;
        var first = MakeRepository(out _);
        await LogJobAsync("job-repo", first);
        var cache = new GitRepositoryCache(Cache);
        await ResolveAsync("job-repo", cache);
        var entry = cache.EntryOf(Remote, first)!;

        foreach (var item in FileSystem.DirectoryWalk.Enumerate(cache.Root).Where(i => i.Kind != FileSystem.DirectoryWalk.EntryKind.SymbolicLink))
        {
            var expected = item.Kind == FileSystem.DirectoryWalk.EntryKind.Directory ? FileSystem.PrivateFiles.DirectoryMode : FileSystem.PrivateFiles.FileMode;
            Assert.True(File.GetUnixFileMode(item.FullPath) == expected, $"{item.RelativePath} is {File.GetUnixFileMode(item.FullPath)}");
        }
        Assert.Equal(FileSystem.PrivateFiles.DirectoryMode, File.GetUnixFileMode(cache.Root));
        Assert.True(File.Exists(Path.Combine(entry, "tree", "bin", "run.sh")));
    }

    [Theory]
    [InlineData("../../../etc")]
    [InlineData("/etc/passwd")]
    [InlineData("https://user:token@github.com/a/b.git")]
    [InlineData("..")]
    public void An_entry_is_a_hash_below_the_cache_whatever_the_remote(string remote)
    {
        var cache = new GitRepositoryCache(Cache);
        var entry = cache.EntryOf(remote, new string('a', 40))!;

        Assert.Equal(cache.Root, Path.GetDirectoryName(entry));
        Assert.Matches("^[0-9a-f]{64}$", Path.GetFileName(entry));
        Assert.Null(cache.EntryOf(remote, "main"));
        Assert.Null(cache.EntryOf(remote, new string('A', 40)));
    }

    [Theory]
    [InlineData(null, GitRepositoryCache.DefaultMaxBytes)]
    [InlineData("0", 0L)]
    [InlineData("512M", 512L * 1024 * 1024)]
    [InlineData(" 3G ", 3L * 1024 * 1024 * 1024)]
    public void The_bound_comes_from_the_environment(string? value, long expected) =>
        Assert.Equal(expected, GitRepositoryCache.ParseMaxBytes(n => n == GitRepositoryCache.MaxBytesVariable ? value : null));

    [Theory]
    [InlineData("lots")]
    [InlineData("-1")]
    [InlineData("1.5G")]
    [InlineData("99999999999999G")]
    public void A_bound_that_is_not_a_size_is_refused_naming_it(string value)
    {
        var e = Assert.Throws<LaunchException>(() => GitRepositoryCache.ParseMaxBytes(n => n == GitRepositoryCache.MaxBytesVariable ? value : null));
        Assert.Equal("InvalidGitCacheMaxBytes", e.ErrorId);
        Assert.Contains(value, e.Message);
        Assert.Contains(GitRepositoryCache.MaxBytesVariable, e.Message);
    }
}
