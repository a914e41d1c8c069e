using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using WandbLaunch.Engine.Code;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.FileSystem;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;

namespace WandbLaunch.Engine.HostileInputTests;

/// <summary>
/// Every spec value that becomes a path or a name: refused at Submit with its own error id, or, joined to a
/// directory, provably inside it. Properties run over generated strings made of the parts that break paths.
/// </summary>
public sealed class PathsAndNamesTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Strings built from path-breaking parts ('..', separators, NUL, drive letters, unicode, escapes), sometimes very long.</summary>
    internal static Gen<string> HostileStrings()
    {
        var parts = Gen.Elements("..", ".", "/", "\\", "a", "Z", "-", "_", "0", "\0", "\n", "\u001b[31m", "é", "训练", "C:", "~", "%2e%2e", " ", "::", "\uD83D\uDE00", "...");
        var built = Gen.ListOf(parts).Select(list => string.Concat(list));
        var anyString = ArbMap.Default.ArbFor<string>().Generator.Select(s => s ?? "");
        var longOne = Gen.Choose(1, 5000).Select(n => new string('a', n) + "/..");
        var longName = Gen.Choose(200, 5000).Select(n => string.Join('/', Enumerable.Repeat(new string('b', 300), n / 300 + 1)));
        return Gen.Frequency((5, built), (3, anyString), (1, longOne), (1, longName), (1, Gen.Elements("..", "../x", "/", "/etc", "../../..", ".", "", "a/../..", "a/../../b")));
    }

    [Property(MaxTest = 500)]
    public Property Any_run_id_is_refused_as_InvalidRunId_or_its_run_directory_stays_inside_the_work_directory()
    {
        var work = Directory.CreateDirectory(_dir.File("work")).FullName;
        return Prop.ForAll(HostileStrings().ToArbitrary(), runId =>
        {
            try
            {
                SpecNames.RunId(runId, "run_id");
            }
            catch (LaunchException e)
            {
                Assert.Equal("InvalidRunId", e.ErrorId);
                Assert.Equal(runId, e.Target);
                Assert.DoesNotContain('\0', e.Message);
                Assert.DoesNotContain('\n', e.Message);
                Assert.DoesNotContain('\u001b', e.Message);
                return;
            }
            var directory = CodeDirectory.RunDirectory(work, runId);
            Assert.StartsWith(work + Path.DirectorySeparatorChar, directory);
            Assert.Equal(work, Path.GetDirectoryName(directory));
        });
    }

    /// <summary>Every run id the rule accepts has a name valid as a Kubernetes object name (an RFC 1123 label), a label value and a file name.</summary>
    [Property(MaxTest = 500)]
    public Property Any_accepted_run_id_has_a_name_Kubernetes_and_file_systems_take_distinct_from_its_other_cases()
    {
        var idChars = Gen.Elements("aZ09-_".ToCharArray().Concat("bcXY".ToCharArray()).ToArray());
        var ids = Gen.Choose(1, 64).SelectMany(n => Gen.ArrayOf(idChars, n)).Select(c => new string(c));
        return Prop.ForAll(Gen.Frequency((4, ids), (1, HostileStrings())).ToArbitrary(), runId =>
        {
            try
            {
                SpecNames.RunId(runId, "run_id");
            }
            catch (LaunchException)
            {
                return;
            }
            var name = Identifiers.RunNames.Of(runId);
            Assert.Matches("^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$", name);
            if (runId != runId.ToLowerInvariant()) Assert.NotEqual(Identifiers.RunNames.Of(runId.ToLowerInvariant()), name);
        });
    }

    [Theory]
    [InlineData("a1b2c3d4")]
    [InlineData("my-resumed-run-2")]
    [InlineData("abcdefghijabcdefghijabcdefghij12")]
    public void A_run_id_WandB_makes_is_its_own_name(string runId) => Assert.Equal(runId, Identifiers.RunNames.Of(runId));

    [Property(MaxTest = 500)]
    public Property Any_value_joined_with_ContainedPath_is_refused_as_PathOutsideDirectory_or_stays_inside_root()
    {
        var root = Directory.CreateDirectory(_dir.File("root")).FullName;
        return Prop.ForAll(HostileStrings().ToArbitrary(), relative =>
        {
            string joined;
            try
            {
                joined = ContainedPath.Join(root, relative, "value");
            }
            catch (LaunchException e)
            {
                Assert.Equal("PathOutsideDirectory", e.ErrorId);
                return;
            }
            Assert.StartsWith(root + Path.DirectorySeparatorChar, joined);
            Assert.DoesNotContain("..", joined.Split(Path.DirectorySeparatorChar));
        });
    }

    [Property(MaxTest = 300)]
    public Property Any_relative_path_the_spec_rules_accept_stays_inside_the_code_even_through_links_on_disk()
    {
        var code = Directory.CreateDirectory(_dir.File("code")).FullName;
        var outside = Directory.CreateDirectory(_dir.File("outside")).FullName;
        if (new FileInfo(Path.Join(code, "a")).LinkTarget is null) File.CreateSymbolicLink(Path.Join(code, "a"), outside);
        return Prop.ForAll(HostileStrings().ToArbitrary(), relative =>
        {
            try
            {
                SpecNames.RelativePath(relative, "overrides.working_dir", "InvalidWorkingDir");
            }
            catch (LaunchException e)
            {
                Assert.Equal("InvalidWorkingDir", e.ErrorId);
                return;
            }
            string joined;
            try
            {
                joined = ContainedPath.Join(code, relative, "overrides.working_dir", allowRoot: true);
            }
            catch (LaunchException e)
            {
                // Only the planted link may lead out (or a name the file system cannot hold is refused, unchecked).
                Assert.Equal("PathOutsideDirectory", e.ErrorId);
                if (!e.Message.Contains("cannot be resolved on disk", StringComparison.Ordinal))
                {
                    Assert.StartsWith(outside, ContainedPath.Resolve(Path.GetFullPath(Path.Join(code, relative))));
                }
                return;
            }
            Assert.True(ContainedPath.IsInside(ContainedPath.Resolve(code), ContainedPath.Resolve(joined)), $"{joined} resolves outside {code}");
        });
    }

    [Theory]
    [InlineData("a")]
    [InlineData("a/b")]
    [InlineData("a/../../..")]
    public void A_symbolic_link_out_of_the_root_is_refused_however_it_is_reached(string through)
    {
        var root = Directory.CreateDirectory(_dir.File("root")).FullName;
        var outside = Directory.CreateDirectory(_dir.File("outside")).FullName;
        File.CreateSymbolicLink(Path.Join(root, "a"), outside);
        var e = Assert.ThrowsAny<LaunchException>(() => ContainedPath.Join(root, through, "run id"));
        Assert.Equal("PathOutsideDirectory", e.ErrorId);
        Assert.Contains(through, e.Message);
    }

    [Fact]
    public void A_link_loop_on_a_path_is_refused_as_SymbolicLinkLoop_at_once()
    {
        var root = Directory.CreateDirectory(_dir.File("root")).FullName;
        File.CreateSymbolicLink(Path.Join(root, "x"), "y");
        File.CreateSymbolicLink(Path.Join(root, "y"), "x");
        var e = Assert.ThrowsAny<LaunchException>(() => ContainedPath.Resolve(Path.Join(root, "x", "file")));
        Assert.Equal("SymbolicLinkLoop", e.ErrorId);
    }

    public static TheoryData<string, string, string> HostileSpecValues => new()
    {
        { "run_id", "..", "InvalidRunId" },
        { "run_id", "../x", "InvalidRunId" },
        { "run_id", "/tmp", "InvalidRunId" },
        { "run_id", "a.b", "InvalidRunId" },
        { "run_id", "a b", "InvalidRunId" },
        { "run_id", "a\\b", "InvalidRunId" },
        { "run_id", "_abc", "InvalidRunId" },
        { "run_id", "a\u001b[2Jb", "InvalidRunId" }, // NUL anywhere is ValueContainsNul first (ValuesTests)
        { "run_id", "-abc", "InvalidRunId" },
        { "run_id", new string('a', 65), "InvalidRunId" },
        { "sweep_id", "../s", "InvalidSweepId" },
        { "entity", "../e", "InvalidEntityName" },
        { "entity", "e\nf", "InvalidEntityName" },
        { "project", "..", "InvalidProjectName" },
        { "project", "p/q", "InvalidProjectName" },
        { "project", new string('p', 129), "InvalidProjectName" },
        { "name", "run\u001b[2Jname", "InvalidRunName" },
        { "name", new string('n', 129), "InvalidRunName" },
        { "job", "e/p/../../x", "InvalidJobName" },
        { "job", "e/p/j:../x", "InvalidJobName" },
        { "job", "e/../j", "InvalidJobName" },
        { "job", "e/p/.hidden", "InvalidJobName" },
        { "build_context", "../..", "InvalidBuildContext" },
        { "build_context", "/etc", "InvalidBuildContext" },
        { "overrides.working_dir", "../../..", "InvalidWorkingDir" },
        { "overrides.working_dir", "/", "InvalidWorkingDir" },
        { "overrides.working_dir", "a\\..\\..\\b", "InvalidWorkingDir" },
        { "overrides.dockerfile", "../../etc/passwd", "InvalidDockerfilePath" },
        { "overrides.dockerfile", "C:\\Windows\\x", "InvalidDockerfilePath" },
        { "git.version", "--upload-pack=touch /tmp/owned", "InvalidGitVersion" },
        { "git.version", "main\nx", "InvalidGitVersion" },
        { "author", "jane\u001b]0;owned\u0007", "InvalidAuthor" },
        { "overrides.artifacts", "../../x", "InvalidArtifactName" },
        { "overrides.artifacts", "e/../data:v1", "InvalidArtifactName" },
        { "overrides.artifacts", "data:v1/../../x", "InvalidArtifactName" },
    };

    /// <summary>A runnable local-process spec with <paramref name="value"/> at <paramref name="field"/> (a dotted path for nested keys).</summary>
    private JsonObject SpecWith(string field, string value)
    {
        var spec = TestSpecs.LocalProcess(_dir.Path, ["true"]);
        if (field == "job") spec.Remove("uri");
        return TestSpecs.Set(spec, field, field == "overrides.artifacts" ? new JsonObject { [value] = "ent/proj/other:v0" } : value);
    }

    [Theory]
    [MemberData(nameof(HostileSpecValues))]
    public async Task A_hostile_spec_value_is_refused_at_Submit_with_its_id_and_nothing_is_stored(string field, string value, string errorId)
    {
        using var backend = new SqliteLaunchBackend(_dir.File("launch.db"), "ent");
        var queue = await TestQueues.CreateAsync(backend, "ent", "q");
        var spec = SpecWith(field, value);

        var e = await Assert.ThrowsAnyAsync<LaunchException>(() =>
            backend.PushAsync(queue, new PushRequest { Spec = spec }, CancellationToken.None));

        Assert.Equal(errorId, e.ErrorId);
        Assert.Equal(LaunchErrorCategory.InvalidArgument, e.Category);
        // The job's shape is checked before its parts, and that check names it as JSON.
        Assert.Equal(value, field == "job" ? e.Target?.ToString()?.Trim('"') : e.Target);
        Assert.Contains(field, e.Message);
        Assert.DoesNotContain('\0', e.Message);
        Assert.DoesNotContain('\u001b', e.Message);
        Assert.Empty(await backend.GetJobsAsync(new JobQuery(), CancellationToken.None));
    }

    [Theory]
    [InlineData("run_id", "a1b2c3d4")]
    [InlineData("run_id", "my-resumed-run-2")]
    [InlineData("run_id", "Baseline_LR_0-1")]
    [InlineData("sweep_id", "sw33pid0")]
    [InlineData("entity", "ml_team.eu-1")]
    [InlineData("project", "My Project (v2) é")]
    [InlineData("name", "lr=0.1 / batch 64 🚀")]
    [InlineData("job", "ml-team/proj/job-train_v2.py:latest")]
    [InlineData("overrides.working_dir", "src/./train")]
    [InlineData("build_context", "docker/ctx")]
    [InlineData("git.version", "release/v1.2")]
    [InlineData("author", "Jane Doe (ML)")]
    [InlineData("overrides.artifacts", "ent/proj/dataset:v3")]
    [InlineData("overrides.artifacts", "tokenizer:latest")]
    public async Task Ordinary_values_are_still_accepted(string field, string value)
    {
        using var backend = new SqliteLaunchBackend(_dir.File("launch.db"), "ent");
        await TestQueues.CreateAsync(backend, "ent", "q");
        var spec = SpecWith(field, value);
        var job = await backend.PushAsync(new QueueKey("ent", LaunchDefaults.Project, "q"), new PushRequest { Spec = spec }, CancellationToken.None);
        Assert.Equal(LaunchJobState.Pending, job.State);
    }

    [Fact]
    public async Task A_stored_log_path_outside_the_log_directory_is_never_trusted_nor_deleted_with_its_job()
    {
        var victim = _dir.Write("victim/keep.txt", "precious");
        using var backend = new SqliteLaunchBackend(_dir.File("store/launch.db"), "ent");
        await TestQueues.CreateAsync(backend, "ent", "q");
        var job = await backend.PushAsync(new QueueKey("ent", LaunchDefaults.Project, "q"),
            new PushRequest { Spec = new JsonObject { ["uri"] = _dir.Path } }, CancellationToken.None);
        await StoreRows.UpdateAsync(_dir.File("store/launch.db"), job.Id, "state = 'Finished', log_path = $v", victim);

        var stored = (await backend.GetJobAsync(job.Id, CancellationToken.None))!;
        Assert.Equal(victim, stored.LogPath);
        Assert.Null(JobLogPath.Trusted(stored, backend.LogDirectory));
        Assert.StartsWith(backend.LogDirectory, JobLogPath.Of(stored, backend.LogDirectory));

        await backend.RemoveJobAsync(job.Id, CancellationToken.None);
        Assert.Equal("precious", File.ReadAllText(victim));
    }

    [Fact]
    public void A_job_id_that_leads_out_of_the_log_directory_gets_a_log_inside_it()
    {
        var logs = Directory.CreateDirectory(_dir.File("logs")).FullName;
        foreach (var id in new[] { "../../etc/x", "/tmp/evil", "..", "a\0b" })
        {
            var path = JobLogPath.Of(new LaunchJob { Id = id, Queue = "q", Entity = "e", Project = "p", Resource = "local-process", RunId = "r" }, logs);
            Assert.True(ContainedPath.Contains(logs, path), $"{path} for job id {id}");
        }
    }
}
