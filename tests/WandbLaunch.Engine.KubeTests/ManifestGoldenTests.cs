using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Runners.Kubernetes;

namespace WandbLaunch.Engine.KubeTests;

/// <summary>
/// Real-world queue configs (golden/*.input.yaml) rendered by the kubernetes runner exactly as golden/*.yaml says,
/// without contacting anything. The golden files were reviewed by hand against W&amp;B's rules: defaults, labels,
/// image, args, env with the API key from its Secret, namespace precedence, forced security context.
/// Set UPDATE_GOLDEN=1 to rewrite them (then review the diff).
/// </summary>
public sealed class ManifestGoldenTests
{
    public static TheoryData<string> Cases => new() { "gpu-job", "volumes", "multi-container", "namespace-macros", "pytorchjob", "volcano",
        "base-image-emptydir", "base-image-pvc", "base-image-pytorchjob", "registry-pull-secret", "additional-services" };

    private static string Golden(string name) => Path.Combine(AppContext.BaseDirectory, "golden", name);

    [Theory]
    [MemberData(nameof(Cases))]
    public void RendersAsTheGoldenFileSays(string name)
    {
        using var dir = new TempDirectory();
        var input = (JsonObject)StructuredText.ParseFile(Golden(name + ".input.yaml")).Root!;
        var contextNamespace = input["context_namespace"]?.GetValue<string>();
        var environment = (input["environment"] as JsonObject)?.ToDictionary(p => p.Key, p => p.Value!.GetValue<string>()) ?? [];
        environment["KUBECONFIG"] = Contexts.Kubeconfig(dir, contextNamespace);
        using var log = new JobLog(dir.File("job.log"), []);
        var registry = input["registry"] is JsonObject block
            ? new Config.RegistrySettings { Type = block["type"]?.GetValue<string>(), Uri = block["uri"]?.GetValue<string>() }
            : null;
        var context = Contexts.For((JsonObject)input["spec"]!, log, dir.Path, environment: environment,
            code: Code(input["code"] as JsonObject, dir.Path, input["spec"]!["overrides"]?["working_dir"]?.GetValue<string>()), registry: registry);
        var runner = new KubernetesRunner(n => environment.TryGetValue(n, out var v) ? v : null);

        var rendered = runner.Render(context);

        Assert.DoesNotContain(Contexts.ApiKey, rendered.Text);
        var expectedPath = Golden(name + ".yaml");
        if (Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1")
        {
            var source = Path.Combine(SourceDirectory(), "golden", name + ".yaml");
            File.WriteAllText(source, rendered.Text);
            return;
        }
        Assert.Equal(File.ReadAllText(expectedPath), rendered.Text);
    }

    [Fact]
    public void SummaryNamesKindNamespaceAndName()
    {
        using var dir = new TempDirectory();
        var input = (JsonObject)StructuredText.ParseFile(Golden("pytorchjob.input.yaml")).Root!;
        var env = new Dictionary<string, string> { ["KUBECONFIG"] = Contexts.Kubeconfig(dir, "kubeflow-jobs") };
        using var log = new JobLog(dir.File("job.log"), []);
        var rendered = new KubernetesRunner(n => env.GetValueOrDefault(n)).Render(Contexts.For((JsonObject)input["spec"]!, log, dir.Path));
        Assert.Equal("PyTorchJob kubeflow-jobs/ddp-ddp0run5 (kubeflow.org/v1)", rendered.Summary);
    }

    [Fact]
    public void WithoutAnyKubeconfigTheNamespaceIsDefault()
    {
        using var dir = new TempDirectory();
        var env = new Dictionary<string, string> { ["HOME"] = dir.Path };
        using var log = new JobLog(dir.File("job.log"), []);
        var spec = JsonNode.Parse("""{"run_id": "nocfg001", "docker": {"docker_image": "busybox:1.36"}, "resource_args": {"kubernetes": {}}}""")!.AsObject();
        var rendered = new KubernetesRunner(n => env.GetValueOrDefault(n)).Render(Contexts.For(spec, log, dir.Path));
        Assert.Equal("Job default/launch-nocfg001 (batch/v1)", rendered.Summary);
    }

    /// <summary>A base-image job's mounted code, as the agent makes it from the resolved job (snake_case keys of <see cref="MountedCode"/>).</summary>
    private static MountedCode? Code(JsonObject? code, string hostDirectory, string? workingDir)
    {
        if (code is null) return null;
        string? Text(string key) => code[key]?.GetValue<string>();
        return new MountedCode
        {
            HostDirectory = hostDirectory,
            Source = Text("source") == "repo" ? MountedCodeSource.Repo : MountedCodeSource.Artifact,
            GitRemote = Text("git_remote"),
            GitCommit = Text("git_commit"),
            CodeArtifact = Text("code_artifact"),
            JobArtifact = Text("job_artifact")!,
            ImageSourceString = Text("image_source_string")!,
            InstallDependencies = code["install_dependencies"]!.GetValue<bool>(),
            StoreReachableFromJobs = code["store_reachable_from_jobs"]!.GetValue<bool>(),
            WorkingDir = workingDir,
        };
    }

    private static string SourceDirectory([System.Runtime.CompilerServices.CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}
