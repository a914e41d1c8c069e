using System.Text.Json.Nodes;

namespace WandbLaunch.Engine.Config;

/// <summary>W&amp;B's built-in agent defaults and where config files live.</summary>
public static class AgentConfigDefaults
{
    public const int MaxJobs = 1;
    public const int MaxSchedulers = 1;
    public const int StoppedRunTimeout = 60;

    /// <summary><c>~/.config/wandb/launch-config.yaml</c>.</summary>
    public static string Path() => System.IO.Path.Combine(FileSystem.UserHome.Directory(), ".config", "wandb", "launch-config.yaml");

    /// <summary><c>{max_jobs: 1, max_schedulers: 1, queues: [], registry: {}, builder: {}, verbosity: 0}</c></summary>
    public static JsonObject Document() => new()
    {
        ["max_jobs"] = MaxJobs,
        ["max_schedulers"] = MaxSchedulers,
        ["queues"] = new JsonArray(),
        ["registry"] = new JsonObject(),
        ["builder"] = new JsonObject(),
        ["verbosity"] = 0,
    };
}
