using System.Diagnostics;
using System.Formats.Tar;
using System.Text;
using WandbLaunch.Engine.Builders;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.DockerTests.Builders;

public sealed class ContextArchiveTests : IDisposable
{
    private readonly TempDirectory _a = new();
    private readonly TempDirectory _b = new();

    public void Dispose()
    {
        _a.Dispose();
        _b.Dispose();
    }

    private const string Dockerfile = "FROM busybox\nCOPY . /app\n";

    private static BuildPlan Plan(TempDirectory dir, string dockerfile = Dockerfile) => new(dir.Path, dockerfile, "generated");

    private static void WriteCode(TempDirectory dir, bool reversed = false)
    {
        var files = new (string Name, string Text)[] { ("train.py", "print('hi')\n"), ("lib/util.py", "X = 1\n"), ("data/config.yaml", "lr: 0.1\n") };
        foreach (var (name, text) in reversed ? files.Reverse() : files) dir.Write(name, text);
    }

    [Fact]
    public void The_tag_is_8_lowercase_hex_characters()
    {
        WriteCode(_a);
        Assert.Matches("^[0-9a-f]{8}$", ContextArchive.Tag(Plan(_a)));
    }

    [Fact]
    public void The_same_code_and_Dockerfile_get_the_same_tag_wherever_and_however_they_were_written()
    {
        WriteCode(_a);
        WriteCode(_b, reversed: true);
        File.SetLastWriteTimeUtc(_b.File("train.py"), DateTime.UtcNow.AddDays(-3));
        Assert.Equal(ContextArchive.Tag(Plan(_a)), ContextArchive.Tag(Plan(_b)));
        Assert.Equal(ContextArchive.Tag(Plan(_a)), ContextArchive.Tag(Plan(_a)));
    }

    [Fact]
    public void Changing_a_file_renaming_it_adding_one_or_changing_the_Dockerfile_changes_the_tag()
    {
        WriteCode(_a);
        var tags = new HashSet<string> { ContextArchive.Tag(Plan(_a)) };
        _a.Write("train.py", "print('changed')\n");
        Assert.True(tags.Add(ContextArchive.Tag(Plan(_a))), "content change");
        File.Move(_a.File("train.py"), _a.File("main.py"));
        Assert.True(tags.Add(ContextArchive.Tag(Plan(_a))), "rename");
        _a.Write("extra.txt", "");
        Assert.True(tags.Add(ContextArchive.Tag(Plan(_a))), "new empty file");
        Assert.True(tags.Add(ContextArchive.Tag(Plan(_a, Dockerfile + "ENV X=1\n"))), "Dockerfile change");
    }

    [Fact]
    public void Moving_bytes_between_a_files_name_and_its_content_changes_the_tag()
    {
        _a.Write("ab", "c");
        _b.Write("a", "bc");
        Assert.NotEqual(ContextArchive.Tag(Plan(_a)), ContextArchive.Tag(Plan(_b)));
    }

    [Fact]
    public void Git_caches_virtualenvs_node_modules_and_a_Dockerfile_wandb_at_the_root_do_not_change_the_tag()
    {
        WriteCode(_a);
        var tag = ContextArchive.Tag(Plan(_a));
        _a.Write(".git/HEAD", "ref: refs/heads/main\n");
        _a.Write("__pycache__/train.cpython-311.pyc", "xx");
        _a.Write("lib/__pycache__/util.cpython-311.pyc", "xx");
        _a.Write(".venv/bin/python", "xx");
        _a.Write("web/node_modules/left-pad/index.js", "xx");
        _a.Write("Dockerfile.wandb", "FROM something-else\n");
        Assert.Equal(tag, ContextArchive.Tag(Plan(_a)));
        Assert.Equal(["data/config.yaml", "lib/util.py", "train.py"], ContextArchive.Files(_a.Path));
    }

    [Fact]
    public void The_archive_holds_the_context_files_and_the_plans_Dockerfile_as_Dockerfile_wandb()
    {
        WriteCode(_a);
        _a.Write(".git/HEAD", "ref\n");
        _a.Write("Dockerfile.wandb", "FROM stale\n");
        var entries = new Dictionary<string, string>();
        using (var archive = ContextArchive.Create(Plan(_a)))
        using (var reader = new TarReader(archive))
        {
            while (reader.GetNextEntry() is { } entry)
            {
                using var content = new StreamReader(entry.DataStream!, Encoding.UTF8);
                entries.Add(entry.Name, content.ReadToEnd());
            }
        }
        Assert.Equal(["Dockerfile.wandb", "data/config.yaml", "lib/util.py", "train.py"], entries.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(Dockerfile, entries["Dockerfile.wandb"]);
        Assert.Equal("print('hi')\n", entries["train.py"]);
        Assert.Equal("X = 1\n", entries["lib/util.py"]);
    }

    // .dockerignore: Docker's rules (docs.docker.com "Build context", moby's ignorefile and patternmatcher).

    private List<string> SentWith(string dockerignore, params string[] files)
    {
        foreach (var file in files) _a.Write(file, file);
        _a.Write(".dockerignore", dockerignore);
        return ContextArchive.Files(_a.Path).Where(f => f != ".dockerignore").ToList();
    }

    private static Dictionary<string, string> ArchiveOf(BuildPlan plan)
    {
        var entries = new Dictionary<string, string>();
        using var archive = ContextArchive.Create(plan);
        using var reader = new TarReader(archive);
        while (reader.GetNextEntry() is { } entry)
        {
            using var content = new StreamReader(entry.DataStream!, Encoding.UTF8);
            entries.Add(entry.Name, content.ReadToEnd());
        }
        return entries;
    }

    private JobFailedException Refused(string dockerignore)
    {
        _a.Write("train.py", "");
        _a.Write(".dockerignore", dockerignore);
        var e = Assert.Throws<JobFailedException>(() => ContextArchive.Files(_a.Path));
        Assert.Equal(FailureStage.Build, e.Stage);
        return e;
    }

    [Fact]
    public void An_ignored_secret_and_data_directory_are_neither_sent_nor_hashed_and_editing_them_keeps_the_tag()
    {
        WriteCode(_a);
        _a.Write(".dockerignore", "secrets.env\ndata\n");
        var tag = ContextArchive.Tag(Plan(_a));
        _a.Write("secrets.env", "WANDB_API_KEY=x");
        _a.Write("data/big/shard-0.bin", "xx");
        Assert.Equal(tag, ContextArchive.Tag(Plan(_a)));
        _a.Write("secrets.env", "WANDB_API_KEY=changed");
        Assert.Equal(tag, ContextArchive.Tag(Plan(_a)));
        var archive = ArchiveOf(Plan(_a));
        Assert.Equal([".dockerignore", "Dockerfile.wandb", "lib/util.py", "train.py"], archive.Keys.Order(StringComparer.Ordinal));
        _a.Write(".dockerignore", "secrets.env\n");
        Assert.NotEqual(tag, ContextArchive.Tag(Plan(_a)));
        Assert.Contains("data/config.yaml", ContextArchive.Files(_a.Path));
    }

    [Fact]
    public void Comments_blank_lines_and_surrounding_whitespace_are_skipped_a_hash_only_in_column_one_is_a_comment()
    {
        var sent = SentWith("# a.txt\n\n   \n  b.txt  \r\n\t c.txt\n  # d.txt\n", "a.txt", "b.txt", "c.txt", "d.txt", "# d.txt");
        Assert.Equal(["a.txt", "d.txt"], sent);
    }

    [Fact]
    public void Patterns_are_cleaned_and_a_leading_slash_is_ignored()
    {
        var sent = SentWith("/a.txt\n./b/../b.txt\nc//d.txt\ne/\n/f/./g.txt\n", "a.txt", "b.txt", "c/d.txt", "e/x.txt", "f/g.txt", "keep/a.txt");
        Assert.Equal(["keep/a.txt"], sent);
    }

    [Fact]
    public void Star_question_mark_and_classes_follow_go_filepath_match_and_do_not_cross_a_slash()
    {
        var sent = SentWith("*.log\ntemp?\n*/cache*\n[a-c]x.txt\n[^a-y]y.txt\n",
            "run.log", "sub/run.log", "temp1", "temp12", "lib/cache.bin", "lib/deep/cache.bin", "ax.txt", "dx.txt", "zy.txt", "ay.txt");
        Assert.Equal(["ay.txt", "dx.txt", "lib/deep/cache.bin", "sub/run.log", "temp12"], sent);
    }

    [Fact]
    public void A_backslash_escapes_the_next_character()
    {
        var sent = SentWith("\\*.txt\nq\\?\n", "*.txt", "a.txt", "q?", "qa");
        Assert.Equal(["a.txt", "qa"], sent);
    }

    [Fact]
    public void Double_star_matches_any_number_of_directories_including_none()
    {
        var sent = SentWith("**/*.pyc\nlogs/**\n**/tmp\na/**/z.txt\n",
            "x.pyc", "lib/y.pyc", "lib/deep/z.pyc", "logs/1/2.txt", "tmp", "lib/tmp/x", "a/z.txt", "a/b/c/z.txt", "b/z.txt", "keep.py");
        Assert.Equal(["b/z.txt", "keep.py"], sent);
    }

    [Fact]
    public void Exceptions_re_include_and_the_last_matching_line_wins()
    {
        Assert.Equal(["README.md"], SentWith("*.md\n!README.md\n", "a.md", "README.md"));
        _a.Dispose();
        using var first = new TempDirectory();
        var docs = new[] { "a.md", "README.md", "README-secret.md" };
        foreach (var doc in docs) first.Write(doc, doc);
        first.Write(".dockerignore", "*.md\n!README*.md\nREADME-secret.md\n");
        Assert.Equal([".dockerignore", "README.md"], ContextArchive.Files(first.Path));
        first.Write(".dockerignore", "*.md\nREADME-secret.md\n!README*.md\n");
        Assert.Equal([".dockerignore", "README-secret.md", "README.md"], ContextArchive.Files(first.Path));
    }

    [Fact]
    public void A_pattern_matching_a_directory_excludes_everything_below_it_unless_an_exception_re_includes_a_file()
    {
        Assert.Equal(["other/x"], SentWith("data\n", "data/a/b/c", "data/x", "other/x"));
        _a.Write(".dockerignore", "data\n!data/a/keep.txt\n");
        _a.Write("data/a/keep.txt", "k");
        Assert.Equal([".dockerignore", "data/a/keep.txt", "other/x"], ContextArchive.Files(_a.Path));
        _a.Write(".dockerignore", "*\n!**/keep.txt\n");
        Assert.Equal([".dockerignore", "data/a/keep.txt"], ContextArchive.Files(_a.Path));
    }

    [Fact]
    public void An_excluded_directory_without_exceptions_is_not_walked_so_an_unreadable_one_does_not_fail_the_build()
    {
        // (Run as root the directory stays readable, and only the outcome is checked.)
        if (OperatingSystem.IsWindows()) return;
        _a.Write("train.py", "");
        _a.Write("data/secret", "x");
        File.SetUnixFileMode(_a.File("data"), UnixFileMode.None);
        try
        {
            _a.Write(".dockerignore", "data\n");
            Assert.Equal([".dockerignore", "train.py"], ContextArchive.Files(_a.Path));
        }
        finally
        {
            File.SetUnixFileMode(_a.File("data"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Fact]
    public void The_dockerignore_and_the_Dockerfile_are_sent_even_when_excluded()
    {
        WriteCode(_a);
        _a.Write(".dockerignore", "*\n");
        var archive = ArchiveOf(Plan(_a));
        Assert.Equal([".dockerignore", "Dockerfile.wandb"], archive.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(Dockerfile, archive["Dockerfile.wandb"]);
        _a.Write(".dockerignore", ".dockerignore\nDockerfile.wandb\n");
        Assert.Contains(".dockerignore", ArchiveOf(Plan(_a)).Keys);
    }

    [Fact]
    public void An_excluded_link_out_of_the_context_is_not_sent_and_does_not_fail_the_build()
    {
        if (OperatingSystem.IsWindows()) return;
        WriteCode(_a);
        File.CreateSymbolicLink(_a.File("passwd"), "/etc/passwd");
        Assert.Throws<JobFailedException>(() => ContextArchive.Files(_a.Path));
        _a.Write(".dockerignore", "passwd\n");
        Assert.DoesNotContain("passwd", ContextArchive.Files(_a.Path));
    }

    [Fact]
    public void A_dockerignore_that_is_a_link_out_of_the_context_fails_the_build()
    {
        if (OperatingSystem.IsWindows()) return;
        WriteCode(_a);
        _b.Write("outside", "*\n");
        File.CreateSymbolicLink(_a.File(".dockerignore"), _b.File("outside"));
        var e = Assert.Throws<JobFailedException>(() => ContextArchive.Files(_a.Path));
        Assert.Equal(FailureStage.Build, e.Stage);
        Assert.Contains(".dockerignore", e.Message);
    }

    [Fact]
    public void Under_the_generated_Dockerfile_the_code_goes_to_src_and_its_dockerignore_does_not_apply_as_in_WandB()
    {
        WriteCode(_a);
        _a.Write(".dockerignore", "data\n");
        var plan = Plan(_a) with { ArchivePrefix = "src/" };
        Assert.Contains("src/data/config.yaml", ArchiveOf(plan).Keys);
        Assert.DoesNotContain("data/config.yaml", ContextArchive.Files(_a.Path));
    }

    [Theory]
    [InlineData("[a-", 1)]
    [InlineData("ok\n[]x", 2)]
    [InlineData("ok\n\n*.[z-a]", 3)]
    [InlineData("trailing\\", 1)]
    [InlineData("[-a]", 1)]
    [InlineData("# c\n!", 2)]
    [InlineData("!  ", 1)]
    public void A_malformed_pattern_fails_the_build_naming_the_line_and_the_pattern(string dockerignore, int line)
    {
        var e = Refused(dockerignore);
        Assert.Contains($"Line {line} of the job's .dockerignore", e.Message);
        Assert.Contains("'" + dockerignore.Split('\n')[line - 1].Trim() + "'", e.Message);
    }

    [Fact]
    public void A_huge_dockerignore_a_very_long_line_or_too_many_patterns_fail_clearly_and_quickly()
    {
        var watch = Stopwatch.StartNew();
        Assert.Contains("larger than", Refused(new string('a', DockerIgnore.MaxFileBytes + 10)).Message);
        Assert.Contains("Line 2", Refused("ok\n" + new string('b', DockerIgnore.MaxLineBytes + 1)).Message);
        Assert.Contains("patterns", Refused(string.Concat(Enumerable.Range(0, DockerIgnore.MaxPatterns + 1).Select(i => $"p{i}\n"))).Message);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
    }

    [Fact]
    public void Pathological_patterns_match_in_bounded_time()
    {
        for (var i = 0; i < 40; i++) _a.Write(string.Join('/', Enumerable.Repeat("a", 30)) + $"/f{i}.txt", "");
        _a.Write("keep.py", "");
        var longest = string.Concat(Enumerable.Repeat("**/", (DockerIgnore.MaxLineBytes - 10) / 3)) + "b";
        var stars = string.Concat(Enumerable.Repeat("*a", 500)) + "b";
        var classes = string.Concat(Enumerable.Repeat("[a-z]*", 300)) + "x";
        _a.Write(".dockerignore", string.Join('\n', longest, stars, classes, "**/**/**/**/**/**/**/**/**/**/f1*.txt", "!**/**/**/**/**/**/**/**/**/**/f1.txt"));
        var watch = Stopwatch.StartNew();
        var sent = ContextArchive.Files(_a.Path);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed}");
        Assert.Contains("keep.py", sent);
        Assert.DoesNotContain(sent, f => f.EndsWith("/f10.txt", StringComparison.Ordinal));
        Assert.Contains(sent, f => f.EndsWith("/f1.txt", StringComparison.Ordinal));
        Assert.Contains(sent, f => f.EndsWith("/f2.txt", StringComparison.Ordinal));
    }

    [Fact]
    public void A_pattern_with_more_wildcards_than_can_be_matched_in_linear_time_is_refused_naming_its_line()
    {
        var e = Refused("ok\n" + string.Concat(Enumerable.Repeat("*a", 5000)) + "b");
        Assert.Contains("Line 2", e.Message);
        Assert.Contains("too many wildcards", e.Message);
    }

    [Theory]
    [InlineData("**", "a/b/c", true)]
    [InlineData("**/foo", "foo", true)]
    [InlineData("**/foo", "a/b/foo", true)]
    [InlineData("**/foo", "afoo", false)]
    [InlineData("foo/**", "foo/a/b", true)]
    [InlineData("foo/**", "foobar", false)]
    [InlineData("a/**/b", "a/b", true)]
    [InlineData("a/**/b", "a/x/y/b", true)]
    [InlineData("*", "a/b", true)]
    [InlineData("?", "ab", false)]
    [InlineData("[!a]b", "!b", true)]
    [InlineData("[\\]]b", "]b", true)]
    [InlineData("a.b", "axb", false)]
    [InlineData("(a|b)", "a", false)]
    [InlineData("..", "a", false)]
    public void Single_patterns_match_as_in_moby(string pattern, string path, bool excluded)
    {
        Assert.Equal(excluded, DockerIgnore.Parse(pattern).Excludes(path));
    }
}

