using System.Text.Json.Nodes;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Cloud.Aws;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Runners;
using WandbLaunch.Engine.Runners.SageMaker;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Engine.AwsTests;

/// <summary>The CreateTrainingJob request W&amp;B's runner would send, and the queue configs Submit refuses before anything is queued.</summary>
public sealed class SageMakerRequestTests
{
    private const string RunId = "k3x9q2ab";

    private static JobContext Context(string resourceArgsJson, string specJson = "{}", string? image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/launch:train-1",
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var spec = (JsonObject)JsonNode.Parse(specJson)!;
        spec["run_id"] = RunId;
        spec["entity"] ??= "ml-team";
        spec["project"] ??= "llm";
        spec["docker"] = new JsonObject { ["docker_image"] = image };
        spec["resource_args"] = new JsonObject { ["sagemaker"] = JsonNode.Parse(resourceArgsJson) };
        var env = new Dictionary<string, string> { [JobEnvironment.ApiKeyVariable] = AwsHarness.ApiKey, ["WANDB_BASE_URL"] = "https://api.wandb.ai" };
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) env[k] = v;
        var job = new LaunchJob
        {
            Id = "item-0123456789ab",
            Queue = "sagemaker-queue",
            Entity = "ml-team",
            Project = "model-registry",
            Resource = LaunchResource.SageMaker,
            State = LaunchJobState.Starting,
            Attempts = 1,
            RunId = RunId,
            AgentId = "agent-golden000001",
            LaunchSpec = LaunchSpec.Parse(spec),
        };
        var options = new AgentOptions { Config = new LaunchAgentConfig(), Name = "golden", Environment = TestAgents.EnvironmentOf(env), WorkDirectory = Path.GetTempPath() };
        return JobContextFactory.Create(job, options, JobLog.Discard());
    }

    private static readonly SageMakerRequest.Account Account = new("123456789012", "aws");

    [Fact]
    public void ATypicalW_BQueueConfigBecomesTheRequestW_BSends()
    {
        var context = Context(AwsHarness.QueueConfig.Replace("\"Tags\"", "\"Environment\": {\"EXTRA\": \"1\", \"WANDB_PROJECT\": \"from-queue\"}, \"vpc_config\": {\"SecurityGroupIds\": [\"sg-0123\"], \"Subnets\": [\"subnet-0123\"]}, \"HyperParameters\": null, \"Tags\""),
            """{"overrides": {"entry_point": ["python", "train.py"], "args": ["--epochs", "3"], "run_config": {"lr": 0.01}}}""");
        var request = SageMakerRequest.Build(context, Account);
        var shown = SageMakerRequest.Show(request, context.Secrets);
        var golden = Path.Combine(AppContext.BaseDirectory, "golden", "typical-queue.request.json");
        if (Environment.GetEnvironmentVariable("AWS_TESTS_WRITE_GOLDEN") is { Length: > 0 } dir) File.WriteAllText(Path.Combine(dir, "typical-queue.request.json"), shown);
        Assert.Equal(File.ReadAllText(golden), shown);
        // The request itself carries the key (W&B sends it in Environment); only the preview hides it.
        Assert.Equal(AwsHarness.ApiKey, request["Environment"]!["WANDB_API_KEY"]!.GetValue<string>());
        Assert.DoesNotContain(AwsHarness.ApiKey, shown);
    }

    [Fact]
    public void LongValuesAreSplitIntoPartsSageMakerAccepts()
    {
        var config = new JsonObject();
        for (var i = 0; i < 40; i++) config[$"key{i}"] = new string('x', 20);
        var context = Context(AwsHarness.QueueConfig, new JsonObject { ["overrides"] = new JsonObject { ["run_config"] = config } }.ToJsonString());
        var environment = (JsonObject)SageMakerRequest.Build(context, Account)["Environment"]!;
        Assert.Null(environment["WANDB_CONFIG"]);
        Assert.All(environment, p => Assert.True(p.Value!.GetValue<string>().Length <= 512, p.Key));
        var joined = string.Concat(Enumerable.Range(0, 10).Select(i => environment[$"WANDB_CONFIG_{i}"]?.GetValue<string>() ?? ""));
        Assert.Equal(config.ToJsonString(), joined);
    }

    [Fact]
    public void ARunConfigTooLargeForSageMakersHundredVariablesFailsSayingSo()
    {
        var config = new JsonObject { ["weights"] = new string('w', 100 * 512) };
        var context = Context(AwsHarness.QueueConfig, new JsonObject { ["overrides"] = new JsonObject { ["run_config"] = config } }.ToJsonString());
        var e = Assert.Throws<JobFailedException>(() => SageMakerRequest.Build(context, Account));
        Assert.Equal(FailureStage.Run, e.Stage);
        Assert.Contains("SageMaker takes at most 100", e.Message);
    }

    [Fact]
    public void AnArnInTheCallersPartitionIsKeptAndAUserTrainingImageIsUsedAsGiven()
    {
        var context = Context(AwsHarness.QueueConfig
            .Replace("\"SageMakerExecutionRole\"", "\"arn:aws-cn:iam::210987654321:role/Trainer\"")
            .Replace("\"Tags\"", "\"algorithm_specification\": {\"TrainingImage\": \"763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1\", \"TrainingInputMode\": \"Pipe\"}, \"Tags\""));
        var request = SageMakerRequest.Build(context, new SageMakerRequest.Account("123456789012", "aws-cn"));
        Assert.Equal("arn:aws-cn:iam::210987654321:role/Trainer", request["RoleArn"]!.GetValue<string>());
        Assert.Equal("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1", request["AlgorithmSpecification"]!["TrainingImage"]!.GetValue<string>());
        Assert.Equal("Pipe", request["AlgorithmSpecification"]!["TrainingInputMode"]!.GetValue<string>());
        // An ARN of another partition is taken for a role name, as W&B does.
        var other = SageMakerRequest.Build(Context(AwsHarness.QueueConfig.Replace("\"SageMakerExecutionRole\"", "\"arn:aws:iam::210987654321:role/Trainer\"")), new SageMakerRequest.Account("123456789012", "aws-cn"));
        Assert.Equal("arn:aws-cn:iam::123456789012:role/arn:aws:iam::210987654321:role/Trainer", other["RoleArn"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("\"nightly-${run_id}\"", "nightly-" + RunId)]
    [InlineData("\"\"", RunId)]
    [InlineData("null", RunId)]
    public void TheTrainingJobIsNamedAsGivenWithMacrosElseByTheRunId(string given, string expected)
    {
        var request = SageMakerRequest.Build(Context(AwsHarness.QueueConfig.Replace("\"RoleArn\"", $"\"TrainingJobName\": {given}, \"RoleArn\"")), Account);
        Assert.Equal(expected, request["TrainingJobName"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("role_arn", "Trainer", "RoleArn")]
    [InlineData("stopping_condition", "{}", "StoppingCondition")]
    [InlineData("vpc_config", "{}", "VpcConfig")]
    [InlineData("enable_managed_spot_training", "true", "EnableManagedSpotTraining")]
    [InlineData("s3_thing__x", "1", "S3Thing_X")]
    [InlineData("TrainingJobName", "x", "TrainingJobName")]
    public void TopLevelKeysAreCamelCasedAsW_BDoes(string key, string _, string expected) => Assert.Equal(expected, SageMakerTrainingJobs.ToCamelCase(key));

    public static TheoryData<string, string, string> Refusals => new()
    {
        { "\"RoleArn\": \"SageMakerExecutionRole\",", "", "MissingSageMakerRoleArn" },
        { "\"OutputDataConfig\"", "\"output_data_config\"", "MissingSageMakerOutputDataConfig" },
        { "\"resource_config\"", "\"resource_configuration\"", "UnknownSageMakerMember" },
        { "\"StoppingCondition\": {\"MaxRuntimeInSeconds\": 3600},", "", "MissingSageMakerStoppingCondition" },
        { "\"RoleArn\"", "\"TrainingJobName\": \"nightly_train\", \"RoleArn\"", "InvalidTrainingJobName" },
        { "\"RoleArn\"", "\"TrainingJobName\": \"" + new string('a', 64) + "\", \"RoleArn\"", "InvalidTrainingJobName" },
        { "\"RoleArn\"", "\"InstanceType\": \"ml.m5.xlarge\", \"RoleArn\"", "UnknownSageMakerMember" },
        { "\"SageMakerExecutionRole\"", "42", "MissingSageMakerRoleArn" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task SubmitRefusesAConfigSageMakerWouldRefuseBeforeAnythingIsQueued(string find, string replace, string errorId)
    {
        await using var h = new AwsHarness();
        await h.QueueAsync(config: AwsHarness.QueueConfig.Replace(find, replace));
        var e = await Assert.ThrowsAsync<LaunchException>(() => h.SubmitAsync());
        Assert.Equal(errorId, e.ErrorId);
        Assert.Contains("resource_args.sagemaker", e.Message);
        Assert.Empty(await h.Backend.GetJobsAsync(new JobQuery(), CancellationToken.None));
    }

    [Fact]
    public async Task SubmitAcceptsSnakeCaseAndMacrosAndASpecThatCompletesTheQueue()
    {
        await using var h = new AwsHarness();
        await h.QueueAsync(config: """{"role_arn": "Trainer", "OutputDataConfig": {"S3OutputPath": "s3://b/o"}, "resource_config": {"InstanceCount": 1}, "TrainingJobName": "t-${run_id}"}""");
        await h.SubmitAsync(extraSpecJson: """{"resource_args": {"sagemaker": {"stopping_condition": {"MaxRuntimeInSeconds": 60}}}}""");
        Assert.Single(await h.Backend.GetJobsAsync(new JobQuery(), CancellationToken.None));
    }

    [Fact]
    public async Task APreviewShowsTheRequestWithTheApiKeyHidden()
    {
        await using var h = new AwsHarness();
        await h.QueueAsync();
        var queue = (await h.Backend.GetQueueAsync(new QueueKey(AwsHarness.Entity, LaunchDefaults.Project, "sm"), CancellationToken.None))!;
        var spec = new JsonObject { ["docker"] = new JsonObject { ["docker_image"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/launch:train-1" }, ["project"] = "llm" };
        var job = JobPreview.ForPush(queue, new PushRequest { Spec = spec });
        var preview = JobPreview.Render(job, new LaunchAgentConfig(), h.Environment);
        Assert.Equal("sagemaker", preview.Resource);
        Assert.True(preview.Summary.StartsWith($"SageMaker CreateTrainingJob {job.RunId} in us-east-1", StringComparison.Ordinal), preview.Summary + "\n" + preview.Text);
        Assert.Contains("\"WANDB_API_KEY\": \"***\"", preview.Text);
        Assert.Contains("\"RoleArn\": \"arn:aws:iam::<account>:role/SageMakerExecutionRole\"", preview.Text);
        Assert.DoesNotContain(AwsHarness.ApiKey, preview.Text);
        Assert.DoesNotContain(AwsHarness.SecretKey, preview.Text);
        Assert.Empty(h.Server.Requests); // a preview contacts nothing
    }
}
