using System.Formats.Tar;
using System.Text;
using WandbLaunch.Engine.Builders;

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
}
