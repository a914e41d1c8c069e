using System.Text.Json.Nodes;
using WandbLaunch.Engine.Cloud.Google;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Tests.Google;

namespace WandbLaunch.Engine.GoogleTests;

/// <summary>A Vertex queue config becomes the CustomJob body W&amp;B and aiplatform would send.</summary>
public sealed class CustomJobBodyTests
{
    private static readonly DateTime Now = new(2026, 12, 6, 5, 30, 0, 250, DateTimeKind.Utc);

    internal static JsonObject TypicalQueue() =>
        (JsonObject)StructuredText.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", "typical-queue.yaml"))).Root!;

    private static JsonObject WithImage(JsonObject args, string image)
    {
        var text = args.ToJsonString().Replace("${image_uri}", image, StringComparison.Ordinal);
        return (JsonObject)JsonNode.Parse(text)!;
    }

    private static JsonObject Build(JsonObject args, IReadOnlyList<string>? command = null) =>
        VertexCustomJob.Build(WithImage(args, "us-central1-docker.pkg.dev/ml-project/launch/train:abc123"), "bright-sun-7", "run12345",
            command ?? ["python", "train.py", "--lr", "0.1"],
            [new("WANDB_PROJECT", "llm"), new("WANDB_RUN_ID", "run12345")], Now, "resource_args.gcp-vertex");

    [Fact]
    public void ATypicalQueueConfigBecomesTheGoldenCustomJob()
    {
        var body = Build(TypicalQueue());
        var golden = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", "typical-queue.customjob.json")));
        Assert.True(JsonNode.DeepEquals(golden, body), body.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        // The service takes it.
        Assert.Null(VertexSchema.Problem(body));
    }

    [Fact]
    public void WithoutBaseOutputDirTheOutputGoesUnderTheStagingBucketAsAiplatformNamesIt()
    {
        var args = TypicalQueue();
        var body = Build(args);
        Assert.Equal("gs://ml-staging/aiplatform-custom-job-2026-12-06-05:30:00.250", (string?)body["jobSpec"]!["baseOutputDirectory"]!["outputUriPrefix"]);
        args["spec"]!["base_output_dir"] = "gs://ml-out/run";
        Assert.Equal("gs://ml-out/run", (string?)Build(args)["jobSpec"]!["baseOutputDirectory"]!["outputUriPrefix"]);
    }

    [Fact]
    public void TheEntryPointReplacesEveryPoolsCommandAndTheJobEnvironmentIsAppendedToEach()
    {
        var args = TypicalQueue();
        var pools = (JsonArray)args["spec"]!["worker_pool_specs"]!;
        pools.Add(new JsonObject
        {
            ["machine_spec"] = new JsonObject { ["machine_type"] = "n1-standard-8" },
            ["replica_count"] = 2,
            ["container_spec"] = new JsonObject { ["image_uri"] = "${image_uri}", ["command"] = new JsonArray("ignored") },
        });
        var body = Build(args);
        var built = (JsonArray)body["jobSpec"]!["workerPoolSpecs"]!;
        Assert.Equal(2, built.Count);
        foreach (var pool in built)
        {
            Assert.Equal(["python", "train.py", "--lr", "0.1"], ((JsonArray)pool!["containerSpec"]!["command"]!).Select(c => (string)c!));
            Assert.Contains(((JsonArray)pool["containerSpec"]!["env"]!), e => (string?)e!["name"] == "WANDB_RUN_ID");
        }
        Assert.Equal("2", (string?)built[1]!["replicaCount"]);
        // No entry point and no args: W&B sets an empty command (the image's own entry point runs).
        var none = Build(TypicalQueue(), command: []);
        Assert.Empty((JsonArray)none["jobSpec"]!["workerPoolSpecs"]![0]!["containerSpec"]!["command"]!);
    }

    [Fact]
    public void SchedulingAndOptionalRunArgumentsAppearOnlyWhenSet()
    {
        var args = TypicalQueue();
        args["run"] = new JsonObject { ["enable_web_access"] = false };
        var body = Build(args);
        var jobSpec = (JsonObject)body["jobSpec"]!;
        Assert.False(jobSpec.ContainsKey("scheduling"));
        Assert.False(jobSpec.ContainsKey("enableWebAccess"));
        Assert.False(jobSpec.ContainsKey("serviceAccount"));
        args["run"] = new JsonObject { ["restart_job_on_worker_restart"] = true, ["enable_web_access"] = true, ["experiment"] = "exp", ["experiment_run"] = "exp-1" };
        jobSpec = (JsonObject)Build(args)["jobSpec"]!;
        Assert.True(JsonNode.DeepEquals(new JsonObject { ["restartJobOnWorkerRestart"] = true }, jobSpec["scheduling"]));
        Assert.True((bool)jobSpec["enableWebAccess"]!);
        Assert.Equal("exp-1", (string?)jobSpec["experimentRun"]);
    }

    public static TheoryData<string, string, string> Refusals => new()
    {
        // (what to change, as "path=json" with '-' for removal, the error's path, a word of the message)
        { "spec.worker_pool_specs=-", "spec.worker_pool_specs", "required" },
        { "spec.worker_pool_specs=[]", "spec.worker_pool_specs", "at least one" },
        { "spec.staging_bucket=-", "spec.staging_bucket", "required" },
        { "spec.staging_bucket=\"ml-staging\"", "spec.staging_bucket", "gs://" },
        { "pool.container_spec=-", "worker_pool_specs[0].container_spec", "required" },
        { "pool.container_spec={}", "worker_pool_specs[0].container_spec", "required" },
        { "pool.python_package_spec={}", "worker_pool_specs[0].python_package_spec", "use container_spec" },
        { "pool.machine_spec.accelerator_type=\"NVIDIA_TESLA_X1\"", "machine_spec.accelerator_type", "NVIDIA_TESLA_T4" },
        { "pool.machine_spec.gpu=1", "machine_spec.gpu", "not a field" },
        { "pool.replica_count=\"two\"", "worker_pool_specs[0].replica_count", "whole number" },
        { "pool.container_spec.image_uri=-", "container_spec.image_uri", "${image_uri}" },
        { "pool.container_spec.env=[{\"value\":\"x\"}]", "env[0].name", "required" },
        { "run.timeout=\"1h\"", "run.timeout", "seconds" },
        { "run.enable_web_access=\"yes\"", "run.enable_web_access", "true or false" },
        { "spec.labels={\"Team\":\"ml\"}", "spec.labels.Team", "label key" },
    };

    public static TheoryData<string, string, string> Drops => new()
    {
        // (what to change, the dropped key's path, a word of the warning)
        { "spec.display_name=\"x\"", "resource_args.gcp-vertex.spec.display_name", "worker_pool_specs, staging_bucket" },
        { "spec.workerPoolSpecs=[]", "resource_args.gcp-vertex.spec.workerPoolSpecs", "snake_case: worker_pool_specs" },
        { "run.region=\"us-east1\"", "resource_args.gcp-vertex.run.region", "service_account" },
        { "run.serviceAccount=\"sa@x\"", "resource_args.gcp-vertex.run.serviceAccount", "snake_case: service_account" },
        { "top.resources={}", "resource_args.gcp-vertex.resources", "spec, run" },
    };

    // runner/vertex_runner.py: only spec.get(<name>) and run.get(<name>) of the arguments it names reach aiplatform;
    // any other key of the configuration, of spec or of run is dropped without a word. Ours drops it with a warning.
    [Theory]
    [MemberData(nameof(Drops))]
    public void AKeyWandbsRunnerDoesNotReadIsDroppedWithAWarningNamingItsPath(string change, string path, string word)
    {
        var changed = Changed(change);
        var warning = Assert.Single(VertexCustomJob.Check(changed, "resource_args.gcp-vertex"));
        Assert.StartsWith(path + " is not read by W&B's Vertex runner and is dropped", warning);
        Assert.Contains(word, warning);

        var dropped = new List<string>();
        var body = VertexCustomJob.Build(WithImage(changed, "img:1"), "n", "run12345", ["python"], [], Now, "resource_args.gcp-vertex", dropped);
        Assert.Equal([warning], dropped);
        Assert.True(JsonNode.DeepEquals(VertexCustomJob.Build(WithImage(TypicalQueue(), "img:1"), "n", "run12345", ["python"], [], Now, "resource_args.gcp-vertex"), body),
            "the dropped key changed the CustomJob");
        Assert.Empty(VertexCustomJob.Check(TypicalQueue(), "resource_args.gcp-vertex"));
    }

    /// <summary>Applies "path=json" to the typical config: spec./run./top. are the sections, pool. the first worker pool.</summary>
    internal static JsonObject Changed(string change)
    {
        var args = TypicalQueue();
        var (path, json) = (change[..change.IndexOf('=')], change[(change.IndexOf('=') + 1)..]);
        var segments = path.Split('.');
        JsonObject target = segments[0] switch
        {
            "pool" => (JsonObject)args["spec"]!["worker_pool_specs"]![0]!,
            "top" => args,
            _ => (JsonObject)args[segments[0]]!,
        };
        foreach (var segment in segments[1..^1]) target = (JsonObject)target[segment]!;
        if (json == "-") target.Remove(segments[^1]);
        else target[segments[^1]] = JsonNode.Parse(json);
        return args;
    }

    [Theory]
    [MemberData(nameof(Refusals))]
    public void AConfigTheServiceWouldRejectIsRefusedWithItsPath(string change, string path, string word)
    {
        var e = Assert.Throws<LaunchException>(() => VertexCustomJob.Check(Changed(change), "resource_args.gcp-vertex"));
        Assert.Equal("InvalidVertexConfig", e.ErrorId);
        Assert.Equal(LaunchErrorCategory.InvalidArgument, e.Category);
        Assert.Contains(path, e.Message);
        Assert.Contains(word, e.Message);
    }

    [Fact]
    public void TheStandInRejectsWhatTheServiceRejects()
    {
        // Guards the stand-in: the typical body passes, and each kind of mistake is INVALID_ARGUMENT there too.
        var body = Build(TypicalQueue());
        Assert.Null(VertexSchema.Problem(body));
        var unknown = (JsonObject)body.DeepClone();
        unknown["jobSpec"]!["workerPoolSpecs"]![0]!["machineSpec"]!["gpu"] = 1;
        Assert.Contains("Unknown name \"gpu\" at 'custom_job.job_spec.worker_pool_specs[0].machine_spec'", VertexSchema.Problem(unknown));
        var badEnum = (JsonObject)body.DeepClone();
        badEnum["jobSpec"]!["workerPoolSpecs"]![0]!["machineSpec"]!["acceleratorType"] = "NVIDIA_TESLA_X1";
        Assert.Contains("AcceleratorType", VertexSchema.Problem(badEnum));
        var missing = (JsonObject)body.DeepClone();
        missing.Remove("displayName");
        Assert.Contains("custom_job.display_name; Message: Required field is not set.", VertexSchema.Problem(missing));
        var badMachine = (JsonObject)body.DeepClone();
        badMachine["jobSpec"]!["workerPoolSpecs"]![0]!["machineSpec"]!["machineType"] = "big machine";
        Assert.Contains("is not supported", VertexSchema.Problem(badMachine));
    }

    [Fact]
    public void TheAcceleratorTypesAreTheServicesEnum()
    {
        var service = VertexSchema.Enum("AcceleratorType").Where(t => t != "ACCELERATOR_TYPE_UNSPECIFIED");
        Assert.Equal(service.Order(), VertexCustomJob.AcceleratorTypes.Order());
    }
}
