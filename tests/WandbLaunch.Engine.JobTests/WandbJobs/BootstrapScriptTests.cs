using System.Diagnostics;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Builders;

namespace WandbLaunch.Engine.JobTests.WandbJobs;

/// <summary>
/// The bootstrap a generated image runs to install requirements.frozen.txt, run with the real python3. pip and uv are
/// stand-ins on PATH (no package index here): uv refuses any install that names a package listed in BAD and records
/// each call, as the real one would fail and leave the rest uninstalled.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class BootstrapScriptTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private (int Exit, string Stdout, string Stderr, string[] Calls) Run(string? requirements, string bad)
    {
        var bin = Directory.CreateDirectory(_dir.File("bin")).FullName;
        var calls = _dir.File("calls.txt");
        File.WriteAllText(Path.Combine(bin, "pip"), "#!/bin/sh\nexit 0\n");
        File.WriteAllText(Path.Combine(bin, "uv"), $$"""
            #!/bin/sh
            echo "$*" >> '{{calls}}'
            for arg in "$@"; do
              for b in $BAD; do [ "$arg" = "$b" ] && { echo "error: cannot install $b"; exit 1; }; done
            done
            exit 0
            """.Replace("\r", ""));
        foreach (var tool in new[] { "pip", "uv" }) File.SetUnixFileMode(Path.Combine(bin, tool), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var work = Directory.CreateDirectory(_dir.File("work")).FullName;
        if (requirements is not null) File.WriteAllText(Path.Combine(work, "requirements.frozen.txt"), requirements);
        File.WriteAllText(Path.Combine(work, WandbDockerfile.BootstrapFileName), WandbDockerfile.BootstrapScript);
        var info = new ProcessStartInfo("python3") { WorkingDirectory = work, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(WandbDockerfile.BootstrapFileName);
        info.Environment["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH");
        info.Environment["BAD"] = bad;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(30_000), "the bootstrap did not end in 30 s");
        return (process.ExitCode, stdout.Result, stderr, File.Exists(calls) ? File.ReadAllLines(calls) : []);
    }

    [Fact]
    public void Installs_every_frozen_requirement_in_one_uv_call_without_resolving_dependencies()
    {
        var (exit, _, stderr, calls) = Run("numpy==1.26.4\n\nwandb==0.17.0\n# a comment\npandas == 2.2.0\n", bad: "");

        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        Assert.Equal(["pip install --no-deps numpy==1.26.4 wandb==0.17.0 pandas==2.2.0"], calls);
        Assert.Equal("""{"pip": []}""", File.ReadAllText(_dir.File("work/_wandb_bootstrap_errors.json")));
    }

    [Fact]
    public void Finds_the_requirements_that_will_not_install_installs_the_rest_and_names_them_in_W_and_B_s_words()
    {
        var (exit, _, stderr, calls) = Run("a==1\nb==2\nbroken==3\nc==4\nd==5\nworse==6\ne==7\n", bad: "broken==3 worse==6");

        Assert.Equal(0, exit);
        Assert.Equal("ERROR: Failed to install: broken==3,worse==6. During automated build process.", stderr);
        Assert.Equal("broken==3,worse==6", FailedPackages.In(stderr));
        var errors = JsonNode.Parse(File.ReadAllText(_dir.File("work/_wandb_bootstrap_errors.json")))!;
        Assert.Equal(["broken==3", "worse==6"], errors["pip"]!.AsArray().Select(p => p!.GetValue<string>()));
        // Every good requirement was installed by some successful call.
        var good = new[] { "a==1", "b==2", "c==4", "d==5", "e==7" };
        var succeeded = calls.Where(c => !c.Contains("broken==3") && !c.Contains("worse==6")).SelectMany(c => c.Split(' ')).ToHashSet();
        Assert.All(good, g => Assert.Contains(g, succeeded));
    }

    [Fact]
    public void Installs_CUDA_builds_of_torch_last_from_PyTorch_s_index_for_their_variant()
    {
        var (exit, _, _, calls) = Run("numpy==1.26.4\ntorch==2.1.0+cu118\ntorchvision==0.16.0+cu118\n", bad: "");

        Assert.Equal(0, exit);
        Assert.Equal([
            "pip install --no-deps numpy==1.26.4",
            "pip install torch==2.1.0+cu118 torchvision==0.16.0+cu118 --extra-index-url https://download.pytorch.org/whl/cu118",
        ], calls);
    }

    [Fact]
    public void Does_nothing_without_requirements_frozen_txt()
    {
        var (exit, stdout, _, calls) = Run(null, bad: "");

        Assert.Equal(0, exit);
        Assert.Contains("No frozen requirements found", stdout);
        Assert.Empty(calls);
    }
}
