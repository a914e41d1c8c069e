using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Runners.Kubernetes;

namespace WandbLaunch.Engine.KubeTests;

/// <summary>
/// With WANDB_LAUNCH_CODE_PVC_NAME/_MOUNT_PATH the agent copies a base-image job's prepared code to the claim, as
/// W&amp;B's <c>change_project_dir</c> does: without <c>.git</c> and <c>fsmonitor--daemon.ipc</c>, links kept as links,
/// and only below the claim's mount.
/// </summary>
public sealed class CodeClaimCopyTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Mount => Directory.CreateDirectory(_dir.File("claim")).FullName;

    private MountedCode Code(string source = "job-x:latest:vv3") => new()
    {
        HostDirectory = _dir.File("code"),
        Source = MountedCodeSource.Repo,
        GitRemote = "https://github.com/acme/x.git",
        GitCommit = "0123abc",
        JobArtifact = "ent/proj/job-x:v3",
        ImageSourceString = source,
        InstallDependencies = true,
    };

    private void WriteCode()
    {
        Directory.CreateDirectory(_dir.File("code/.git/objects"));
        _dir.Write("code/.git/config", "[core]\n");
        Directory.CreateDirectory(_dir.File("code/pkg/.git"));
        _dir.Write("code/pkg/.git/HEAD", "ref\n");
        _dir.Write("code/pkg/fsmonitor--daemon.ipc", "");
        _dir.Write("code/train.py", "print('hi')\n");
        _dir.Write("code/pkg/model.py", "x = 1\n");
        _dir.Write("code/requirements.frozen.txt", "wandb==0.19.0\n");
        _dir.Write(Path.Combine("outside", "secret.txt"), "host secret\n");
        File.CreateSymbolicLink(_dir.File("code/pkg/link-out"), _dir.File("outside/secret.txt"));
        File.CreateSymbolicLink(_dir.File("code/link-dir-out"), _dir.File("outside"));
        File.CreateSymbolicLink(_dir.File("code/link-in"), "train.py");
    }

    [Fact]
    public void The_code_is_copied_under_the_image_source_string_without_git_and_with_links_as_links()
    {
        WriteCode();
        var notes = new List<string>();

        var target = PodCode.CopyToClaim(Code(), new CodeClaim("launch-code", Mount), notes.Add);

        Assert.Equal(Path.Combine(Mount, "job-x:latest:vv3"), target);
        Assert.Equal("print('hi')\n", File.ReadAllText(Path.Combine(target, "train.py")));
        Assert.Equal("x = 1\n", File.ReadAllText(Path.Combine(target, "pkg/model.py")));
        Assert.False(Directory.Exists(Path.Combine(target, ".git")));
        Assert.False(Directory.Exists(Path.Combine(target, "pkg/.git")));
        Assert.False(File.Exists(Path.Combine(target, "pkg/fsmonitor--daemon.ipc")));
        // Links are links naming what they named: nothing outside the code was read or copied.
        Assert.Equal(_dir.File("outside/secret.txt"), new FileInfo(Path.Combine(target, "pkg/link-out")).LinkTarget);
        Assert.Equal(_dir.File("outside"), new FileInfo(Path.Combine(target, "link-dir-out")).LinkTarget);
        Assert.Equal("train.py", new FileInfo(Path.Combine(target, "link-in")).LinkTarget);
        Assert.Empty(Directory.GetFiles(Mount, "*", SearchOption.TopDirectoryOnly));
        // Where the dependency install looks for them (W&B's PVC mode never puts them there).
        Assert.Equal("wandb==0.19.0\n", File.ReadAllText(Path.Combine(target, ".job/requirements.frozen.txt")));
        // Nothing half-copied is left beside it.
        Assert.Equal([target], Directory.GetDirectories(Mount));
        Assert.Contains(notes, n => n.Contains("copied the job's code to the claim launch-code"));
    }

    [Fact]
    public void A_copy_already_on_the_claim_is_used_as_it_is()
    {
        WriteCode();
        var existing = Directory.CreateDirectory(Path.Combine(Mount, "job-x:latest:vv3")).FullName;
        File.WriteAllText(Path.Combine(existing, "train.py"), "in use by a running pod\n");
        var notes = new List<string>();

        var target = PodCode.CopyToClaim(Code(), new CodeClaim("launch-code", Mount), notes.Add);

        Assert.Equal(existing, target);
        Assert.Equal("in use by a running pod\n", File.ReadAllText(Path.Combine(target, "train.py")));
        Assert.Contains(notes, n => n.Contains("already on the claim"));
        Assert.Single(Directory.GetDirectories(Mount));
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("a/b")]
    [InlineData("/abs")]
    [InlineData("")]
    public void An_image_source_string_that_is_not_one_name_is_refused_and_nothing_is_written(string source)
    {
        WriteCode();
        var e = Assert.Throws<JobFailedException>(() => PodCode.CopyToClaim(Code(source), new CodeClaim("launch-code", Mount), _ => { }));
        Assert.Equal(FailureStage.Agent, e.Stage);
        Assert.Empty(Directory.GetFileSystemEntries(Mount));
        Assert.False(Directory.Exists(_dir.File("escape")));
    }

    [Fact]
    public void A_mount_path_link_leading_elsewhere_is_followed_only_as_the_agent_s_own_configuration()
    {
        // The mount path is the agent's (its environment), not the job's: a link there is the operator's choice. The
        // job's part, the image source string, stays one name below it.
        WriteCode();
        var real = Directory.CreateDirectory(_dir.File("real-claim")).FullName;
        var link = _dir.File("claim-link");
        Directory.CreateSymbolicLink(link, real);

        var target = PodCode.CopyToClaim(Code(), new CodeClaim("launch-code", link), _ => { });

        Assert.True(File.Exists(Path.Combine(real, "job-x:latest:vv3", "train.py")));
        Assert.StartsWith(link, target);
    }
}
