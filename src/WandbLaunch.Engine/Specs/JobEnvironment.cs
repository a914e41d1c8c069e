using WandbLaunch.Engine.Secrets;

namespace WandbLaunch.Engine.Specs;

/// <summary>
/// The environment W&amp;B gives every job (<c>_project_spec.py</c> <c>get_env_vars_dict</c>). As in W&amp;B, only the two
/// JSON documents a user can make long, WANDB_CONFIG and WANDB_LAUNCH_FILE_OVERRIDES, are split into NAME_0 … NAME_N
/// when longer than the target allows; every other value is passed whole.
/// </summary>
public static class JobEnvironment
{
    /// <summary>Longest value passed whole on most targets.</summary>
    public const int DefaultMaxValueLength = 32_670;

    /// <summary>Longest value SageMaker accepts.</summary>
    public const int SageMakerMaxValueLength = 512;

    public const string ApiKeyVariable = SecretRedactor.ApiKeyVariable;

    public const string BaseUrlVariable = "WANDB_BASE_URL";

    public const string RunIdVariable = "WANDB_RUN_ID";

    /// <summary>The run config (split into WANDB_CONFIG_0 … when long).</summary>
    public const string ConfigVariable = "WANDB_CONFIG";

    /// <summary>The W&amp;B server a job reaches when the agent names none.</summary>
    public const string DefaultBaseUrl = "https://api.wandb.ai";

    public sealed record Inputs(
        LaunchSpec Spec,
        string RunId,
        string ItemId,
        string QueueName,
        string QueueEntity,
        string? ImageUri,
        bool Resumed,
        string? BaseUrl,
        string? ApiKey);

    public static IReadOnlyDictionary<string, string> Build(Inputs inputs, int maxValueLength = DefaultMaxValueLength)
    {
        var spec = inputs.Spec;
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        void Set(string name, string? value)
        {
            if (value is not null) env[name] = value;
        }
        void SetSplit(string name, string value)
        {
            if (value.Length <= maxValueLength)
            {
                env[name] = value;
                return;
            }
            for (int i = 0, part = 0; i < value.Length; part++)
            {
                var length = Math.Min(maxValueLength, value.Length - i);
                // Never end a part with half of a surrogate pair: each half alone would reach the job as U+FFFD.
                if (length > 1 && i + length < value.Length && char.IsHighSurrogate(value[i + length - 1])) length--;
                env[$"{name}_{part}"] = value.Substring(i, length);
                i += length;
            }
        }

        // As W&B's get_env_vars_dict: a spec's own key (_wandb_api_key) wins, and then the author is not claimed.
        Set(BaseUrlVariable, inputs.BaseUrl ?? DefaultBaseUrl);
        Set(ApiKeyVariable, spec.ApiKey ?? inputs.ApiKey);
        Set("WANDB_PROJECT", spec.TargetProject is { Length: > 0 } project ? project : null);
        Set("WANDB_ENTITY", spec.Entity ?? inputs.QueueEntity);
        Set("WANDB_LAUNCH", "True");
        Set(RunIdVariable, inputs.RunId);
        Set("WANDB_DOCKER", inputs.ImageUri);
        Set("WANDB_NAME", spec.Name);
        if (spec.ApiKey is null) Set("WANDB_USERNAME", spec.Author);
        Set("WANDB_SWEEP_ID", spec.SweepId);
        if (inputs.Resumed) Set("WANDB_RESUME", "allow");
        Set("WANDB_LAUNCH_QUEUE_NAME", inputs.QueueName);
        Set("WANDB_LAUNCH_QUEUE_ENTITY", inputs.QueueEntity);
        Set("WANDB_LAUNCH_TRACE_ID", inputs.ItemId);
        SetSplit(ConfigVariable, spec.Overrides.RunConfig?.ToJsonString() ?? "{}");
        SetSplit("WANDB_LAUNCH_FILE_OVERRIDES", spec.Overrides.Files?.ToJsonString() ?? "{}");
        // The job artifact the run uses ("_wandb_job"), then the spec's artifact overrides.
        var artifacts = new System.Text.Json.Nodes.JsonObject();
        if (spec.JobArtifactName is { } job) artifacts["_wandb_job"] = job;
        if (spec.Overrides.Artifacts is System.Text.Json.Nodes.JsonObject overrides)
        {
            foreach (var (name, value) in overrides) artifacts[name] = value?.DeepClone();
        }
        Set("WANDB_ARTIFACTS", artifacts.ToJsonString());
        return env;
    }
}
