using System.Net;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Cloud.Aws;

/// <summary>
/// An AWS service refused a request, or could not be reached. <see cref="Code"/> is the service's error code
/// (<c>ValidationException</c>, <c>ResourceInUse</c>, <c>ThrottlingException</c>...), <see cref="AwsMessage"/> its
/// message; the error id says what kind of failure it is so that scripts can match it.
/// </summary>
public sealed class AwsException : LaunchException
{
    /// <summary>Codes that mean "slow down": retried with back-off.</summary>
    internal static readonly IReadOnlySet<string> ThrottlingCodes = new HashSet<string>(StringComparer.Ordinal)
    {
        "ThrottlingException", "Throttling", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
        "ProvisionedThroughputExceededException", "RequestLimitExceeded", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
        "TransactionInProgressException", "EC2ThrottledException", "LimitExceededException",
    };

    /// <summary>Codes that mean the credentials are wrong or no longer valid.</summary>
    internal static readonly IReadOnlySet<string> CredentialCodes = new HashSet<string>(StringComparer.Ordinal)
    {
        "ExpiredTokenException", "ExpiredToken", "RequestExpired", "UnrecognizedClientException", "InvalidClientTokenId",
        "InvalidSignatureException", "SignatureDoesNotMatch", "IncompleteSignature", "MissingAuthenticationTokenException",
        "MissingAuthenticationToken", "InvalidAccessKeyId", "AuthFailure",
    };

    public AwsException(string errorId, LaunchErrorCategory category, string message, AwsService service, string operation, string? code, string? awsMessage,
        HttpStatusCode? status, string? requestId, Exception? inner = null)
        : base(errorId, category, message, $"{service}.{operation}", inner)
    {
        Service = service;
        Operation = operation;
        Code = code;
        AwsMessage = awsMessage;
        Status = status;
        RequestId = requestId;
    }

    public AwsService Service { get; }

    public string Operation { get; }

    /// <summary>The service's error code; null when no answer arrived.</summary>
    public string? Code { get; }

    public string? AwsMessage { get; }

    public HttpStatusCode? Status { get; }

    public string? RequestId { get; }

    public bool IsThrottling => Code is not null && ThrottlingCodes.Contains(Code) || Status == HttpStatusCode.TooManyRequests;

    /// <summary>Throttling, a 5xx or no answer at all: waiting may cure it.</summary>
    public override bool IsTransient => IsThrottling || Status is null || (int)Status >= 500;

    /// <summary>The error as a user sees it: what was asked, what AWS answered, and what to do about it.</summary>
    internal static AwsException FromAnswer(AwsService service, string operation, HttpStatusCode status, string? code, string? message, string? requestId, string identity)
    {
        var answered = $"AWS {service} {operation} failed: {(int)status} {code ?? "(no error code)"}{(string.IsNullOrEmpty(message) ? "" : ": " + message.TrimEnd('.'))}.";
        var (id, category, advice) = code switch
        {
            "ExpiredTokenException" or "ExpiredToken" or "RequestExpired" => ("AwsCredentialsExpired", LaunchErrorCategory.PermissionDenied,
                $" The session token of {identity} has expired: renew the credentials (aws sso login, a new AWS_SESSION_TOKEN, or the role's source) and start the agent again."),
            "UnrecognizedClientException" or "InvalidClientTokenId" or "InvalidAccessKeyId" or "MissingAuthenticationTokenException" or "MissingAuthenticationToken" or "AuthFailure" =>
                ("AwsCredentialsRejected", LaunchErrorCategory.PermissionDenied,
                $" AWS does not know the access key of {identity}: fix AWS_ACCESS_KEY_ID (and AWS_SESSION_TOKEN, which must belong to it) or the profile the agent uses."),
            "InvalidSignatureException" or "SignatureDoesNotMatch" or "IncompleteSignature" => ("AwsCredentialsRejected", LaunchErrorCategory.PermissionDenied,
                $" The request was signed with {identity}, and AWS computes another signature with the secret it has for that key: the secret access key is wrong (or the clock is off). Fix AWS_SECRET_ACCESS_KEY or the profile."),
            "AccessDeniedException" or "AccessDenied" => ("AwsAccessDenied", LaunchErrorCategory.PermissionDenied,
                $" Allow {identity} this action in its IAM policy."),
            "ValidationException" => ("AwsValidationFailed", LaunchErrorCategory.InvalidArgument, ""),
            "ResourceInUse" or "ResourceInUseException" => ("AwsResourceInUse", LaunchErrorCategory.ResourceExists, ""),
            "ResourceNotFound" or "ResourceNotFoundException" or "RepositoryNotFoundException" or "ImageNotFoundException" =>
                ("AwsResourceNotFound", LaunchErrorCategory.ObjectNotFound, ""),
            "ResourceLimitExceeded" => ("AwsResourceLimitExceeded", LaunchErrorCategory.ResourceUnavailable, " Ask AWS for a higher quota or wait for other jobs to end."),
            _ when code is not null && ThrottlingCodes.Contains(code) || status == HttpStatusCode.TooManyRequests =>
                ("AwsThrottled", LaunchErrorCategory.ResourceUnavailable, " AWS kept throttling the requests; fewer agents or jobs per account and region call it less often."),
            _ when (int)status >= 500 => ("AwsServiceUnavailable", LaunchErrorCategory.ResourceUnavailable, ""),
            _ => ("AwsRequestFailed", LaunchErrorCategory.InvalidOperation, ""),
        };
        return new AwsException(id, category, answered + advice, service, operation, code, message, status, requestId);
    }

    internal static AwsException Unreachable(AwsService service, string operation, Uri endpoint, Exception inner) =>
        new("AwsUnreachable", LaunchErrorCategory.ResourceUnavailable,
            $"AWS {service} {operation} could not reach {endpoint}: {inner.Message}", service, operation, null, null, null, null, inner);
}
