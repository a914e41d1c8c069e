namespace WandbLaunch.Engine.Errors;

/// <summary>What kind of failure an engine error is; the cmdlets map it onto PowerShell's ErrorCategory.</summary>
public enum LaunchErrorCategory
{
    InvalidArgument,
    InvalidData,
    ObjectNotFound,
    ResourceExists,
    InvalidOperation,
    ResourceUnavailable,
    PermissionDenied,
    OperationStopped,
    NotImplemented,
    ReadError,
    WriteError,
    OperationTimeout,
}
