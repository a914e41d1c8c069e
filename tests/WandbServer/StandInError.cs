using GraphQL;

namespace WandbLaunch.Tests.WandbServer;

/// <summary>
/// An error a resolver answers with: it becomes an entry of "errors" (with the field's path) and its data field
/// null; the HTTP status of the whole answer is the highest status among the errors (W&B answers 200 for errors
/// without one).
/// </summary>
internal sealed class StandInError(int status, string message) : ExecutionError(message)
{
    public int Status { get; } = status;

    public static StandInError PermissionDenied() => new(403, "permission denied");
    public static StandInError NotFound(string what) => new(404, $"{what} not found");
    public static StandInError Conflict(string what) => new(409, what);
    public static StandInError Invalid(string what) => new(400, what);
}
