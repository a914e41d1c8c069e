using System.Management.Automation;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Infrastructure;

/// <summary>Turns engine errors into PowerShell ErrorRecords with the engine's error id and the offending target.</summary>
internal static class LaunchErrors
{
    public static ErrorRecord ToRecord(LaunchException e)
    {
        var record = new ErrorRecord(e, e.ErrorId, Map(e.Category), e.Target);
        if (e.RecommendedAction is { } action)
        {
            record.ErrorDetails = new ErrorDetails(e.Message) { RecommendedAction = action };
        }
        return record;
    }

    public static ErrorRecord Create(string errorId, ErrorCategory category, string message, object? target) =>
        new(new LaunchException(errorId, LaunchErrorCategory.InvalidArgument, message, target), errorId, category, target);

    private static ErrorCategory Map(LaunchErrorCategory category) => category switch
    {
        LaunchErrorCategory.InvalidArgument => ErrorCategory.InvalidArgument,
        LaunchErrorCategory.InvalidData => ErrorCategory.InvalidData,
        LaunchErrorCategory.ObjectNotFound => ErrorCategory.ObjectNotFound,
        LaunchErrorCategory.ResourceExists => ErrorCategory.ResourceExists,
        LaunchErrorCategory.InvalidOperation => ErrorCategory.InvalidOperation,
        LaunchErrorCategory.ResourceUnavailable => ErrorCategory.ResourceUnavailable,
        LaunchErrorCategory.PermissionDenied => ErrorCategory.PermissionDenied,
        LaunchErrorCategory.OperationStopped => ErrorCategory.OperationStopped,
        LaunchErrorCategory.NotImplemented => ErrorCategory.NotImplemented,
        LaunchErrorCategory.ReadError => ErrorCategory.ReadError,
        LaunchErrorCategory.WriteError => ErrorCategory.WriteError,
        LaunchErrorCategory.OperationTimeout => ErrorCategory.OperationTimeout,
        _ => ErrorCategory.NotSpecified,
    };
}
