using System.Diagnostics;
using System.Formats.Tar;
using System.Text;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Builders;
using WandbLaunch.Engine.Code;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.HostileInputTests;

/// <summary>
/// Symbolic links in a job's code: the build context archive (docker and kaniko upload the same one) and its tag
/// never follow a link; links inside the code are archived as links, links out of it fail the build naming the link
/// and its target, and a link loop ends at once.
/// </summary>
public sealed class PathsCodeDirectoryTests : IDisposable
{
    private const string Dockerfile = "FROM busybox\n";
    private readonly TempDirectory _dir = new();

    public PathsCodeDirectoryTests()
    {
        Code = Directory.CreateDirectory(_dir.File("code")).FullName;
        _dir.Write("code/train.py", "print('hi')\n");
    }

    public void Dispose() => _dir.Dispose();

    private string Code { get; }

    private BuildPlan Plan() => new(Code, Dockerfile, "test");

    [Fact]
    public void A_link_loop_ends_in_well_under_a_few_seconds_and_is_archived_as_links()
    {
        Directory.CreateDirectory(Path.Join(Code, "a", "b"));
        File.CreateSymbolicLink(Path.Join(Code, "a", "b", "up"), "../..");
        File.CreateSymbolicLink(Path.Join(Code, "a", "self"), ".");
        File.CreateSymbolicLink(Path.Join(Code, "a", "b", "again"), "../../a");
        var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
        var clock = Stopwatch.StartNew();

        var tag = ContextArchive.Tag(Plan());
        using var archive = ContextArchive.Create(Plan());

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.Elapsed}");
        Assert.True(GC.GetTotalMemory(forceFullCollection: false) - memoryBefore < 64 * 1024 * 1024, "memory grew by more than 64 MB");
        Assert.Matches("^[0-9a-f]{8}$", tag);
        var entries = Entries(archive);
        Assert.Equal(TarEntryType.SymbolicLink, entries["a/b/up"].EntryType);
        Assert.Equal("../..", entries["a/b/up"].LinkName);
        Assert.Equal(TarEntryType.SymbolicLink, entries["a/self"].EntryType);
        Assert.Equal(["Dockerfile.wandb", "a/b/again", "a/b/up", "a/self", "train.py"], entries.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_directory_link_loop_that_never_resolves_fails_the_build_fast_naming_the_link()
    {
        File.CreateSymbolicLink(Path.Join(Code, "x"), "y");
        File.CreateSymbolicLink(Path.Join(Code, "y"), "x");
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<JobFailedException>(() => ContextArchive.Tag(Plan()));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3));
        Assert.Equal(FailureStage.Build, e.Stage);
        Assert.Contains("loop", e.Message);
        Assert.Contains("'x'", e.Message);
    }

    public static TheoryData<string> OutsideTargets => new() { "/etc/passwd", "../outside/secret.txt", "sub/../../outside", "/" };

    [Theory]
    [MemberData(nameof(OutsideTargets))]
    public void A_link_out_of_the_code_fails_the_build_naming_link_and_target_and_its_content_never_enters_an_archive(string target)
    {
        _dir.Write("outside/secret.txt", "TOP-SECRET-CONTENT");
        Directory.CreateDirectory(Path.Join(Code, "sub"));
        File.CreateSymbolicLink(Path.Join(Code, "leak"), target);

        var tagError = Assert.Throws<JobFailedException>(() => ContextArchive.Tag(Plan()));
        var archiveError = Assert.Throws<JobFailedException>(() => ContextArchive.Create(Plan()));

        foreach (var e in new[] { tagError, archiveError })
        {
            Assert.Equal(FailureStage.Build, e.Stage);
            Assert.Contains("'leak'", e.Message);
            Assert.Contains($"'{target}'", e.Message);
        }
    }

    [Fact]
    public void A_link_to_a_file_inside_the_code_is_archived_as_a_link_not_as_its_content()
    {
        _dir.Write("code/data/big.bin", "payload");
        File.CreateSymbolicLink(Path.Join(Code, "latest.bin"), "data/big.bin");
        using var archive = ContextArchive.Create(Plan());
        var entries = Entries(archive);
        Assert.Equal(TarEntryType.SymbolicLink, entries["latest.bin"].EntryType);
        Assert.Equal("data/big.bin", entries["latest.bin"].LinkName);
        Assert.Null(entries["latest.bin"].DataStream);
    }

    [Fact]
    public void A_changed_link_target_changes_the_tag()
    {
        _dir.Write("code/one.txt", "1");
        _dir.Write("code/two.txt", "2");
        var link = Path.Join(Code, "current");
        File.CreateSymbolicLink(link, "one.txt");
        var first = ContextArchive.Tag(Plan());
        File.Delete(link);
        File.CreateSymbolicLink(link, "two.txt");
        Assert.NotEqual(first, ContextArchive.Tag(Plan()));
    }

    [Theory]
    [InlineData("""{"build_context": "ctx"}""", "build_context")]
    [InlineData("""{"overrides": {"dockerfile": "ctx"}}""", "overrides.dockerfile")]
    public void A_build_context_or_dockerfile_reached_through_a_link_out_of_the_code_fails_the_build(string spec, string key)
    {
        var outside = _dir.Write("outside/Dockerfile", "FROM evil\n");
        File.CreateSymbolicLink(Path.Join(Code, "ctx"), key == "build_context" ? Path.GetDirectoryName(outside)! : outside);
        var e = Assert.Throws<JobFailedException>(() => BuildPlanner.Plan(Code, LaunchSpec.Parse(JsonNode.Parse(spec)), null));
        Assert.Equal(FailureStage.Build, e.Stage);
        Assert.Contains(key, e.Message);
        Assert.Contains("points outside", e.Message);
    }

    [Fact]
    public void The_job_s_own_Dockerfile_as_a_link_out_of_the_code_is_never_read()
    {
        var outside = _dir.Write("outside/passwd", "root:x:0:0:SECRET\n");
        File.CreateSymbolicLink(Path.Join(Code, "Dockerfile"), outside);
        var e = Assert.Throws<JobFailedException>(() => BuildPlanner.Plan(Code, LaunchSpec.Empty(), null));
        Assert.DoesNotContain("SECRET", e.Message);
        Assert.Contains("points outside", e.Message);
    }

    [Fact]
    public void Removing_a_run_directory_never_follows_a_link_in_it_and_leaves_the_target_untouched()
    {
        var work = Directory.CreateDirectory(_dir.File("work")).FullName;
        var outsideFile = _dir.Write("outside/readonly.txt", "keep");
        File.SetAttributes(outsideFile, FileAttributes.ReadOnly);
        var runDirectory = CodeDirectory.RunDirectory(work, "abcd1234");
        Directory.CreateDirectory(Path.Join(runDirectory, "code"));
        File.CreateSymbolicLink(Path.Join(runDirectory, "code", "escape"), Path.GetDirectoryName(outsideFile)!);
        File.CreateSymbolicLink(Path.Join(runDirectory, "code", "loop"), "..");
        var notes = new List<string>();

        CodeDirectory.RemoveRunDirectory(work, "abcd1234", notes.Add);

        Assert.Empty(notes);
        Assert.False(Directory.Exists(runDirectory));
        Assert.Equal("keep", File.ReadAllText(outsideFile));
        Assert.True(File.GetAttributes(outsideFile).HasFlag(FileAttributes.ReadOnly), "the link's target was made writable");
        File.SetAttributes(outsideFile, FileAttributes.Normal);
    }

    private static Dictionary<string, PaxTarEntryCopy> Entries(MemoryStream archive)
    {
        var result = new Dictionary<string, PaxTarEntryCopy>(StringComparer.Ordinal);
        using var reader = new TarReader(archive, leaveOpen: true);
        while (reader.GetNextEntry(copyData: true) is { } entry)
        {
            var content = entry.DataStream is null ? null : new StreamReader(entry.DataStream, Encoding.UTF8).ReadToEnd();
            Assert.DoesNotContain("TOP-SECRET", content ?? "");
            result[entry.Name] = new PaxTarEntryCopy(entry.EntryType, entry.LinkName, content);
        }
        archive.Position = 0;
        return result;
    }

    private sealed record PaxTarEntryCopy(TarEntryType EntryType, string LinkName, string? DataStream);
}
