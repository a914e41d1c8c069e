using WandbLaunch.Engine.FileSystem;

namespace WandbLaunch.Engine.Storage;

/// <summary>Defaults shared by the backends and the agent.</summary>
public static class LaunchDefaults
{
    /// <summary>W&amp;B keeps launch queues in this project unless told otherwise.</summary>
    public const string Project = "model-registry";

    public const string DatabaseVariable = "WANDB_LAUNCH_DB";

    /// <summary><c>~/.config/wandb/launch/launch.db</c>, or <c>WANDB_LAUNCH_DB</c> when set.</summary>
    public static string DatabasePath()
    {
        var fromEnv = Environment.GetEnvironmentVariable(DatabaseVariable);
        if (!string.IsNullOrWhiteSpace(fromEnv)) return Path.GetFullPath(UserHome.Expand(fromEnv));
        return Path.Combine(UserHome.Directory(), ".config", "wandb", "launch", "launch.db");
    }

    /// <summary>The entity when none is given: <c>WANDB_ENTITY</c>, else the local user name.</summary>
    public static string Entity()
    {
        var fromEnv = Environment.GetEnvironmentVariable("WANDB_ENTITY");
        return string.IsNullOrWhiteSpace(fromEnv) ? Environment.UserName : fromEnv.Trim();
    }
}
