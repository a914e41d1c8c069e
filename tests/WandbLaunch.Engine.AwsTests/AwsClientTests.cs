using System.Text.Json.Nodes;
using WandbLaunch.Engine.Cloud.Aws;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.AwsTests;

/// <summary>
/// The AWS client against the stand-in, which recomputes every SigV4 signature and validates every body against
/// botocore's models: identity, credential failures, throttling, endpoints, and secrets kept out of errors and logs.
/// </summary>
public sealed class AwsClientTests
{
    private static JsonObject TrainingJob(string name) => new()
    {
        ["TrainingJobName"] = name,
        ["RoleArn"] = "arn:aws:iam::123456789012:role/SageMakerExecutionRole",
        ["AlgorithmSpecification"] = new JsonObject { ["TrainingImage"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/launch:1", ["TrainingInputMode"] = "File" },
        ["OutputDataConfig"] = new JsonObject { ["S3OutputPath"] = "s3://ml-bucket/out" },
        ["ResourceConfig"] = new JsonObject { ["InstanceType"] = "ml.m5.xlarge", ["InstanceCount"] = 1, ["VolumeSizeInGB"] = 30 },
        ["StoppingCondition"] = new JsonObject { ["MaxRuntimeInSeconds"] = 3600 },
    };

    private static void AssertNoSecrets(string? text)
    {
        Assert.DoesNotContain(AwsHarness.SecretKey, text ?? "");
        Assert.DoesNotContain(AwsHarness.SessionToken, text ?? "");
    }

    [Fact]
    public async Task GetCallerIdentityNamesTheAccountAndThePartitionOfTheCaller()
    {
        await using var h = new AwsHarness("cn-north-1", "aws-cn");
        using var client = h.Client();
        var identity = await AwsIdentity.GetAsync(client, CancellationToken.None);
        Assert.Equal("123456789012", identity.Account);
        Assert.Equal("aws-cn", identity.Partition);
        Assert.Empty(h.Server.Rejections);
        // The session token travels, signed, with every request.
        var request = h.Server.Requests.Single();
        Assert.Equal(AwsHarness.SessionToken, request.Headers["x-amz-security-token"]);
        Assert.Contains("x-amz-security-token", request.Headers["authorization"]);
    }

    [Fact]
    public async Task AnExpiredSessionTokenIsAnErrorSayingToRenewIt()
    {
        await using var h = new AwsHarness();
        h.Server.Expire(AwsHarness.AccessKey);
        using var client = h.Client();
        var e = await Assert.ThrowsAsync<AwsException>(() => SageMakerTrainingJobs.DescribeAsync(client, "job-1", CancellationToken.None));
        Assert.Equal("AwsCredentialsExpired", e.ErrorId);
        Assert.Equal("ExpiredTokenException", e.Code);
        Assert.Contains("has expired: renew the credentials", e.Message);
        Assert.Contains(AwsHarness.AccessKey, e.Message);
        Assert.False(e.IsTransient);
        Assert.Single(h.Server.Requests); // not retried
        AssertNoSecrets(e.Message);
    }

    [Fact]
    public async Task AWrongSecretKeyOrAnUnknownKeyIdIsRejectedSayingWhatToFix()
    {
        await using var h = new AwsHarness();
        h.Env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret-key-at-all-0123456789";
        using (var client = h.Client())
        {
            var e = await Assert.ThrowsAsync<AwsException>(() => AwsIdentity.GetAsync(client, CancellationToken.None));
            Assert.Equal("AwsCredentialsRejected", e.ErrorId);
            Assert.Equal("SignatureDoesNotMatch", e.Code);
            Assert.Contains("the secret access key is wrong", e.Message);
            Assert.DoesNotContain("not-the-secret-key-at-all", e.Message);
        }
        h.Env["AWS_ACCESS_KEY_ID"] = "AKIAUNKNOWNKEY000000";
        using (var client = h.Client())
        {
            var e = await Assert.ThrowsAsync<AwsException>(() => SageMakerTrainingJobs.DescribeAsync(client, "job-1", CancellationToken.None));
            Assert.Equal("AwsCredentialsRejected", e.ErrorId);
            Assert.Equal("UnrecognizedClientException", e.Code);
            Assert.Contains("fix AWS_ACCESS_KEY_ID", e.Message);
        }
    }

    [Fact]
    public async Task ThrottlingAndServerErrorsAreRetriedWithBackOffThenReported()
    {
        await using var h = new AwsHarness();
        using var client = h.Client(new AwsRetryPolicy(4, TimeSpan.FromMilliseconds(40), TimeSpan.FromMilliseconds(200)));
        await SageMakerTrainingJobs.CreateAsync(client, TrainingJob("job-1"), CancellationToken.None);

        h.Server.Throttle("DescribeTrainingJob", 2);
        h.Server.FailWith500("DescribeTrainingJob", 1);
        var status = await SageMakerTrainingJobs.DescribeAsync(client, "job-1", CancellationToken.None);
        Assert.Equal("InProgress", status!.Status);
        Assert.Equal(4, h.Server.CallsOf("DescribeTrainingJob"));

        h.Server.Throttle("DescribeTrainingJob", 10);
        var e = await Assert.ThrowsAsync<AwsException>(() => SageMakerTrainingJobs.DescribeAsync(client, "job-1", CancellationToken.None));
        Assert.Equal("AwsThrottled", e.ErrorId);
        Assert.True(e.IsTransient);
        Assert.Equal(8, h.Server.CallsOf("DescribeTrainingJob"));
    }

    [Fact]
    public async Task RetryAfterFromTheServiceIsWaitedFor()
    {
        await using var h = new AwsHarness();
        using var client = h.Client(new AwsRetryPolicy(3, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(5)));
        h.Server.Throttle("GetCallerIdentity", 1, retryAfterSeconds: 1);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await AwsIdentity.GetAsync(client, CancellationToken.None);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(950), $"waited {clock.Elapsed}");
        Assert.Equal(2, h.Server.CallsOf("GetCallerIdentity"));
    }

    [Fact]
    public void BackOffIsJitteredCappedAndHonoursRetryAfter()
    {
        var policy = new AwsRetryPolicy(5, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(20));
        var waits = Enumerable.Range(0, 200).Select(_ => policy.Delay(3, null)).ToList();
        Assert.All(waits, w => Assert.InRange(w, TimeSpan.Zero, TimeSpan.FromSeconds(2)));
        Assert.True(waits.Distinct().Count() > 100, "the waits are spread out, not the same for every caller");
        Assert.All(Enumerable.Range(0, 50).Select(_ => policy.Delay(30, null)), w => Assert.True(w <= TimeSpan.FromSeconds(20)));
        Assert.Equal(TimeSpan.FromSeconds(3), policy.Delay(1, TimeSpan.FromSeconds(3)));
        Assert.Equal(TimeSpan.FromSeconds(20), policy.Delay(1, TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public async Task TheServiceRefusesWhatSageMakerRefusesInItsOwnWords()
    {
        await using var h = new AwsHarness();
        using var client = h.Client();
        var bad = TrainingJob("my_job");
        bad.Remove("RoleArn");
        var e = await Assert.ThrowsAsync<AwsException>(() => SageMakerTrainingJobs.CreateAsync(client, bad, CancellationToken.None));
        Assert.Equal("AwsValidationFailed", e.ErrorId);
        Assert.Equal("ValidationException", e.Code);
        Assert.Contains("2 validation errors detected", e.AwsMessage);
        Assert.Contains("Value null at 'roleArn' failed to satisfy constraint: Member must not be null", e.AwsMessage);
        Assert.Contains("Value 'my_job' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern", e.AwsMessage);

        await SageMakerTrainingJobs.CreateAsync(client, TrainingJob("job-1"), CancellationToken.None);
        var inUse = await Assert.ThrowsAsync<AwsException>(() => SageMakerTrainingJobs.CreateAsync(client, TrainingJob("job-1"), CancellationToken.None));
        Assert.Equal("AwsResourceInUse", inUse.ErrorId);
        Assert.Null(await SageMakerTrainingJobs.DescribeAsync(client, "no-such-job", CancellationToken.None));
        Assert.False(await SageMakerTrainingJobs.StopAsync(client, "no-such-job", CancellationToken.None));
    }

    [Fact]
    public async Task TheStandInChecksEnumsRangesAndMembersAsTheModelSays()
    {
        await using var h = new AwsHarness();
        using var client = h.Client();
        var request = TrainingJob("job-2");
        request["AlgorithmSpecification"]!["TrainingInputMode"] = "Streaming";
        request["ResourceConfig"]!["InstanceCount"] = -1;
        var e = await Assert.ThrowsAsync<AwsException>(() => SageMakerTrainingJobs.CreateAsync(client, request, CancellationToken.None));
        Assert.Contains("Value 'Streaming' at 'algorithmSpecification.trainingInputMode' failed to satisfy constraint: Member must satisfy enum value set: [Pipe, File, FastFile]", e.AwsMessage);
        Assert.Contains("Value '-1' at 'resourceConfig.instanceCount' failed to satisfy constraint: Member must have value greater than or equal to 0", e.AwsMessage);
        var unknown = TrainingJob("job-3");
        unknown["InstanceType"] = "ml.m5.xlarge";
        var u = await Assert.ThrowsAsync<AwsException>(() => SageMakerTrainingJobs.CreateAsync(client, unknown, CancellationToken.None));
        Assert.Equal("AwsValidationFailed", u.ErrorId);
        Assert.Contains("Unknown parameter in input: \"InstanceType\"", u.AwsMessage);
        Assert.Empty(h.Server.Jobs);
    }

    [Fact]
    public async Task TheServiceSpecificEndpointVariableWinsOverTheGlobalOne()
    {
        await using var h = new AwsHarness();
        h.Env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9/";
        h.Env["AWS_ENDPOINT_URL_SAGEMAKER"] = h.Server.Url.ToString();
        h.Env["AWS_ENDPOINT_URL_STS"] = h.Server.Url.ToString();
        using var client = h.Client();
        Assert.Equal(h.Server.Url, client.EndpointFor(AwsService.SageMaker));
        Assert.Equal(new Uri("http://127.0.0.1:9/"), client.EndpointFor(AwsService.Ecr));
        await SageMakerTrainingJobs.CreateAsync(client, TrainingJob("job-1"), CancellationToken.None);
        Assert.Equal("123456789012", (await AwsIdentity.GetAsync(client, CancellationToken.None)).Account);
    }

    [Theory]
    [InlineData("us-east-1", "https://api.sagemaker.us-east-1.amazonaws.com/")]
    [InlineData("cn-north-1", "https://api.sagemaker.cn-north-1.amazonaws.com.cn/")]
    public void WithoutConfiguredEndpointsTheRegionalEndpointOfTheRegionsPartitionIsUsed(string region, string expected)
    {
        var env = new Dictionary<string, string> { ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9/", ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true" };
        using var client = new AwsClient(region, AwsCredentialSource.Of("AKIDEXAMPLE", "secret"), TestAgents.EnvironmentOf(env));
        Assert.Equal(new Uri(expected), client.EndpointFor(AwsService.SageMaker));
        using var plain = new AwsClient(region, AwsCredentialSource.Of("AKIDEXAMPLE", "secret"), _ => null);
        Assert.Equal(new Uri(expected), plain.EndpointFor(AwsService.SageMaker));
    }

    [Fact]
    public void AnEndpointThatIsNoUrlIsRefusedNamingTheVariable()
    {
        var env = new Dictionary<string, string> { ["AWS_ENDPOINT_URL_ECR"] = "localhost:4566" };
        using var client = new AwsClient("us-east-1", AwsCredentialSource.Of("AKIDEXAMPLE", "secret"), TestAgents.EnvironmentOf(env));
        var e = Assert.Throws<LaunchException>(() => client.EndpointFor(AwsService.Ecr));
        Assert.Equal("InvalidAwsEndpoint", e.ErrorId);
        Assert.Contains("AWS_ENDPOINT_URL_ECR", e.Message);
    }

    [Fact]
    public async Task DiagnosticsNameRequestsAndRetriesButNoSecret()
    {
        await using var h = new AwsHarness();
        using var client = h.Client();
        var sink = new RecordingDiagnostics();
        using (EngineLog.Use(sink))
        {
            h.Server.Throttle("GetCallerIdentity", 1);
            await AwsIdentity.GetAsync(client, CancellationToken.None);
            h.Server.Expire(AwsHarness.AccessKey);
            await Assert.ThrowsAsync<AwsException>(() => AwsIdentity.GetAsync(client, CancellationToken.None));
        }
        Assert.Contains(sink.Lines, l => l.StartsWith("aws: STS GetCallerIdentity → 400", StringComparison.Ordinal));
        Assert.Contains(sink.Lines, l => l.Contains("ThrottlingException; attempt 2 of 4", StringComparison.Ordinal));
        AssertNoSecrets(sink.All);
    }

    [Fact]
    public async Task EcrLoginAndImageChecks()
    {
        await using var h = new AwsHarness();
        using var client = h.Client();
        h.Server.AddImage("launch", "train-1");
        var registry = new EcrRegistry(client, "123456789012");
        var credential = await registry.GetCredentialAsync(CancellationToken.None);
        Assert.Equal("AWS", credential.Username);
        Assert.Equal(h.Server.EcrPassword, credential.Password);
        Assert.DoesNotContain(h.Server.EcrPassword, credential.ToString());
        await registry.GetCredentialAsync(CancellationToken.None);
        Assert.Equal(1, h.Server.CallsOf("GetAuthorizationToken"));

        Assert.True(await registry.ImageExistsAsync("launch", "train-1", CancellationToken.None));
        Assert.False(await registry.ImageExistsAsync("launch", "train-2", CancellationToken.None));
        var missing = await Assert.ThrowsAsync<AwsException>(() => registry.ImageExistsAsync("nope", "train-1", CancellationToken.None));
        Assert.Equal("AwsResourceNotFound", missing.ErrorId);
        Assert.Equal("RepositoryNotFoundException", missing.Code);
    }

    [Theory]
    [InlineData("123456789012.dkr.ecr.us-east-1.amazonaws.com/launch", "123456789012", "us-east-1", "launch")]
    [InlineData("https://123456789012.dkr.ecr.eu-west-2.amazonaws.com/team/launch:tag", "123456789012", "eu-west-2", "team/launch")]
    [InlineData("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "123456789012", "cn-north-1", null)]
    public void EcrUrisAreKnownByTheirHost(string uri, string account, string region, string? repository)
    {
        Assert.Equal((account, region, repository), EcrRegistry.Parse(uri));
    }

    [Theory]
    [InlineData("registry.example.com/launch")]
    [InlineData("12345.dkr.ecr.us-east-1.amazonaws.com/launch")]
    [InlineData("us-docker.pkg.dev/project/repo/image")]
    public void OtherRegistriesAreNotEcr(string uri) => Assert.Null(EcrRegistry.Parse(uri));
}
