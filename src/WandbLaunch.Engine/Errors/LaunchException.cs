namespace WandbLaunch.Engine.Errors;

/// <summary>
/// A failure the user can act on. <see cref="ErrorId"/> is a stable PascalCase identifier that scripts and tests
/// match on; the message says what was wrong, with the offending value, and what is allowed.
/// </summary>
public class LaunchException : Exception
{
    public LaunchException(string errorId, LaunchErrorCategory category, string message, object? target = null, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Category = category;
        Target = target;
    }

    public string ErrorId { get; }

    public LaunchErrorCategory Category { get; }

    /// <summary>The offending value or object (a queue name, a file path, a key).</summary>
    public object? Target { get; }

    /// <summary>
    /// Whether waiting may cure it (a busy store, a server that is down or overloaded): the agent backs off and tries
    /// again instead of stopping. False unless a subclass says otherwise.
    /// </summary>
    public virtual bool IsTransient => false;

    /// <summary>Optional advice the cmdlets show as the error's recommended action.</summary>
    public string? RecommendedAction { get; init; }

    public static LaunchException Invalid(string errorId, string message, object? target = null) =>
        new(errorId, LaunchErrorCategory.InvalidArgument, message, target);

    public static LaunchException InvalidData(string errorId, string message, object? target = null) =>
        new(errorId, LaunchErrorCategory.InvalidData, message, target);

    public static LaunchException NotFound(string errorId, string message, object? target = null) =>
        new(errorId, LaunchErrorCategory.ObjectNotFound, message, target);
}
