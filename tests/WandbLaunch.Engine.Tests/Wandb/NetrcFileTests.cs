using WandbLaunch.Engine.Storage.Wandb;

namespace WandbLaunch.Engine.Tests.Wandb;

public sealed class NetrcFileTests
{
    private const string Key = "0123456789abcdef0123456789abcdef01234567";

    [Fact]
    public void Finds_the_password_of_the_machine_wandb_login_wrote()
    {
        var text = $"machine github.com login me password other\nmachine api.wandb.ai\n  login user\n  password {Key}\n";
        Assert.Equal(Key, NetrcFile.Parse(text, "api.wandb.ai", out var problem));
        Assert.Null(problem);
    }

    [Fact]
    public void A_self_hosted_server_with_a_port_is_its_own_machine()
    {
        var text = $"machine wandb.corp password wrong\nmachine wandb.corp:8080 login user password {Key}";
        Assert.Equal(Key, NetrcFile.Parse(text, "wandb.corp:8080", out _));
        Assert.Equal("wrong", NetrcFile.Parse(text, "wandb.corp", out _));
    }

    [Fact]
    public void The_default_entry_answers_for_unknown_machines_and_comments_and_macros_are_skipped()
    {
        var text = $"# my netrc\nmacdef init\ncd /tmp\nmachine evil password stolen\n\ndefault login x password {Key}\n";
        Assert.Equal(Key, NetrcFile.Parse(text, "api.wandb.ai", out var problem));
        Assert.Null(problem);
    }

    [Fact]
    public void A_quoted_password_keeps_its_spaces_and_escapes()
    {
        Assert.Equal("a b\"c", NetrcFile.Parse("machine h password \"a b\\\"c\"", "h", out _));
    }

    [Theory]
    [InlineData("machine h password")]                 // keyword without value
    [InlineData("machine h passwd x")]                 // unknown keyword
    [InlineData("password x")]                         // password outside an entry
    [InlineData("machine h password \"unterminated")]  // open quote
    public void Invalid_syntax_makes_the_file_unusable_as_in_python(string text)
    {
        Assert.Null(NetrcFile.Parse(text, "h", out var problem));
        Assert.NotNull(problem);
    }

    [Fact]
    public void No_entry_for_the_machine_gives_no_key()
    {
        Assert.Null(NetrcFile.Parse("machine other login a password b", "api.wandb.ai", out var problem));
        Assert.Null(problem);
    }

    [Fact]
    public void A_huge_file_is_ignored_without_reading_it_whole()
    {
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, ".netrc");
        File.WriteAllText(path, $"machine api.wandb.ai password {Key}\n" + new string('#', NetrcFile.MaxBytes));
        Assert.Null(NetrcFile.ReadPassword(path, "api.wandb.ai"));
    }

    [Fact]
    public void Binary_garbage_a_directory_and_a_missing_file_give_no_key_and_report_no_content()
    {
        using var dir = new TempDirectory();
        var binary = Path.Combine(dir.Path, "bin");
        File.WriteAllBytes(binary, [0xff, 0xfe, 0x00, 0xc3, 0x28, (byte)'m', (byte)'a']);
        var secretFile = Path.Combine(dir.Path, "secret");
        File.WriteAllText(secretFile, $"machine h password {Key} bogus");
        var diagnostics = new RecordingDiagnostics();
        using (Engine.Diagnostics.EngineLog.Use(diagnostics))
        {
            Assert.Null(NetrcFile.ReadPassword(binary, "h"));
            Assert.Null(NetrcFile.ReadPassword(dir.Path, "h"));
            Assert.Null(NetrcFile.ReadPassword(Path.Combine(dir.Path, "none"), "h"));
            Assert.Null(NetrcFile.ReadPassword(secretFile, "h"));
        }
        Assert.Contains("line 1", diagnostics.All);
        Assert.DoesNotContain(Key, diagnostics.All);
    }
}
