using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Storage.Wandb;

/// <summary>The server refused the API key (401) or the key may not do this (403). Never carries the key.</summary>
public sealed class WandbAuthException(string operation, int status, string message)
    : LaunchException("WandbAuthFailed", LaunchErrorCategory.PermissionDenied, message, operation)
{
    public string Operation { get; } = operation;

    public int Status { get; } = status;
}

/// <summary>
/// The server answered the operation with an error: an HTTP error status, GraphQL errors in a 200 answer (status 200),
/// or a body that is not W&amp;B's JSON. The message is the server's, with secrets masked.
/// </summary>
public sealed class WandbServerException(string operation, int status, string message)
    : LaunchException(IdFor(status), CategoryFor(status), message, operation)
{
    public string Operation { get; } = operation;

    /// <summary>The HTTP status; 200 for GraphQL errors and malformed answers.</summary>
    public int Status { get; } = status;

    /// <summary>429 and 5xx pass (an overloaded or restarting server); any other answer would be the same next time.</summary>
    public override bool IsTransient => Status is 429 or >= 500;

    private static string IdFor(int status) => status switch
    {
        404 => "WandbNotFound",
        409 => "WandbConflict",
        _ => "WandbServerError",
    };

    private static LaunchErrorCategory CategoryFor(int status) => status switch
    {
        404 => LaunchErrorCategory.ObjectNotFound,
        409 => LaunchErrorCategory.ResourceExists,
        400 => LaunchErrorCategory.InvalidArgument,
        _ => LaunchErrorCategory.InvalidOperation,
    };
}

/// <summary>The server could not be reached, or kept failing (network errors, timeouts, 429/5xx) for the whole retry budget.</summary>
public sealed class WandbUnreachableException(string url, string message, Exception? inner = null)
    : LaunchException("WandbUnreachable", LaunchErrorCategory.ResourceUnavailable, message, url, inner)
{
    public string Url { get; } = url;

    public override bool IsTransient => true;
}
