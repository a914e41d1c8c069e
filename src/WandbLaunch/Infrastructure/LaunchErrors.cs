using System.Management.Automation;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Infrastructure;

/// <summary>Turns engine errors into PowerShell ErrorRecords with the engine's error id and the offending target.</summary>
internal static class LaunchErrors
{
    public static ErrorRecord ToRecord(LaunchException e)
    {
        var record = new ErrorRecord(e, e.ErrorId, Map(e.Category), e.Target);
        if (e.RecommendedAction is not null || !Printable.IsPrintable(e.Message))
        {
            record.ErrorDetails = Details(e.Message, e.RecommendedAction);
        }
        return record;
    }

    public static ErrorRecord Create(string errorId, ErrorCategory category, string message, object? target)
    {
        var record = new ErrorRecord(new LaunchException(errorId, LaunchErrorCategory.InvalidArgument, message, target), errorId, category, target);
        if (!Printable.IsPrintable(message)) record.ErrorDetails = Details(message, null);
        return record;
    }

    /// <summary>
    /// What the console shows: a value that reached a message unescaped cannot rewrite the terminal (ESC and other
    /// controls are escaped; the line breaks of multi-line messages are kept).
    /// </summary>
    private static ErrorDetails Details(string message, string? action) =>
        new(Printable.EscapeControls(message, keepTab: true, keepNewlines: true)) { RecommendedAction = action is null ? null : Printable.EscapeControls(action, keepTab: true, keepNewlines: true) };

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
