using System.Text.Json;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Cloud.Aws;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Secrets;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Identifiers;

namespace WandbLaunch.Engine.Runners.SageMaker;

/// <summary>
/// The CreateTrainingJob request W&amp;B's SageMaker runner sends for a job (<c>build_sagemaker_args</c>):
/// <c>resource_args.sagemaker</c> after macros with its top-level keys camel-cased, W&amp;B's members laid over it
/// (OutputDataConfig, TrainingJobName = the run id unless given, AlgorithmSpecification with the image, entry point
/// and arguments, RoleArn completed with the account and partition), the job's environment under the user's
/// Environment, a WandbRunId tag, and W&amp;B's own keys and null values left out.
/// </summary>
public static class SageMakerRequest
{
    /// <summary>SageMaker's limit on a training job's environment (TrainingEnvironmentMap, max 100).</summary>
    public const int MaxEnvironmentVariables = 100;

    /// <summary>The account and partition a role name is completed with.</summary>
    public sealed record Account(string Id, string Partition);

    /// <summary>Shown in previews, which contact nothing, where the agent puts the account it runs as.</summary>
    public static readonly Account Placeholder = new("<account>", "aws");

    /// <summary>The request for <paramref name="context"/>; throws <see cref="JobFailedException"/> (stage run) when SageMaker could not take it.</summary>
    public static JsonObject Build(JobContext context, Account account)
    {
        var given = (JsonObject)context.ResourceArgs.DeepClone();
        try
        {
            SageMakerTrainingJobs.CheckResourceArgs(given);
        }
        catch (Errors.LaunchException e)
        {
            throw new JobFailedException(FailureStage.Run, e.Message, e);
        }
        var request = new JsonObject();
        foreach (var (key, value) in given) request[SageMakerTrainingJobs.ToCamelCase(key)] = value?.DeepClone();

        request["OutputDataConfig"] = given["OutputDataConfig"]!.DeepClone();
        var name = Truthy(given["TrainingJobName"]) ? given["TrainingJobName"]!.DeepClone() : JsonValue.Create(RunNames.Of(context.Job.RunId));
        try
        {
            request["TrainingJobName"] = SageMakerTrainingJobs.CheckTrainingJobName(name, "resource_args.sagemaker");
        }
        catch (Errors.LaunchException e)
        {
            throw new JobFailedException(FailureStage.Run, e.Message, e);
        }
        request["AlgorithmSpecification"] = AlgorithmSpecification(context, given);
        request["RoleArn"] = RoleArn(given, account);

        var environment = new JsonObject();
        foreach (var (variable, value) in context.Environment) environment[variable] = value;
        if ((given["Environment"] ?? given["environment"]) is JsonObject userEnvironment)
        {
            foreach (var (variable, value) in userEnvironment) environment[variable] = value?.DeepClone();
        }
        if (environment.Count > MaxEnvironmentVariables)
        {
            var configParts = environment.Count(p => p.Key.StartsWith("WANDB_CONFIG", StringComparison.Ordinal));
            throw new JobFailedException(FailureStage.Run,
                $"The training job would get {environment.Count} environment variables ({configParts} of them WANDB_CONFIG in parts of {JobEnvironment.SageMakerMaxValueLength} characters); " +
                $"SageMaker takes at most {MaxEnvironmentVariables}. Make the run config smaller (pass data as files or artifacts) or set fewer variables in Environment.");
        }
        request["Environment"] = environment;

        var tags = request["Tags"] as JsonArray ?? new JsonArray();
        tags.Add(new JsonObject { ["Key"] = "WandbRunId", ["Value"] = context.Job.RunId });
        request["Tags"] = tags;

        foreach (var key in SageMakerTrainingJobs.DroppedKeys) request.Remove(key);
        foreach (var key in request.Where(p => p.Value is null).Select(p => p.Key).ToList()) request.Remove(key);
        return request;
    }

    /// <summary>
    /// W&amp;B's <c>merge_image_uri_with_algorithm_specification</c>: a given TrainingImage is used as it is (the job then
    /// runs in the user's image with only an override entry point); otherwise the job's image, in File input mode
    /// when no specification is given. The entry point and arguments are the container's.
    /// </summary>
    private static JsonObject AlgorithmSpecification(JobContext context, JsonObject given)
    {
        var specification = (given["AlgorithmSpecification"] ?? given["algorithm_specification"])?.DeepClone() as JsonObject;
        var userImage = specification?["TrainingImage"] is JsonValue v && v.TryGetValue<string>(out var image) ? image : null;
        var overrides = context.Spec.Overrides;
        var imageUri = userImage ?? context.ImageUri;
        if (specification is null) specification = new JsonObject { ["TrainingImage"] = imageUri, ["TrainingInputMode"] = "File" };
        else if (imageUri is not null) specification["TrainingImage"] = imageUri;
        if (overrides.EntryPoint is { Count: > 0 } entryPoint) specification["ContainerEntrypoint"] = new JsonArray(entryPoint.Select(a => (JsonNode?)a).ToArray());
        if (overrides.Args is { Count: > 0 } args) specification["ContainerArguments"] = new JsonArray(args.Select(a => (JsonNode?)a).ToArray());
        if (specification["TrainingImage"] is null) throw new JobFailedException(FailureStage.Run, "Failed determine tag for training image: the job has no image and AlgorithmSpecification.TrainingImage is not set.");
        return specification;
    }

    /// <summary>W&amp;B's <c>get_role_arn</c>: an ARN in the caller's partition as it is, anything else a role name in the caller's account.</summary>
    private static string RoleArn(JsonObject given, Account account)
    {
        var role = ((given["RoleArn"] ?? given["role_arn"]) as JsonValue)!.GetValue<string>();
        return role.StartsWith($"arn:{account.Partition}:iam::", StringComparison.Ordinal) ? role : $"arn:{account.Partition}:iam::{account.Id}:role/{role}";
    }

    /// <summary>Python's truthiness for a JSON value (W&amp;B's <c>x or default</c>).</summary>
    private static bool Truthy(JsonNode? node) => node switch
    {
        null => false,
        JsonValue v when v.TryGetValue<string>(out var s) => s.Length > 0,
        JsonValue v when v.TryGetValue<bool>(out var b) => b,
        JsonValue v when v.TryGetValue<double>(out var d) => d != 0,
        JsonObject o => o.Count > 0,
        JsonArray a => a.Count > 0,
        _ => true,
    };

    /// <summary>The request as a preview shows it: indented JSON, the API key and every other secret value as ***.</summary>
    public static string Show(JsonObject request, IReadOnlyList<string> secrets)
    {
        var shown = (JsonObject)request.DeepClone();
        if (shown["Environment"] is JsonObject environment)
        {
            foreach (var variable in environment.Select(p => p.Key).Where(k => SecretRedactor.SecretVariables.Contains(k)).ToList()) environment[variable] = SecretRedactor.Mask;
        }
        return SecretRedactor.Of(secrets).Redact(shown.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping })) + "\n";
    }
}
