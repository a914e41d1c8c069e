using System.Text.Json.Nodes;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Cloud.Google;

/// <summary>
/// An error a Google API answered, in Google's shape <c>{"error": {"code", "status", "message"}}</c>: the HTTP
/// status, the canonical status name (INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED...) and the service's message.
/// </summary>
public sealed class GoogleApiException : LaunchException
{
    public GoogleApiException(string operation, int httpStatus, string status, string serviceMessage)
        : base("Google" + Pascal(status), CategoryOf(httpStatus), $"{operation} failed: {httpStatus} {status}: {serviceMessage}", operation)
    {
        HttpStatus = httpStatus;
        Status = status;
        ServiceMessage = serviceMessage;
    }

    public int HttpStatus { get; }

    /// <summary>The canonical status name, e.g. INVALID_ARGUMENT.</summary>
    public string Status { get; }

    /// <summary>The service's own message.</summary>
    public string ServiceMessage { get; }

    /// <summary>Overloaded or briefly unavailable: worth trying again after a while.</summary>
    public override bool IsTransient => IsRetryable(HttpStatus, Status);

    internal static bool IsRetryable(int httpStatus, string? status) =>
        httpStatus is 429 or 503 || status is "RESOURCE_EXHAUSTED" or "UNAVAILABLE";

    /// <summary>Reads Google's error body; a body of another shape keeps the HTTP reason as its message.</summary>
    internal static GoogleApiException From(string operation, int httpStatus, string? body)
    {
        string? status = null, message = null;
        try
        {
            if (!string.IsNullOrWhiteSpace(body) && JsonNode.Parse(body) is JsonObject root && root["error"] is JsonObject error)
            {
                status = error["status"] is JsonValue s && s.TryGetValue<string>(out var st) ? st : null;
                message = error["message"] is JsonValue m && m.TryGetValue<string>(out var mt) ? mt : null;
            }
        }
        catch (System.Text.Json.JsonException)
        {
        }
        status ??= DefaultStatus(httpStatus);
        message ??= string.IsNullOrWhiteSpace(body) ? "(no message)" : Text.Printable.Escape(body.Length > 300 ? body[..300] + "..." : body);
        return new GoogleApiException(operation, httpStatus, status, message);
    }

    /// <summary>The canonical status Google's HTTP mapping gives a bare HTTP status.</summary>
    private static string DefaultStatus(int httpStatus) => httpStatus switch
    {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    };

    private static LaunchErrorCategory CategoryOf(int httpStatus) => httpStatus switch
    {
        400 => LaunchErrorCategory.InvalidArgument,
        401 or 403 => LaunchErrorCategory.PermissionDenied,
        404 => LaunchErrorCategory.ObjectNotFound,
        409 => LaunchErrorCategory.ResourceExists,
        504 => LaunchErrorCategory.OperationTimeout,
        _ => LaunchErrorCategory.ResourceUnavailable,
    };

    private static string Pascal(string status) =>
        string.Concat(status.ToLowerInvariant().Split('_', StringSplitOptions.RemoveEmptyEntries).Select(w => char.ToUpperInvariant(w[0]) + w[1..]));
}
