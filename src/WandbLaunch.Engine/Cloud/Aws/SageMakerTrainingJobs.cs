using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Cloud.Aws;

/// <summary>What DescribeTrainingJob says of a training job (the members the agent reads).</summary>
public sealed record TrainingJobStatus(string Name, string Arn, string Status, string? SecondaryStatus, string? FailureReason)
{
    /// <summary>The job's environment as SageMaker keeps it (W&amp;B's variables name the launch job that created it).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>The instances the job runs on (ResourceConfig's InstanceCount, or the sum over its InstanceGroups); 0 when SageMaker does not say.</summary>
    public int InstanceCount { get; init; }
}

/// <summary>
/// SageMaker's training-job operations (CreateTrainingJob, DescribeTrainingJob, StopTrainingJob) and the rules of a
/// CreateTrainingJob request that the agent and Submit check before anything is sent or queued.
/// </summary>
public static partial class SageMakerTrainingJobs
{
    /// <summary>CreateTrainingJobRequest's members, as botocore 1.43's sagemaker 2017-07-24 model lists them.</summary>
    public static readonly IReadOnlySet<string> RequestMembers = new HashSet<string>(StringComparer.Ordinal)
    {
        "AlgorithmSpecification", "CheckpointConfig", "DebugHookConfig", "DebugRuleConfigurations", "EnableInterContainerTrafficEncryption",
        "EnableManagedSpotTraining", "EnableNetworkIsolation", "Environment", "ExperimentConfig", "HyperParameters", "InfraCheckConfig",
        "InputDataConfig", "MlflowConfig", "ModelPackageConfig", "OutputDataConfig", "ProfilerConfig", "ProfilerRuleConfigurations",
        "RemoteDebugConfig", "ResourceConfig", "RetryStrategy", "RoleArn", "ServerlessJobConfig", "SessionChainingConfig", "StoppingCondition",
        "Tags", "TensorBoardOutputConfig", "TrainingJobName", "VpcConfig",
    };

    /// <summary>Keys W&amp;B reads from <c>resource_args.sagemaker</c> for itself and drops from the request.</summary>
    public static readonly IReadOnlySet<string> DroppedKeys = new HashSet<string>(StringComparer.Ordinal) { "EcrRepoName", "region", "profile" };

    /// <summary>SageMaker's TrainingJobName: 1-63 letters, digits and hyphens, starting and ending with a letter or digit.</summary>
    [GeneratedRegex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
    public static partial Regex TrainingJobNamePattern();

    /// <summary>
    /// W&amp;B's <c>to_camel_case</c> for top-level keys: a key with an underscore becomes its parts title-cased
    /// (Python's <c>str.title</c>) and joined (<c>resource_config</c> → <c>ResourceConfig</c>); others are kept.
    /// </summary>
    public static string ToCamelCase(string key)
    {
        if (!key.Contains('_')) return key;
        var builder = new StringBuilder();
        foreach (var part in key.Split('_'))
        {
            if (part.Length == 0)
            {
                builder.Append('_');
                continue;
            }
            var previousCased = false;
            foreach (var c in part)
            {
                builder.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
                previousCased = char.IsLetter(c);
            }
        }
        return builder.ToString();
    }

    /// <summary>
    /// Refuses <c>resource_args.sagemaker</c> that W&amp;B's runner or SageMaker would refuse, before anything is queued
    /// or sent: a top-level key that is no member of CreateTrainingJob (after W&amp;B's camel-casing; W&amp;B's own
    /// keys EcrRepoName, region and profile are allowed), no string RoleArn, no OutputDataConfig (W&amp;B reads it under
    /// that name only), no ResourceConfig or StoppingCondition, or a TrainingJobName SageMaker does not allow.
    /// Values with unexpanded macros (<c>${run_id}</c>) are checked once they are expanded, by the runner.
    /// </summary>
    public static void CheckResourceArgs(JsonObject args, string where = "resource_args.sagemaker")
    {
        foreach (var (key, _) in args)
        {
            var member = ToCamelCase(key);
            if (!RequestMembers.Contains(member) && !DroppedKeys.Contains(member))
            {
                throw Invalid("UnknownSageMakerMember",
                    $"{where} has {Printable.Quote(key)}{(member == key ? "" : $" (sent as {member})")}, which is not a member of SageMaker's CreateTrainingJob request; " +
                    $"SageMaker would refuse it. Allowed: {string.Join(", ", RequestMembers.Order(StringComparer.Ordinal))} (snake_case spellings too), and W&B's EcrRepoName, region, profile.", key);
            }
        }
        var role = args["RoleArn"] ?? args["role_arn"];
        if (role is not JsonValue roleValue || !roleValue.TryGetValue<string>(out var roleText) || roleText.Length == 0)
        {
            throw Invalid("MissingSageMakerRoleArn",
                $"{where} has no RoleArn{(role is null ? "" : $" that is a string (it is {role.ToJsonString()})")}: SageMaker runs training jobs as an IAM role. " +
                "Set RoleArn to the role's ARN (arn:aws:iam::<account>:role/<name>) or its name, which the agent completes with the account it runs as.");
        }
        if (args["OutputDataConfig"] is null)
        {
            throw Invalid("MissingSageMakerOutputDataConfig",
                $"{where} has no OutputDataConfig (W&B reads it under that exact name): SageMaker needs to know where to write the model, e.g. " +
                "OutputDataConfig: {S3OutputPath: s3://<bucket>/<prefix>}.");
        }
        foreach (var (member, snake, example) in new[]
                 {
                     ("ResourceConfig", "resource_config", "ResourceConfig: {InstanceType: ml.m5.xlarge, InstanceCount: 1, VolumeSizeInGB: 30}"),
                     ("StoppingCondition", "stopping_condition", "StoppingCondition: {MaxRuntimeInSeconds: 3600}"),
                 })
        {
            if (args[member] is null && args[snake] is null)
            {
                throw Invalid($"MissingSageMaker{member}", $"{where} has no {member}, which SageMaker requires, e.g. {example}.");
            }
        }
        // W&B uses the run id for an empty name (`TrainingJobName or run_id`).
        if (args["TrainingJobName"] is { } given && !(given is JsonValue v && v.TryGetValue<string>(out var name) && (name.Length == 0 || name.Contains("${", StringComparison.Ordinal))))
        {
            CheckTrainingJobName(given, where);
        }
    }

    /// <summary>A TrainingJobName SageMaker accepts; anything else is <c>InvalidTrainingJobName</c>.</summary>
    public static string CheckTrainingJobName(JsonNode? given, string where)
    {
        if (given is JsonValue value && value.TryGetValue<string>(out var name) && TrainingJobNamePattern().IsMatch(name)) return name;
        var shown = given is JsonValue v && v.TryGetValue<string>(out var text) ? Printable.Quote(text) : given?.ToJsonString() ?? "null";
        throw Invalid("InvalidTrainingJobName",
            $"{where}.TrainingJobName is {shown}; SageMaker allows 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit " +
            "(pattern ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$). Leave it out to use the run id.", shown);
    }

    private static LaunchException Invalid(string id, string message, object? target = null) => LaunchException.Invalid(id, message, target);

    public static async Task<string> CreateAsync(AwsClient client, JsonObject request, CancellationToken cancellationToken)
    {
        var answer = await client.CallJsonAsync(AwsService.SageMaker, "CreateTrainingJob", request, cancellationToken).ConfigureAwait(false);
        return answer["TrainingJobArn"] is JsonValue arn && arn.TryGetValue<string>(out var text)
            ? text
            : throw new AwsException("AwsMalformedAnswer", LaunchErrorCategory.InvalidData,
                "Failed to create training job when submitting to SageMaker: CreateTrainingJob answered without a TrainingJobArn.",
                AwsService.SageMaker, "CreateTrainingJob", null, null, System.Net.HttpStatusCode.OK, null);
    }

    /// <summary>The job's status; null when SageMaker does not know it (it answers ValidationException "Requested resource not found.").</summary>
    public static async Task<TrainingJobStatus?> DescribeAsync(AwsClient client, string name, CancellationToken cancellationToken)
    {
        JsonObject answer;
        try
        {
            answer = await client.CallJsonAsync(AwsService.SageMaker, "DescribeTrainingJob", new JsonObject { ["TrainingJobName"] = name }, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsException e) when (IsNotFound(e))
        {
            return null;
        }
        static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        return new TrainingJobStatus(Text(answer["TrainingJobName"]) ?? name, Text(answer["TrainingJobArn"]) ?? "", Text(answer["TrainingJobStatus"]) ?? "",
            Text(answer["SecondaryStatus"]), Text(answer["FailureReason"]))
        {
            Environment = (answer["Environment"] as JsonObject ?? []).Where(p => Text(p.Value) is not null).ToDictionary(p => p.Key, p => Text(p.Value)!, StringComparer.Ordinal),
            InstanceCount = InstancesOf(answer["ResourceConfig"] as JsonObject),
        };
    }

    private static int InstancesOf(JsonObject? resources)
    {
        static int Count(JsonNode? node) => node is JsonValue v && v.TryGetValue<int>(out var n) && n > 0 ? n : 0;
        if (resources is null) return 0;
        return resources["InstanceGroups"] is JsonArray { Count: > 0 } groups ? groups.Sum(g => Count(g?["InstanceCount"])) : Count(resources["InstanceCount"]);
    }

    /// <summary>Asks SageMaker to stop the job; false when it does not know it.</summary>
    public static async Task<bool> StopAsync(AwsClient client, string name, CancellationToken cancellationToken)
    {
        try
        {
            await client.CallJsonAsync(AwsService.SageMaker, "StopTrainingJob", new JsonObject { ["TrainingJobName"] = name }, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (AwsException e) when (IsNotFound(e))
        {
            return false;
        }
    }

    private static bool IsNotFound(AwsException e) =>
        e.Code is "ResourceNotFound" or "ResourceNotFoundException" ||
        e.Code == "ValidationException" && e.AwsMessage?.Contains("not found", StringComparison.OrdinalIgnoreCase) == true;
}
