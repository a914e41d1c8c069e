namespace WandbLaunch.Engine.Jobs;

/// <summary>A job could not be run; <see cref="Stage"/> says where (agent, build, run), as W&amp;B records it.</summary>
public sealed class JobFailedException(string stage, string message, Exception? inner = null) : Exception(message, inner)
{
    public string Stage { get; } = stage;
}
