using System.Diagnostics;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Runners.Kubernetes;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.KubeTests;

/// <summary>
/// The scripts of a base-image job's pod: the init container's fetch script and the dependency install wrapper are
/// W&amp;B's to the byte (golden/wandb-code-mount-scripts.json holds what W&amp;B's own functions print for the same
/// values), and hostile values reach git and Python as the one word or string they were.
/// </summary>
public sealed class CodeMountScriptTests
{
    private static JsonObject Scripts() =>
        (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", "wandb-code-mount-scripts.json")))!;

    public static TheoryData<int> FetchCases => new(Enumerable.Range(0, ((JsonArray)Scripts()["fetch_scripts"]!).Count));

    public static TheoryData<int> WrapCases => new(Enumerable.Range(0, ((JsonArray)Scripts()["dependency_install"]!).Count));

    private static MountedCode CodeOf(JsonObject c, bool storeReachable = true) => new()
    {
        HostDirectory = "/unused",
        Source = c["source"]!.GetValue<string>() == "repo" ? MountedCodeSource.Repo : MountedCodeSource.Artifact,
        GitRemote = c["git_remote"]?.GetValue<string>(),
        GitCommit = c["git_commit"]?.GetValue<string>(),
        CodeArtifact = c["code_artifact"]?.GetValue<string>(),
        JobArtifact = c["job_artifact"]!.GetValue<string>(),
        ImageSourceString = "job-x:latest:vv0",
        InstallDependencies = c["install_dependencies"]!.GetValue<bool>(),
        StoreReachableFromJobs = storeReachable,
    };

    [Theory]
    [MemberData(nameof(FetchCases))]
    public void The_fetch_script_is_W_and_B_s_for_the_same_values(int index)
    {
        var c = (JsonObject)Scripts()["fetch_scripts"]![index]!;
        Assert.Equal(c["script"]!.GetValue<string>(), PodCode.FetchScript(CodeOf(c)));
    }

    [Theory]
    [MemberData(nameof(WrapCases))]
    public void The_dependency_install_wrapper_is_W_and_B_s(int index)
    {
        var c = (JsonObject)Scripts()["dependency_install"]![index]!;
        var container = new JsonObject { ["command"] = c["command"]!.DeepClone(), ["args"] = c["args"]!.DeepClone() };
        PodCode.WrapWithDependencyInstall(container, c["working_dir"]!.GetValue<string>(), PodCode.FrozenRequirementsPath);
        // W&B leaves a container with neither command nor args as it was (here: the same two lists).
        Assert.Equal(c["result"]!.ToJsonString(), container.ToJsonString());
    }

    [Fact]
    public void With_the_local_store_a_repo_job_s_pod_does_not_try_to_download_the_job_artifact()
    {
        var code = CodeOf(new JsonObject
        {
            ["source"] = "repo", ["git_remote"] = "https://github.com/acme/train.git", ["git_commit"] = "0123abc", ["job_artifact"] = "ent/proj/job-x:v0", ["install_dependencies"] = true,
        }, storeReachable: false);
        var script = PodCode.FetchScript(code);
        Assert.DoesNotContain("python", script);
        Assert.StartsWith("git clone https://github.com/acme/train.git /mnt/wandb && ", script);
        Assert.True(PodCode.SkipsFrozenRequirements(code, claim: null));
        Assert.False(PodCode.SkipsFrozenRequirements(code, new CodeClaim("c", "/srv/c")));
        Assert.False(PodCode.SkipsFrozenRequirements(code with { StoreReachableFromJobs = true }, claim: null));
    }

    public static TheoryData<string> HostileWords => new()
    {
        "", "plain", "x'; rm -rf / #", "$(id)", "`id`", "${HOME}", "a\nb", "-n", "'", "''", "\"", "\\", "é ü", "; echo pwned", "*", "a b\tc", "$'x'", "\u2028",
    };

    [Theory]
    [MemberData(nameof(HostileWords))]
    public void A_quoted_word_reaches_the_program_as_exactly_that_word(string word)
    {
        Assert.Equal([word], RunShell($"record {PosixShell.Quote(word)}"));
    }

    [Fact]
    public void A_NUL_is_refused_as_it_could_never_reach_a_program()
    {
        Assert.Throws<ArgumentException>(() => PosixShell.Quote("a\0b"));
    }

    [Fact]
    public void Hostile_remotes_commits_and_artifact_names_reach_git_and_python_intact()
    {
        const string remote = "https://example.com/x.git'; touch /tmp/pwned; echo '$(id)`id`\n";
        const string commit = "main'; id; '$(id)";
        var repo = CodeOf(new JsonObject { ["source"] = "repo", ["git_remote"] = remote, ["git_commit"] = commit, ["job_artifact"] = "ent/proj/job-x:v0", ["install_dependencies"] = false });
        var calls = RunShell(PodCode.FetchScript(repo));
        Assert.Equal(["git", "clone", remote, "/mnt/wandb", "git", "config", "--global", "--add", "safe.directory", "/mnt/wandb", "cd", "/mnt/wandb", "git", "checkout", commit, "chmod", "-R", "a+w", "/mnt/wandb/*", "chmod", "-R", "a+w", "/mnt/wandb/.*"],
            calls); // the globs match nothing here, so sh passes them as written

        const string artifact = "ent/proj/x'); import os; os.system('id') #\"\n:v1";
        var code = CodeOf(new JsonObject { ["source"] = "artifact", ["code_artifact"] = artifact, ["job_artifact"] = "ent/proj/job-x:v0", ["install_dependencies"] = false });
        var python = RunShell(PodCode.FetchScript(code));
        Assert.Equal("python", python[0]);
        Assert.Equal("-c", python[1]);
        Assert.Equal("import wandb; wandb.Api().artifact('ent/proj/x\\'); import os; os.system(\\'id\\') #\"\\n:v1').download('/mnt/wandb')", python[2]);
    }

    [Theory]
    [InlineData("--upload-pack=touch /tmp/pwned", "0123abc")]
    [InlineData("https://github.com/acme/x.git", "--orphan=x")]
    [InlineData("https://github.com/acme/x.git", "")]
    [InlineData("https://github.com/acme/x.git\0", "0123abc")]
    public void A_remote_or_commit_git_would_take_as_an_option_is_refused_before_any_pod_exists(string remote, string commit)
    {
        var code = CodeOf(new JsonObject { ["source"] = "repo", ["git_remote"] = remote, ["git_commit"] = commit, ["job_artifact"] = "ent/proj/job-x:v0", ["install_dependencies"] = false });
        var e = Assert.Throws<Jobs.JobFailedException>(() => PodCode.CheckFetchable(code, claim: null));
        Assert.Equal(Jobs.FailureStage.Agent, e.Stage);
    }

    [Theory]
    [InlineData("plain", "'plain'")]
    [InlineData("it's", "\"it's\"")]
    [InlineData("both ' and \"", "'both \\' and \"'")]
    [InlineData("back\\slash", "'back\\\\slash'")]
    [InlineData("new\nline\ttab\r", "'new\\nline\\ttab\\r'")]
    [InlineData("\u0001\u007f\u0085", "'\\x01\\x7f\\x85'")]
    [InlineData("é ü 日本", "'é ü 日本'")]
    [InlineData("\u2028\u00a0\u200b", "'\\u2028\\xa0\\u200b'")]
    [InlineData("\U0001F600", "'\U0001F600'")]
    [InlineData("\U000E0001", "'\\U000e0001'")]
    public void Python_literals_are_Python_s_repr(string value, string repr)
    {
        Assert.Equal(repr, PythonLiteral.Repr(value));
    }

    [Fact]
    public void A_lone_surrogate_is_escaped_as_Python_escapes_it()
    {
        // Not as theory data: xunit's serialization would turn it into U+FFFD.
        Assert.Equal("'a\\udc80b'", PythonLiteral.Repr("a\udc80b"));
    }

    /// <summary>
    /// Runs <paramref name="script"/> with the real /bin/sh, with git, python, chmod, cd and record defined as shell
    /// functions that record their arguments instead: what each program would have been given, word by word.
    /// </summary>
    private static List<string> RunShell(string script)
    {
        using var dir = new TempDirectory();
        var record = dir.File("calls");
        var functions = string.Concat(new[] { "git", "python", "chmod", "cd" }.Select(f => $"{f}() {{ printf '%s\\0' {f} \"$@\" >> \"$CALLS\"; }}; "));
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"record() {{ printf '%s\\0' \"$@\" >> \"$CALLS\"; }}; {functions}{script}");
        start.Environment["CALLS"] = record;
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, error);
        var text = File.Exists(record) ? File.ReadAllText(record) : "";
        return text.Length == 0 ? [] : [.. text[..^1].Split('\0')];
    }
}
